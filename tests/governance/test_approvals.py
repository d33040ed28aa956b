"""Approval requests: idempotent creation, who may vote, quorum and two-person rule, reject, expiry,
edit-and-approve through the real policy, concurrent approvers; store state and audit events.

Every test runs on SQLite and on PostgreSQL (``open_engine``); a second store on its own engine
stands for another process.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from governance.approvals import (
    SIGNED_IN_CHANNELS,
    AlreadyVoted,
    ApprovalRequest,
    ApprovalStatus,
    ApprovalStore,
    NotEntitled,
    Nudge,
    ReasonRequired,
    RequestClosed,
    SelfApproval,
    StepUpRequired,
    UnknownRequest,
)
from governance.audit import AuditEvent, AuditLog
from governance.compiled import CompiledPolicy, compile_policy
from governance.decide import decide
from governance.decision import Actor, Decision, DecisionContext, Tier, ToolCall, args_digest
from governance.loader import parse_policy
from governance.usage import InMemoryUsage
from tests.pg.engines import OpenEngine
from tools.spec import SideEffect

PO = "procurement_create_purchase_order"
CANCEL = "procurement_cancel_purchase_order"
START = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)

POLICY = """
label: approvals test
defaults: {unknown_tool: deny, unmatched_tool: deny}
rules:
  - id: small-po
    tools: [procurement_create_purchase_order]
    when: "args.total_amount <= 500.0"
    tier: auto
  - id: big-po
    tools: [procurement_create_purchase_order]
    when: "args.total_amount > 500.0"
    tier: approve
    approvers: {roles: [procurement_manager], count: 1}
  - id: huge-po
    tools: [procurement_create_purchase_order]
    when: "args.total_amount > 5000.0"
    tier: approve
    approvers: {roles: [finance_controller], count: 1}
  - id: absurd-po
    tools: [procurement_create_purchase_order]
    when: "args.total_amount > 100000.0"
    tier: deny
    reason: "no single order above 100,000"
  - id: cancel-po
    tools: [procurement_cancel_purchase_order]
    tier: approve
    approvers: {roles: [procurement_manager], count: 2}
