"""Approve-tier calls through the graph: who may approve, what runs, and what the model is told.

Pins: a large PO waits, runs exactly once after the right role approves, and its result reaches the
model; the requester cannot approve their own call; a wrong role's vote is refused and changes
nothing; the two-person rule needs two people even when one holds both roles; an expired request
counts as a rejection; edit-and-approve runs exactly the edited arguments, or stays pending when the
edit needs more authority than the editor has; a rejection's reason reaches the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from governance.approvals import AlreadyVoted, ApprovalStatus, NotEntitled, RequestClosed, SelfApproval
from governance.decision import args_digest
from tests.agent.graph_support import ScriptedLLM, World, answer, calls, directory_with, po_args, po_call


def ask_for_po(world: World, llm: ScriptedLLM, quantity: int, *, actor: str = "alice.requester") -> Any:
    """Send a request the model answers with one PO (id ``po``); return the paused turn."""
    llm.queue(calls(po_call(quantity, id="po")))
    turn = world.send(f"Order {quantity} monitors for the IT ops team", actor=actor)
    assert turn.answer is None
    return turn


def refused_votes(world: World, thread_id: str) -> list[dict[str, Any]]:
    return [e.payload for e in world.events(thread_id, "approval_vote") if not e.payload["accepted"]]


def test_large_po_waits_then_runs_once_after_the_right_role_approves(world: World, llm: ScriptedLLM) -> None:
    turn = ask_for_po(world, llm, 40)

    [request] = turn.pending
    assert request.status is ApprovalStatus.PENDING
    assert [(r.roles, r.count) for r in request.requirements] == [(("procurement_manager",), 1)]
    assert request.args_digest == args_digest(po_args(40))
    assert world.session.pending_approvals(turn.thread_id) == [request.id]
    assert world.new_purchase_orders() == []
    assert world.executions(turn.thread_id) == []

    approved = world.approve(request.id, "grace.procure")
    assert approved.status is ApprovalStatus.APPROVED
    llm.queue(answer("PO raised for 40 monitors."))
    done = world.session.resume(turn.thread_id)

    assert done.answer == "PO raised for 40 monitors."
    [po] = world.new_purchase_orders()
    assert (po.requester, po.supplier_id, po.total_amount) == ("alice.requester", "SUP-003", 4760.0)
    assert llm.tool_results()["po"]["number"] == po.number
    [execution] = world.executions(turn.thread_id)
    assert (execution["status"], execution["replayed"]) == ("completed", False)
    assert (execution["approval_id"], execution["args_digest"]) == (request.id, request.args_digest)
    kinds = world.kinds(turn.thread_id)
    assert kinds.index("approval_requested") < kinds.index("approval_final") < kinds.index("execution")
    # Each turn reports its own events: the pause up to the approval request, the resume from there.
    assert [e.kind for e in turn.events] == ["request", "decision", "approval_requested"]
    assert [e.kind for e in done.events] == ["decision", "execution", "response"]
    [vote] = world.events(turn.thread_id, "approval_vote")
    assert (vote.actor, vote.payload["channel"], vote.payload["comment"]) == (
        "grace.procure",
        "test",
        "ok from grace.procure",
    )
    assert world.deps.audit.verify().ok


def test_the_requester_cannot_approve_their_own_call(world: World, llm: ScriptedLLM) -> None:
    turn = ask_for_po(world, llm, 40, actor="grace.procure")
    [request] = turn.pending

    with pytest.raises(SelfApproval):
        world.approve(request.id, "grace.procure")

    assert world.deps.approvals.get(request.id).status is ApprovalStatus.PENDING  # type: ignore[union-attr]
    assert [v["refusal"] for v in refused_votes(world, turn.thread_id)] == ["SelfApproval"]
    assert world.session.resume(turn.thread_id).answer is None  # still waiting, nothing ran
    assert world.new_purchase_orders() == []

    world.approve(request.id, "leo.procure2")
    llm.queue(answer("Ordered."))
    world.session.resume(turn.thread_id)
    [po] = world.new_purchase_orders()
    assert po.requester == "grace.procure"


def test_a_wrong_role_cannot_approve(world: World, llm: ScriptedLLM) -> None:
    turn = ask_for_po(world, llm, 40)
    [request] = turn.pending

    for outsider in ("heidi.finance", "frank.warehouse", "judy.cio"):
        with pytest.raises(NotEntitled):
            world.approve(request.id, outsider)

    assert world.deps.approvals.get(request.id).status is ApprovalStatus.PENDING  # type: ignore[union-attr]
    refused = refused_votes(world, turn.thread_id)
    assert [(v["approver"], v["refusal"]) for v in refused] == [
        ("heidi.finance", "NotEntitled"),
        ("frank.warehouse", "NotEntitled"),
        ("judy.cio", "NotEntitled"),
    ]
    assert world.session.resume(turn.thread_id).answer is None
    assert world.new_purchase_orders() == []


def test_two_person_rule_needs_two_people_even_if_one_holds_both_roles(
    make_world: Any, llm: ScriptedLLM, tmp_path: Path
) -> None:
    both = {
        "id": "mona.both",
        "display_name": "Mona Both",
        "roles": ["procurement_manager", "finance_controller"],
        "slack_user_id": "U0MONA01",
        "email": "mona.both@example.com",
        "manager": "judy.cio",
    }
    world: World = make_world(settings={"directory_file": directory_with([both], tmp_path / "people.yaml")})
    turn = ask_for_po(world, llm, 220)  # 26,180: over 25,000
    [request] = turn.pending
    assert sorted(r.roles for r in request.requirements) == [
        ("finance_controller",),
        ("procurement_manager",),
    ]

    after = world.approve(request.id, "mona.both")
    assert after.status is ApprovalStatus.PENDING
    with pytest.raises(AlreadyVoted):
        world.approve(request.id, "mona.both")
    assert world.session.resume(turn.thread_id).answer is None
    assert world.new_purchase_orders() == []

    final = world.approve(request.id, "grace.procure")
    assert final.status is ApprovalStatus.APPROVED
    llm.queue(answer("Ordered 220 monitors."))
    world.session.resume(turn.thread_id)

    [po] = world.new_purchase_orders()
    assert po.total_amount == 26180.0
    [event] = world.events(turn.thread_id, "approval_final")
    assert sorted(event.payload["approvers"]) == ["grace.procure", "mona.both"]
    assert len(world.executions(turn.thread_id)) == 1


def test_an_expired_request_counts_as_rejected(world: World, llm: ScriptedLLM) -> None:
    turn = ask_for_po(world, llm, 40)
    [request] = turn.pending

    world.clock.advance(hours=24, seconds=1)
    with pytest.raises(RequestClosed):
        world.approve(request.id, "grace.procure")
    llm.queue(answer("Nobody approved the order in time."))
    done = world.session.resume(turn.thread_id)

    assert done.answer == "Nobody approved the order in time."
    told = llm.tool_results()["po"]
    assert told["status"] == "expired"
    assert "expired after 24h" in told["reason"]
    assert told["approval_id"] == request.id
    assert world.new_purchase_orders() == []
    assert world.executions(turn.thread_id) == []
    [final] = world.events(turn.thread_id, "approval_final")
    assert final.payload["status"] == "expired"


def test_edit_within_authority_runs_exactly_the_edited_arguments(world: World, llm: ScriptedLLM) -> None:
    turn = ask_for_po(world, llm, 40)
    [request] = turn.pending

    edited = world.approve(request.id, "grace.procure", edited_args=po_args(20))
    assert edited.status is ApprovalStatus.APPROVED
    assert edited.args_digest == args_digest(edited.args) != request.args_digest
    llm.queue(answer("Ordered 20 monitors instead of 40."))
    world.session.resume(turn.thread_id)

    [po] = world.new_purchase_orders()
    assert (po.lines[0].quantity, po.total_amount) == (20, 2380.0)
    assert llm.tool_results()["po"]["number"] == po.number
    [execution] = world.executions(turn.thread_id)
    assert execution["args_digest"] == edited.args_digest
    recheck = [e.payload for e in world.events(turn.thread_id, "decision") if e.payload["stage"] == "recheck"]
    assert [(d["args_digest"], d["args"]["total_amount"]) for d in recheck] == [(edited.args_digest, 2380.0)]
    [vote] = world.events(turn.thread_id, "approval_vote")
    assert vote.payload["edited"] is True
    assert vote.payload["replaced_args_digest"] == request.args_digest


def test_edit_beyond_authority_stays_pending(world: World, llm: ScriptedLLM) -> None:
    turn = ask_for_po(world, llm, 40)
    [request] = turn.pending

    edited = world.approve(request.id, "grace.procure", edited_args=po_args(220))  # now over 25,000

    assert edited.status is ApprovalStatus.PENDING
    assert "finance_controller" in edited.status_reason
    assert world.session.resume(turn.thread_id).answer is None
    assert world.new_purchase_orders() == []

    world.approve(request.id, "heidi.finance")
    llm.queue(answer("Ordered 220 monitors."))
    world.session.resume(turn.thread_id)
    [po] = world.new_purchase_orders()
    assert po.total_amount == 26180.0
    [execution] = world.executions(turn.thread_id)
    assert execution["args_digest"] == args_digest(po_args(220))


def test_a_rejection_reason_reaches_the_model(world: World, llm: ScriptedLLM) -> None:
    turn = ask_for_po(world, llm, 40)
    [request] = turn.pending
    reason = "Monitors come from the framework contract with SUP-001"

    world.reject(request.id, "grace.procure", reason)
    llm.queue(answer("Grace rejected the order: use the framework contract."))
    done = world.session.resume(turn.thread_id)

    assert done.answer == "Grace rejected the order: use the framework contract."
    [message] = [m for m in llm.requests[-1]["messages"] if m["role"] == "tool"]
    assert message["tool_call_id"] == "po"
    assert reason in message["content"]
    assert llm.tool_results()["po"]["status"] == "rejected"
    assert world.new_purchase_orders() == []
    assert world.executions(turn.thread_id) == []
