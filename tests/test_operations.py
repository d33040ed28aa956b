"""The operations service every front end calls: what it returns and what it does not build.

Pins: reading the approval queue, one request and the audit trail imports no langgraph, chromadb or
torch and builds no chat model; a request's view carries what the requester asked and its history;
``actionable_by`` lists only what that person may still vote on; a vote says when the thread can
resume; an edit is decided again as the requester's call.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from agent.operations import Operations
from agent.run.errors import ThreadRunning, ThreadWaiting
from agent.settings import Settings
from governance.approvals import ApprovalStatus, SelfApproval, StepUpRequired
from governance.policy import DEFAULT_POLICY_PATH
from tools.errors import InvalidArguments

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def ops(tmp_path: Path) -> Operations:
    return Operations(Settings(home=tmp_path / "home", grounding=False, _env_file=None))


def test_reading_the_queue_and_the_trail_builds_no_model_and_imports_no_heavy_stack(tmp_path: Path) -> None:
    program = f"""
import json, sys
from agent.operations import Operations
from agent.settings import Settings
ops = Operations(Settings(home={str(tmp_path / "home")!r}, _env_file=None))
ops.approvals(); ops.audit_events(); ops.verify(); ops.head()
heavy = sorted(m for m in ("langgraph", "langchain_core", "chromadb", "torch") if m in sys.modules)
print(json.dumps({{"heavy": heavy, "session_built": "session" in vars(ops)}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(done.stdout.splitlines()[-1]) == {"heavy": [], "session_built": False}


def test_a_request_view_carries_the_request_text_and_its_history(ops: Operations) -> None:
    turn = ops.send("write off 3 damaged MON-27-4K at AMS-1", actor="carol.desk")
    [request] = turn.pending

    view = ops.approval(request.id.lower())

    assert view.request.id == request.id and view.request.status is ApprovalStatus.PENDING
    assert view.request_text == "write off 3 damaged MON-27-4K at AMS-1"
    assert [event.kind for event in view.history] == ["approval_requested"]
    assert "warehouse_manager" in view.still_needed


def test_actionable_by_lists_only_what_that_person_may_still_vote_on(ops: Operations) -> None:
    [request] = ops.send("write off 3 damaged MON-27-4K at AMS-1", actor="carol.desk").pending

    assert [r.id for r in ops.approvals(actionable_by="frank.warehouse")] == [request.id]
    assert ops.approvals(actionable_by="grace.procure") == []  # no role asked for
    assert ops.approvals(actionable_by="carol.desk") == []  # her own request


def test_a_vote_says_when_the_thread_can_resume_and_refusals_change_nothing(ops: Operations) -> None:
    [request] = ops.send("write off 3 damaged MON-27-4K at AMS-1", actor="carol.desk").pending

    with pytest.raises(SelfApproval):
        ops.vote(request.id, voter="carol.desk", approve=True, channel="test")
    outcome = ops.vote(request.id, voter="frank.warehouse", approve=False, channel="test", reason="recount")

    assert outcome.request.status is ApprovalStatus.REJECTED and outcome.can_resume
    assert ops.approvals(actionable_by="frank.warehouse") == []
    kinds = [e.kind for e in ops.approval(request.id).history]
    assert kinds == ["approval_requested", "approval_vote", "approval_vote", "approval_final"]


def test_an_edit_is_validated_and_decided_again_as_the_requesters_call(ops: Operations) -> None:
    [request] = ops.send("write off 3 damaged MON-27-4K at AMS-1", actor="carol.desk").pending
    edited = {**request.args, "delta": -2}

    with pytest.raises(InvalidArguments):
        ops.vote(request.id, voter="frank.warehouse", approve=True, channel="test", edited_args={"delta": -2})
    outcome = ops.vote(request.id, voter="frank.warehouse", approve=True, channel="test", edited_args=edited)

    assert outcome.request.status is ApprovalStatus.APPROVED and outcome.request.args["delta"] == -2
    resumed = ops.resume(request.thread_id)
    assert resumed.answer is not None
    executed = [e.payload for e in ops.audit_events(thread=request.thread_id, kinds=["execution"])]
    assert [(e["status"], e["args_digest"]) for e in executed] == [("completed", outcome.request.args_digest)]


def test_a_turn_says_what_governance_did_with_each_call(ops: Operations) -> None:
    waiting = ops.send("write off 3 damaged MON-27-4K at AMS-1", actor="carol.desk")
    noted = ops.send("add a note to INC0010047 saying checked the pool", actor="carol.desk")

    [asked] = [c for c in waiting.calls if c.tool == "inventory_adjust_stock"]
    assert (asked.tier, asked.status, asked.approval_id) == ("approve", "waiting", waiting.pending[0].id)
    assert "write-off" in asked.rule_ids
    [note] = [c for c in noted.calls if c.tool == "itsm_add_work_note"]
    assert (note.tier, note.status) == ("notify", "completed") and note.notified
    assert all(c.status == "completed" for c in noted.calls if c.tier == "auto")


def test_the_trail_is_stamped_by_the_services_clock_like_every_other_store(tmp_path: Path) -> None:
    """Monitors, escalations and veto windows compare audit times with the service's clock: one clock."""
    moment = datetime(2031, 5, 4, 3, 2, 1, tzinfo=UTC)
    ops = Operations(Settings(home=tmp_path / "home", grounding=False, _env_file=None), clock=lambda: moment)

    turn = ops.send("write off 3 damaged MON-27-4K at AMS-1", actor="carol.desk")

    [request] = turn.pending
    events = ops.audit_events(thread=turn.thread_id)
    assert events and {datetime.fromisoformat(e.at) for e in events} == {moment} == {request.created_at}


def test_a_request_waits_only_for_those_whose_approval_would_still_count(ops: Operations) -> None:
    [request] = ops.send("order 40 laptops for the Berlin office", actor="alice.requester").pending
    assert [r.id for r in ops.approvals(actionable_by="grace.procure")] == [request.id]

    ops.vote(request.id, voter="leo.procure2", approve=True, channel="test")  # the procurement slot
    after = ops.approval(request.id).request

    assert ops.approvals(actionable_by="grace.procure") == []  # her approval would add nothing
    assert [r.id for r in ops.approvals(actionable_by="heidi.finance")] == [request.id]
    assert ops.rejectable("grace.procure", [after]) == [after]  # a qualified approver may still reject
    assert ops.rejectable("alice.requester", [after]) == []


def test_revoking_a_token_again_changes_nothing_and_audits_nothing(ops: Operations) -> None:
    issued = ops.create_token("alice.requester", expires_in=None)
    first = ops.revoke_token(issued.record.id, by="alice.requester")

    again = ops.revoke_token(issued.record.id, by="dave.incident")

    assert again.revoked_by == "alice.requester" and again.revoked_at == first.revoked_at
    revoked = [e for e in ops.audit_events() if e.kind == "token_revoked"]
    assert [e.actor for e in revoked] == ["alice.requester"]


def test_a_turn_on_a_thread_another_turn_holds_is_refused_and_changes_nothing(ops: Operations) -> None:
    first = ops.send("what is the stock of MON-27-4K at AMS-1?", actor="carol.desk")
    held = ops.stores.work.lease_now("resume", first.thread_id, "elsewhere", lease_for=timedelta(minutes=5))
    assert held is not None  # another process's turn (or a worker's resume) on the thread

    with pytest.raises(ThreadRunning, match="busy with another turn"):
        ops.send("and at BER-2?", actor="carol.desk", thread=first.thread_id)
    asked = [m for m in ops.thread(first.thread_id).messages if m["role"] == "human"]
    assert len(asked) == 1
    ops.stores.work.complete(held, "elsewhere")

    later = ops.send("and at BER-2?", actor="carol.desk", thread=first.thread_id)
    assert (
        later.answer and len([m for m in ops.thread(first.thread_id).messages if m["role"] == "human"]) == 2
    )


def test_a_turn_refused_on_a_waiting_thread_leaves_its_queued_resume(ops: Operations) -> None:
    waiting = ops.send("write off 3 damaged MON-27-4K at AMS-1", actor="carol.desk")
    [request] = waiting.pending
    assert ops.vote(request.id, voter="frank.warehouse", approve=True, channel="test").can_resume

    with pytest.raises(ThreadWaiting, match="must be resumed") as refused:  # decided, not yet resumed
        ops.send("and?", actor="carol.desk", thread=waiting.thread_id)
    assert refused.value.approval_ids == ()
    leased = ops.stores.work.lease("a-worker", limit=5, lease_for=timedelta(minutes=1))

    assert [(item.kind, item.subject) for item in leased] == [("resume", waiting.thread_id)]


def test_an_edit_that_changes_nothing_is_recorded_as_an_approval(ops: Operations) -> None:
    [request] = ops.send("write off 3 damaged MON-27-4K at AMS-1", actor="carol.desk").pending

    outcome = ops.vote(
        request.id, voter="frank.warehouse", approve=True, channel="test", edited_args=dict(request.args)
    )

    [vote] = outcome.request.votes
    assert outcome.request.status is ApprovalStatus.APPROVED and not vote.edited
    assert outcome.request.args_digest == request.args_digest


def test_a_step_up_approval_is_refused_from_chat_by_the_service_itself(tmp_path: Path) -> None:
    policy = yaml.safe_load(DEFAULT_POLICY_PATH.read_text(encoding="utf-8"))
    for rule in policy["rules"]:
        if rule["tier"] == "approve":
            rule["step_up"] = True
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(yaml.safe_dump(policy), encoding="utf-8")
    ops = Operations(
        Settings(home=tmp_path / "home", grounding=False, policy_file=policy_file, _env_file=None)
    )
    [request] = ops.send("write off 3 damaged MON-27-4K at AMS-1", actor="carol.desk").pending
    assert ops.needs_step_up(request)

    with pytest.raises(StepUpRequired):  # whichever front end sends it: no front end decides this
        ops.vote(request.id, voter="frank.warehouse", approve=True, channel="slack")
    assert ops.approval(request.id).request.status is ApprovalStatus.PENDING
    outcome = ops.vote(request.id, voter="frank.warehouse", approve=True, channel="web")

    assert outcome.request.status is ApprovalStatus.APPROVED
    refused = [e.payload for e in ops.audit_events(kinds=["approval_vote"]) if not e.payload["accepted"]]
    assert [(e["refusal"], e["channel"]) for e in refused] == [("StepUpRequired", "slack")]


def test_a_turn_refused_on_a_thread_waiting_for_approval_names_what_it_waits_for(ops: Operations) -> None:
    waiting = ops.send("write off 3 damaged MON-27-4K at AMS-1", actor="carol.desk")
    [request] = waiting.pending

    with pytest.raises(ThreadWaiting, match=f"waiting for approval of {request.id}") as refused:
        ops.send("and?", actor="carol.desk", thread=waiting.thread_id)

    assert refused.value.approval_ids == (request.id,)
    asked = [m for m in ops.thread(waiting.thread_id).messages if m["role"] == "human"]
    assert len(asked) == 1