"""

ALICE = "alice.requester"
GRACE = Actor(id="grace.procure", roles=frozenset({"procurement_manager"}))
LEO = Actor(id="leo.procure2", roles=frozenset({"procurement_manager"}))
HEIDI = Actor(id="heidi.finance", roles=frozenset({"finance_controller"}))
CAROL = Actor(id="carol.desk", roles=frozenset({"service_desk"}))
MAX = Actor(id="max.procure3", roles=frozenset({"procurement_manager"}))
BOTH = Actor(id="pat.both", roles=frozenset({"procurement_manager", "finance_controller"}))


class _Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class World:
    """A policy, a clock and the stores on one database; ``open_engine`` reaches it as another process."""

    open_engine: OpenEngine
    clock: _Clock
    audit: AuditLog
    store: ApprovalStore
    policy: CompiledPolicy

    def decide(self, tool: str, args: Mapping[str, Any]) -> Decision:
        actor = Actor(id=ALICE, roles=frozenset({"requester"}))
        context = DecisionContext(now=self.clock(), channel="cli", thread_id="t-1")
        return decide(self.policy, ToolCall(tool=tool, args=args), actor, context, InMemoryUsage())

    def redecide(self, tool: str = PO) -> Callable[[Mapping[str, Any]], Decision]:
        return lambda args: self.decide(tool, args)

    def ask(
        self, args: Mapping[str, Any], *, tool: str = PO, call: str = "call-1", **kw: Any
    ) -> ApprovalRequest:
        decision = self.decide(tool, args)
        assert decision.tier is Tier.APPROVE
        return self.store.request(
            thread_id="t-1",
            tool_call_id=call,
            tool=tool,
            args=args,
            decision=decision,
            requester=ALICE,
            channel="cli",
            **kw,
        )

    def vote(self, request_id: str, approver: Actor, approve: bool = True, **kw: Any) -> ApprovalRequest:
        return self.store.vote(request_id, approver=approver, approve=approve, channel="slack", **kw)

    def events(self, kind: str) -> list[AuditEvent]:
        return list(self.audit.events(kinds=[kind]))


def po(total: float) -> dict[str, Any]:
    return {
        "supplier_id": "SUP-004",
        "cost_centre": "CC-IT-OPS",
        "lines": [{"sku": "LAP-14-PRO", "quantity": 2, "unit_price": total / 2}],
        "total_amount": total,
    }


def open_stores(engine: Engine, clock: _Clock) -> tuple[AuditLog, ApprovalStore]:
    audit = AuditLog(engine, clock=clock)
    return audit, ApprovalStore(engine, audit=audit, clock=clock)


def new_world(open_engine: OpenEngine) -> World:
    catalogue = {PO: SideEffect.FINANCIAL, CANCEL: SideEffect.FINANCIAL}
    roles = {"procurement_manager", "finance_controller", "requester", "service_desk"}
    policy = parse_policy(POLICY, catalogue=catalogue, roles=roles, people={ALICE})
    clock = _Clock()
    audit, store = open_stores(open_engine(), clock)
    return World(open_engine, clock, audit, store, compile_policy(policy, catalogue))


@pytest.fixture
def world(open_engine: OpenEngine) -> World:
    return new_world(open_engine)


# -- creation ---------------------------------------------------------------------------------------


def test_request_is_stored_pending_with_the_decision_and_audited(world: World) -> None:
    request = world.ask(po(600.0))

    assert re.fullmatch(r"APR-[0-9A-F]{8}", request.id)
    stored = world.store.get(request.id)
    assert stored == request
    assert stored.status is ApprovalStatus.PENDING
    assert stored.args == po(600.0)
    assert stored.args_digest == args_digest(po(600.0))
    assert [(r.roles, r.count, r.rule_id) for r in stored.requirements] == [
        (("procurement_manager",), 1, "big-po")
    ]
    assert stored.rule_ids == ("big-po",)
    assert stored.policy_version.startswith("approvals test@sha256:")
    assert stored.expires_at - stored.created_at == timedelta(hours=24)
    assert "needs 1 more approver(s) holding procurement_manager" in stored.status_reason
    [event] = world.events("approval_requested")
    assert event.thread_id == "t-1" and event.actor == ALICE
    assert event.payload["request_id"] == request.id
    assert event.payload["args_digest"] == request.args_digest
    assert event.payload["requirements"] == [
        {"roles": ["procurement_manager"], "count": 1, "rule_id": "big-po"}
    ]
    assert event.payload["args"] == po(600.0)


def test_request_is_idempotent_per_thread_and_tool_call(world: World) -> None:
    first = world.ask(po(600.0))
    again = world.ask(po(600.0))
    # A restarted process derives the same id and finds the same row.
    _, other_store = open_stores(world.open_engine(), world.clock)
    from_elsewhere = other_store.request(
        thread_id="t-1",
        tool_call_id="call-1",
        tool=PO,
        args=po(600.0),
        decision=world.decide(PO, po(600.0)),
        requester=ALICE,
        channel="cli",
    )
    other_call = world.ask(po(600.0), call="call-2")

    assert again == first == from_elsewhere
    assert other_call.id != first.id
    assert len(world.events("approval_requested")) == 2
    assert [r.id for r in world.store.for_thread("t-1")] == [first.id, other_call.id]


def test_repeated_request_returns_the_edited_request_unchanged(world: World) -> None:
    """On resume the node asks again with the model's original args; the edit must survive."""
    request = world.ask(po(6000.0))
    world.vote(request.id, HEIDI)
    edited = world.vote(request.id, GRACE, edited_args=po(5500.0), redecide=world.redecide())

    assert world.ask(po(6000.0)) == edited
    assert edited.args == po(5500.0)


def test_request_refuses_a_decision_that_is_not_for_these_args(world: World) -> None:
    with pytest.raises(ValueError, match="not the decision on this"):
        world.store.request(
            thread_id="t-1",
            tool_call_id="call-1",
            tool=PO,
            args=po(700.0),
            decision=world.decide(PO, po(600.0)),
            requester=ALICE,
            channel="cli",
        )
    with pytest.raises(ValueError, match="only an approve decision"):
        world.store.request(
            thread_id="t-1",
            tool_call_id="call-1",
            tool=PO,
            args=po(100.0),
            decision=world.decide(PO, po(100.0)),
            requester=ALICE,
            channel="cli",
        )


