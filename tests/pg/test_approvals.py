"""Approvals on PostgreSQL: every scenario of the SQLite suite, and stores racing from threads."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy import Engine

from governance.approvals import ApprovalRequest, ApprovalStatus, ApprovalStore
from governance.decision import Actor
from tests.governance import test_approvals as on_sqlite

OpenEngine = Callable[[], Engine]
MAX = Actor(id="max.procure3", roles=frozenset({"procurement_manager"}))


@pytest.fixture
def world(new_engine: OpenEngine) -> on_sqlite._World:
    """What the SQLite scenarios take: a policy, a clock, stores, here on a fresh PostgreSQL database."""
    return on_sqlite._world(new_engine)


# The SQLite suite reaches its database only through ``world``: every scenario runs again here.
test_request_is_stored_pending_with_the_decision_and_audited = (
    on_sqlite.test_request_is_stored_pending_with_the_decision_and_audited
)
test_request_is_idempotent_per_thread_and_tool_call = (
    on_sqlite.test_request_is_idempotent_per_thread_and_tool_call
)
test_repeated_request_returns_the_edited_request_unchanged = (
    on_sqlite.test_repeated_request_returns_the_edited_request_unchanged
)
test_request_refuses_a_decision_that_is_not_for_these_args = (
    on_sqlite.test_request_refuses_a_decision_that_is_not_for_these_args
)
test_ids_are_case_insensitive_and_the_prefix_is_optional = (
    on_sqlite.test_ids_are_case_insensitive_and_the_prefix_is_optional
)
test_quorum_of_one_is_approved_by_the_right_role = on_sqlite.test_quorum_of_one_is_approved_by_the_right_role
test_quorum_of_two_needs_two_distinct_approvers = on_sqlite.test_quorum_of_two_needs_two_distinct_approvers
test_two_person_rule_one_person_cannot_fill_both_requirements = (
    on_sqlite.test_two_person_rule_one_person_cannot_fill_both_requirements
)
test_a_vote_that_fills_no_still_needed_slot_is_refused = (
    on_sqlite.test_a_vote_that_fills_no_still_needed_slot_is_refused
)
test_requester_cannot_approve_their_own_request_even_with_the_role = (
    on_sqlite.test_requester_cannot_approve_their_own_request_even_with_the_role
)
test_wrong_role_is_refused_and_audited = on_sqlite.test_wrong_role_is_refused_and_audited
test_unknown_request_is_refused_and_audited = on_sqlite.test_unknown_request_is_refused_and_audited
test_reject_with_reason_is_final_and_the_reason_reaches_the_agent = (
    on_sqlite.test_reject_with_reason_is_final_and_the_reason_reaches_the_agent
)
test_reject_without_reason_is_refused = on_sqlite.test_reject_without_reason_is_refused
test_a_due_request_expires_on_read_and_refuses_votes = (
    on_sqlite.test_a_due_request_expires_on_read_and_refuses_votes
)
test_a_vote_after_expiry_is_refused_without_a_prior_read = (
    on_sqlite.test_a_vote_after_expiry_is_refused_without_a_prior_read
)
test_expire_due_expires_only_what_is_due_and_only_once = (
    on_sqlite.test_expire_due_expires_only_what_is_due_and_only_once
)
test_edit_within_authority_is_approved_with_the_new_args = (
    on_sqlite.test_edit_within_authority_is_approved_with_the_new_args
)
test_edit_to_a_call_needing_no_approval_counts_as_approved = (
    on_sqlite.test_edit_to_a_call_needing_no_approval_counts_as_approved
)
test_edit_beyond_authority_stays_pending_and_discards_earlier_approvals = (
    on_sqlite.test_edit_beyond_authority_stays_pending_and_discards_earlier_approvals
)
test_edit_into_a_denied_call_rejects_with_the_policy_reason = (
    on_sqlite.test_edit_into_a_denied_call_rejects_with_the_policy_reason
)
test_edit_is_refused_for_someone_without_a_needed_role = (
    on_sqlite.test_edit_is_refused_for_someone_without_a_needed_role
)
test_edit_needs_redecide_and_a_matching_decision = on_sqlite.test_edit_needs_redecide_and_a_matching_decision
test_list_filters_and_to_dict_is_json = on_sqlite.test_list_filters_and_to_dict_is_json
test_a_vote_that_lost_the_race_is_re_checked_and_refused = (
    on_sqlite.test_a_vote_that_lost_the_race_is_re_checked_and_refused
)
test_racing_last_votes_from_two_stores_finalise_once = (
    on_sqlite.test_racing_last_votes_from_two_stores_finalise_once
)


def test_three_approvers_racing_on_a_quorum_of_two_finalise_once(world: on_sqlite._World) -> None:
    stores = [world.store, *(on_sqlite._store(world.open_engine(), world.clock)[1] for _ in range(2))]
    for round_ in range(5):
        request = world.ask({"po_number": f"PO-{round_:04d}"}, tool=on_sqlite.CANCEL, call=f"race-{round_}")

        outcomes = on_sqlite._race(
            list(zip(stores, (on_sqlite.GRACE, on_sqlite.LEO, MAX), strict=True)), request.id
        )

        assert sorted(outcomes) == ["accepted", "accepted", "closed"]
        stored = world.store.get(request.id)
        assert stored is not None and stored.status is ApprovalStatus.APPROVED and len(stored.votes) == 2
    finals = world.events("approval_final")
    assert len({event.payload["request_id"] for event in finals}) == len(finals) == 5
    assert world.audit.verify().ok


def test_one_tool_call_requested_from_two_stores_at_once_is_one_request(world: on_sqlite._World) -> None:
    """LangGraph may run the same interrupted node twice at once (e.g. a double resume)."""
    other = on_sqlite._store(world.open_engine(), world.clock)[1]
    args = on_sqlite._po(600.0)
    decision = world.decide(on_sqlite.PO, args)
    start = threading.Barrier(2)
    requests: list[ApprovalRequest] = []

    def ask(store: ApprovalStore) -> None:
        start.wait(timeout=60)
        requests.append(
            store.request(
                thread_id="t-1",
                tool_call_id="call-1",
                tool=on_sqlite.PO,
                args=args,
                decision=decision,
                requester=on_sqlite.ALICE,
                channel="cli",
            )
        )

    threads = [threading.Thread(target=ask, args=(store,)) for store in (world.store, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    first, second = requests
    assert first == second and [r.id for r in world.store.list()] == [first.id]
    assert len(world.events("approval_requested")) == 1