def test_ids_are_case_insensitive_and_the_prefix_is_optional(world: World) -> None:
    request = world.ask(po(600.0))

    assert world.store.get(request.id.lower()) == request
    assert world.store.get(request.id.removeprefix("APR-")) == request
    assert world.store.get("APR-00000000") is None


# -- quorum -----------------------------------------------------------------------------------------


def test_quorum_of_one_is_approved_by_the_right_role(world: World) -> None:
    request = world.ask(po(600.0))

    after = world.vote(request.id, GRACE, comment="within budget")

    assert after.status is ApprovalStatus.APPROVED
    assert after.final and after.decided_at == START
    assert world.store.get(request.id) == after
    [vote] = after.votes
    assert (vote.approver, vote.approve, vote.channel, vote.comment) == (
        GRACE.id,
        True,
        "slack",
        "within budget",
    )
    assert vote.args_digest == request.args_digest
    outcome = world.store.outcome(request.id)
    assert outcome.approved and outcome.args == po(600.0)
    assert "grace.procure" in outcome.reason
    [vote_event] = world.events("approval_vote")
    assert vote_event.actor == GRACE.id
    assert vote_event.payload["accepted"] is True
    assert vote_event.payload["channel"] == "slack"
    assert vote_event.payload["comment"] == "within budget"
    assert vote_event.payload["args_digest"] == request.args_digest
    assert vote_event.payload["at"] == START.isoformat(timespec="microseconds")
    [final] = world.events("approval_final")
    assert final.payload["status"] == "approved"
    assert final.payload["approvers"] == [GRACE.id]


def test_quorum_of_two_needs_two_distinct_approvers(world: World) -> None:
    request = world.ask({"po_number": "PO-0042"}, tool=CANCEL)

    first = world.vote(request.id, GRACE)
    assert first.status is ApprovalStatus.PENDING
    assert "needs 1 more approver(s)" in first.status_reason
    assert world.events("approval_final") == []
    with pytest.raises(AlreadyVoted, match=r"grace\.procure already voted"):
        world.vote(request.id, GRACE)

    second = world.vote(request.id, LEO)

    assert second.status is ApprovalStatus.APPROVED
    [final] = world.events("approval_final")
    assert sorted(final.payload["approvers"]) == [GRACE.id, LEO.id]


def test_two_person_rule_one_person_cannot_fill_both_requirements(world: World) -> None:
    request = world.ask(po(6000.0))  # big-po (procurement) and huge-po (finance)

    after_both = world.vote(request.id, BOTH)
    assert after_both.status is ApprovalStatus.PENDING
    with pytest.raises(AlreadyVoted):
        world.vote(request.id, BOTH)

    # Matching moves pat.both to the finance slot so that the procurement manager completes it.
    final = world.vote(request.id, LEO)
    assert final.status is ApprovalStatus.APPROVED
    assert "pat.both (rule 'huge-po')" in final.status_reason
    assert "leo.procure2 (rule 'big-po')" in final.status_reason


def test_a_vote_that_fills_no_still_needed_slot_is_refused(world: World) -> None:
    request = world.ask(po(6000.0))
    world.vote(request.id, GRACE)

    with pytest.raises(NotEntitled, match=r"still-needed roles: needs 1 more approver.*finance_controller"):
        world.vote(request.id, LEO)

    assert world.store.get(request.id).status is ApprovalStatus.PENDING  # type: ignore[union-attr]
    assert world.vote(request.id, HEIDI).status is ApprovalStatus.APPROVED


# -- refusals ---------------------------------------------------------------------------------------


def test_requester_cannot_approve_their_own_request_even_with_the_role(world: World) -> None:
    request = world.ask(po(600.0))
    requester_as_manager = Actor(id=ALICE, roles=frozenset({"procurement_manager"}))

    with pytest.raises(SelfApproval, match=r"alice\.requester requested this call"):
        world.vote(request.id, requester_as_manager)

    assert world.store.get(request.id) == request
    [refusal] = world.events("approval_vote")
    assert refusal.actor == ALICE and refusal.thread_id == "t-1"
    assert refusal.payload["accepted"] is False
    assert refusal.payload["refusal"] == "SelfApproval"
    assert refusal.payload["request_id"] == request.id


def test_wrong_role_is_refused_and_audited(world: World) -> None:
    request = world.ask(po(600.0))

    with pytest.raises(NotEntitled, match=r"carol.desk \(roles: service_desk\) holds none"):
        world.vote(request.id, CAROL)
    with pytest.raises(NotEntitled):
        world.vote(request.id, CAROL, approve=False, reason="looks odd")

    assert world.store.get(request.id) == request
    refusals = world.events("approval_vote")
    assert [(e.payload["accepted"], e.payload["refusal"], e.payload["approve"]) for e in refusals] == [
        (False, "NotEntitled", True),
        (False, "NotEntitled", False),
    ]


def test_a_step_up_approval_is_refused_from_a_one_click_channel_and_audited(world: World) -> None:
    request = world.ask(po(600.0))

    for channel in ("slack", "teams"):  # Slack's buttons, and any channel nobody declared signed in
        with pytest.raises(
            StepUpRequired, match=rf"signed in on the review page \(step-up\), not from {channel}"
        ):
            world.store.vote(request.id, approver=GRACE, approve=True, channel=channel, step_up=True)
    with pytest.raises(StepUpRequired):  # an edit approves too
        world.store.vote(
            request.id,
            approver=GRACE,
            approve=True,
            channel="slack",
            step_up=True,
            edited_args=po(550.0),
            redecide=world.redecide(),
        )

    assert world.store.get(request.id) == request
    refusals = world.events("approval_vote")
    assert [(e.payload["refusal"], e.payload["channel"]) for e in refusals] == [
        ("StepUpRequired", "slack"),
        ("StepUpRequired", "teams"),
        ("StepUpRequired", "slack"),
    ]
    assert {"web", "api"} <= SIGNED_IN_CHANNELS and "slack" not in SIGNED_IN_CHANNELS


def test_a_step_up_approval_counts_signed_in_and_a_rejection_counts_anywhere(world: World) -> None:
    signed_in = world.ask(po(600.0), call="call-1")
    rejected = world.ask(po(700.0), call="call-2")

    approved = world.store.vote(signed_in.id, approver=GRACE, approve=True, channel="web", step_up=True)
    refused = world.store.vote(
        rejected.id, approver=GRACE, approve=False, reason="not this quarter", channel="slack", step_up=True
    )

    assert approved.status is ApprovalStatus.APPROVED
    assert refused.status is ApprovalStatus.REJECTED


def test_unknown_request_is_refused_and_audited(world: World) -> None:
    with pytest.raises(UnknownRequest, match="no approval request 'APR-DEADBEEF'"):
        world.vote("APR-DEADBEEF", GRACE)
    with pytest.raises(UnknownRequest):
        world.store.outcome("APR-DEADBEEF")

    [refusal] = world.events("approval_vote")
    assert refusal.payload["refusal"] == "UnknownRequest" and refusal.thread_id is None


# -- reject -----------------------------------------------------------------------------------------


def test_reject_with_reason_is_final_and_the_reason_reaches_the_agent(world: World) -> None:
    request = world.ask({"po_number": "PO-0042"}, tool=CANCEL)

    after = world.vote(request.id, GRACE, approve=False, reason="supplier already shipped")

    assert after.status is ApprovalStatus.REJECTED
    outcome = world.store.outcome(request.id)
    assert outcome.final and not outcome.approved
    assert outcome.reason == "rejected by grace.procure: supplier already shipped"
    with pytest.raises(RequestClosed, match="already rejected"):
        world.vote(request.id, LEO)
    [final] = world.events("approval_final")
    assert final.payload["status"] == "rejected"
    assert final.payload["reason"] == outcome.reason
    votes = world.events("approval_vote")
    assert [(e.payload["accepted"], e.payload.get("reason")) for e in votes] == [
        (True, "supplier already shipped"),
        (False, None),
    ]


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_reject_without_reason_is_refused(world: World, reason: str | None) -> None:
    request = world.ask(po(600.0))

    with pytest.raises(ReasonRequired, match="needs a reason"):
        world.vote(request.id, GRACE, approve=False, reason=reason)

    assert world.store.get(request.id) == request
    assert world.events("approval_vote")[0].payload["refusal"] == "ReasonRequired"


# -- expiry -----------------------------------------------------------------------------------------


def test_a_due_request_expires_on_read_and_refuses_votes(world: World) -> None:
    request = world.ask(po(600.0))
    world.clock.advance(hours=24)

    expired = world.store.get(request.id)

    assert expired is not None and expired.status is ApprovalStatus.EXPIRED
    assert expired.status_reason == "expired after 24h without approval"
    assert world.store.outcome(request.id).reason == "expired after 24h without approval"
    with pytest.raises(RequestClosed, match="already expired"):
        world.vote(request.id, GRACE)
    [final] = world.events("approval_final")
    assert final.payload["status"] == "expired"
    assert final.actor is None


def test_a_vote_after_expiry_is_refused_without_a_prior_read(world: World) -> None:
    request = world.ask(po(600.0))
    world.clock.advance(hours=24, seconds=1)

    with pytest.raises(RequestClosed):
        world.vote(request.id, GRACE)

    assert world.store.get(request.id).status is ApprovalStatus.EXPIRED  # type: ignore[union-attr]
    assert [e.payload["status"] for e in world.events("approval_final")] == ["expired"]


def test_expire_due_expires_only_what_is_due_and_only_once(world: World) -> None:
    short = world.ask(po(600.0), call="short", ttl=timedelta(hours=1))
    long = world.ask(po(600.0), call="long")
    world.clock.advance(hours=2)

    expired = world.store.expire_due()

    assert [r.id for r in expired] == [short.id]
    assert expired[0].status_reason == "expired after 1h without approval"
    assert world.store.expire_due() == []
    assert world.store.get(long.id).status is ApprovalStatus.PENDING  # type: ignore[union-attr]
    assert [r.id for r in world.store.list(status="expired")] == [short.id]
    assert [r.id for r in world.store.list(status=ApprovalStatus.PENDING)] == [long.id]
    assert len(world.events("approval_final")) == 1


# -- edit and approve -------------------------------------------------------------------------------


def test_edit_within_authority_is_approved_with_the_new_args(world: World) -> None:
    request = world.ask(po(900.0))

    after = world.vote(request.id, GRACE, edited_args=po(550.0), redecide=world.redecide(), comment="fewer")

    assert after.status is ApprovalStatus.APPROVED
    assert after.args == po(550.0)
    assert after.args_digest == args_digest(po(550.0)) != request.args_digest
    assert world.store.outcome(request.id).args == po(550.0)
    [vote] = world.events("approval_vote")
    assert vote.payload["edited"] is True
    assert vote.payload["args_digest"] == after.args_digest
    assert vote.payload["replaced_args_digest"] == request.args_digest
    assert vote.payload["args"] == po(550.0)
    [final] = world.events("approval_final")
    assert final.payload["args_digest"] == after.args_digest


def test_edit_to_a_call_needing_no_approval_counts_as_approved(world: World) -> None:
    request = world.ask(po(900.0))

    after = world.vote(request.id, GRACE, edited_args=po(400.0), redecide=world.redecide())

    assert after.status is ApprovalStatus.APPROVED
    assert after.requirements == ()
    assert "needs no approval (policy tier auto)" in after.status_reason


def test_edit_beyond_authority_stays_pending_and_discards_earlier_approvals(world: World) -> None:
    request = world.ask(po(6000.0))
    world.vote(request.id, HEIDI)  # finance approved the 6,000 order

    edited = world.vote(request.id, GRACE, edited_args=po(9000.0), redecide=world.redecide())

    assert edited.status is ApprovalStatus.PENDING
    assert edited.args == po(9000.0)
    assert [vote.approver for vote in edited.counted_votes] == [GRACE.id]
    assert "needs 1 more approver(s) holding finance_controller" in edited.status_reason
    assert world.events("approval_final") == []
    # Finance approved different arguments, so it votes again, on these.
    final = world.vote(request.id, HEIDI)
    assert final.status is ApprovalStatus.APPROVED
    assert final.args_digest == args_digest(po(9000.0))
    assert world.events("approval_final")[0].payload["args_digest"] == final.args_digest


def test_edit_into_a_denied_call_rejects_with_the_policy_reason(world: World) -> None:
    request = world.ask(po(900.0))

    after = world.vote(request.id, GRACE, edited_args=po(250000.0), redecide=world.redecide())

    assert after.status is ApprovalStatus.REJECTED
    outcome = world.store.outcome(request.id)
    assert outcome.reason.startswith("the edited call is denied by policy")
    assert "no single order above 100,000" in outcome.reason
    assert world.events("approval_final")[0].payload["status"] == "rejected"


def test_edit_is_refused_for_someone_without_a_needed_role(world: World) -> None:
    request = world.ask(po(900.0))

    with pytest.raises(NotEntitled):
        world.vote(request.id, CAROL, edited_args=po(550.0), redecide=world.redecide())

    assert world.store.get(request.id) == request


def test_edit_needs_redecide_and_a_matching_decision(world: World) -> None:
    request = world.ask(po(900.0))

    with pytest.raises(ValueError, match="need redecide"):
        world.vote(request.id, GRACE, edited_args=po(550.0))
    with pytest.raises(ValueError, match="other arguments"):
        world.vote(request.id, GRACE, edited_args=po(550.0), redecide=lambda _: world.decide(PO, po(551.0)))

    assert world.store.get(request.id) == request


# -- listing and values -----------------------------------------------------------------------------


def test_list_filters_and_to_dict_is_json(world: World) -> None:
    approved = world.ask(po(600.0), call="a")
    world.clock.advance(seconds=1)
    pending = world.ask(po(700.0), call="b")
    world.vote(approved.id, GRACE, comment="ok")

    assert [r.id for r in world.store.list()] == [approved.id, pending.id]
    assert [r.id for r in world.store.list(status="approved")] == [approved.id]
    assert world.store.list(thread_id="other") == []
    as_dict = world.store.get(approved.id).to_dict()  # type: ignore[union-attr]
    assert as_dict["status"] == "approved"
    assert as_dict["votes"][0]["approver"] == GRACE.id
    assert as_dict["votes"][0]["at"] == "2026-11-02T09:30:01.000000+00:00"
    assert as_dict["requirements"] == [{"roles": ["procurement_manager"], "count": 1, "rule_id": "big-po"}]


# -- concurrency ------------------------------------------------------------------------------------


def test_a_vote_that_lost_the_race_is_re_checked_and_refused(world: World) -> None:
    """Store B lands the last vote while store A (another process) is between its read and its write."""
    request = world.ask(po(900.0))
    _, other = open_stores(world.open_engine(), world.clock)

    def redecide_while_other_approves(args: Mapping[str, Any]) -> Decision:
        other.vote(request.id, approver=LEO, approve=True, channel="web")
        return world.decide(PO, args)

    with pytest.raises(RequestClosed, match="already approved"):
        world.vote(request.id, GRACE, edited_args=po(550.0), redecide=redecide_while_other_approves)

    final = world.store.get(request.id)
    assert final is not None and final.status is ApprovalStatus.APPROVED
    assert final.args == po(900.0)
    assert [vote.approver for vote in final.votes] == [LEO.id]
    assert len(world.events("approval_final")) == 1


def _race(votes: list[tuple[ApprovalStore, Actor]], request_id: str) -> list[str]:
    """Cast the votes at the same moment from threads; the outcome of each, in completion order."""
    barrier = threading.Barrier(len(votes))
    outcomes: list[str] = []

    def cast(store: ApprovalStore, approver: Actor) -> None:
        barrier.wait(timeout=60)
        try:
            store.vote(request_id, approver=approver, approve=True, channel="slack")
            outcomes.append("accepted")
        except RequestClosed:
            outcomes.append("closed")

    threads = [threading.Thread(target=cast, args=vote) for vote in votes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_racing_last_votes_from_two_stores_finalise_once(world: World) -> None:
    other = open_stores(world.open_engine(), world.clock)[1]
    for round_ in range(8):
        request = world.ask(po(600.0), call=f"race-{round_}")

        outcomes = _race([(world.store, GRACE), (other, LEO)], request.id)

        assert sorted(outcomes) == ["accepted", "closed"]
        stored = world.store.get(request.id)
        assert stored is not None and stored.status is ApprovalStatus.APPROVED and len(stored.votes) == 1
    finals = world.events("approval_final")
    assert len({event.payload["request_id"] for event in finals}) == len(finals) == 8
    assert world.audit.verify().ok


def test_three_approvers_racing_on_a_quorum_of_two_finalise_once(world: World) -> None:
    stores = [world.store, *(open_stores(world.open_engine(), world.clock)[1] for _ in range(2))]
    for round_ in range(5):
        request = world.ask({"po_number": f"PO-{round_:04d}"}, tool=CANCEL, call=f"race-{round_}")

        outcomes = _race(list(zip(stores, (GRACE, LEO, MAX), strict=True)), request.id)

        assert sorted(outcomes) == ["accepted", "accepted", "closed"]
        stored = world.store.get(request.id)
        assert stored is not None and stored.status is ApprovalStatus.APPROVED and len(stored.votes) == 2
    finals = world.events("approval_final")
    assert len({event.payload["request_id"] for event in finals}) == len(finals) == 5
    assert world.audit.verify().ok


def test_one_tool_call_requested_from_two_stores_at_once_is_one_request(world: World) -> None:
    """LangGraph may run the same interrupted node twice at once (e.g. a double resume)."""
    other = open_stores(world.open_engine(), world.clock)[1]
    args = po(600.0)
    decision = world.decide(PO, args)
    start = threading.Barrier(2, timeout=60)
    requests: list[ApprovalRequest] = []

    def ask(store: ApprovalStore) -> None:
        start.wait()
        requests.append(
            store.request(
                thread_id="t-1",
                tool_call_id="call-1",
                tool=PO,
                args=args,
                decision=decision,
                requester=ALICE,
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


# -- the queue, in pages ------------------------------------------------------------------------------


def test_the_queue_pages_oldest_first_with_votes_and_filters(world: World) -> None:
    asked = []
    for n in range(5):
        asked.append(world.ask(po(600.0 + n), call=f"call-{n}"))
        world.clock.advance(seconds=1)
    world.vote(asked[1].id, GRACE)  # approved: no longer pending
    pending = [r.id for r in asked if r.id != asked[1].id]

    first = world.store.list(status="pending", limit=2)
    rest = world.store.list(status="pending", limit=2, after=first[-1].id.lower())
    last = world.store.list(status="pending", limit=2, after=rest[-1].id)

    assert [r.id for r in first + rest + last] == pending and len(last) == 0
    [approved] = world.store.list(requester=ALICE, tool=PO, status="approved", limit=10)
    assert approved.id == asked[1].id and [v.approver for v in approved.votes] == [GRACE.id]
    assert world.store.list(tool=CANCEL) == [] and world.store.list(requester="bob") == []


def test_the_queue_reads_only_requests_that_may_concern_a_person(world: World) -> None:
    big = world.ask(po(600.0), call="call-1")  # procurement_manager
    world.clock.advance(seconds=1)
    huge = world.ask(po(6000.0), call="call-2")  # procurement_manager and finance_controller
    world.clock.advance(seconds=1)
    cancel = world.ask({"po_number": "PO-1"}, tool=CANCEL, call="call-3")  # two procurement_managers
    alice = Actor(id=ALICE, roles=frozenset({"requester"}))

    def approvable(person: Actor) -> list[str]:
        return [r.id for r in world.store.list(approvable_by=person)]

    assert approvable(GRACE) == [big.id, huge.id, cancel.id]
    assert approvable(HEIDI) == [huge.id]
    assert approvable(CAROL) == [] and approvable(alice) == []  # no role asked for; her own requests
    assert [r.id for r in world.store.list(visible_to=alice)] == [big.id, huge.id, cancel.id]
    # A role is matched whole, and LIKE's wildcards in its name are only characters.
    for odd in ("procurement", "procurement%", "procurement_manage_", '"procurement_manager"'):
        assert approvable(Actor(id="x.odd", roles=frozenset({odd}))) == []

    world.store.nudge(
        Nudge(
            request_id=cancel.id,
            step="escalate-1",
            at=START,
            people=(CAROL.id,),
            grants=("procurement_manager",),
        )
    )
    assert approvable(CAROL) == [cancel.id]  # escalated to her
    world.vote(big.id, GRACE)
    assert [r.id for r in world.store.list(visible_to=GRACE, status="approved")] == [big.id]
    assert [r.id for r in world.store.list(approvable_by=HEIDI, visible_to=HEIDI, limit=1)] == [huge.id]


def test_paging_after_an_unknown_request_names_it(world: World) -> None:
    with pytest.raises(UnknownRequest, match="APR-00000000"):
        world.store.list(after="APR-00000000")
