"""Escalation: an undecided request first reminds its approvers, then climbs the managers of the
directory (service desk → dave.incident → judy.cio), each step audited and sent once; escalated
people may approve only when the rule says so; expiry stays as it was."""

from __future__ import annotations

import pytest

from agent.operations import Operations
from agent.settings import Settings
from agent.worker import Worker
from governance.approvals import ApprovalStatus, NotEntitled
from governance.audit import EventKind
from governance.executions import ExecutionStatus
from tests.oversight.conftest import (
    WRITE_OFF,
    WRITE_OFF_ASKS,
    Clock,
    KeptNotifier,
    MakeSettings,
    oversight_policy,
)


def _steps(ops: Operations, thread: str) -> list[tuple[str, int, list[str]]]:
    kinds = [EventKind.APPROVAL_REMINDER, EventKind.APPROVAL_ESCALATED]
    return [
        (e.kind, e.payload["level"], e.payload["people"])
        for e in ops.audit_events(thread=thread, kinds=kinds)
    ]


def _pass(worker: Worker, clock: Clock, **delta: float) -> None:
    clock.advance(**delta)
    worker.run_once()


def test_a_request_is_reminded_then_escalated_through_two_managers_who_may_approve(
    ops: Operations, worker: Worker, clock: Clock, notifier: KeptNotifier
) -> None:
    [request] = ops.send(WRITE_OFF, actor=WRITE_OFF_ASKS).pending  # carol.desk asks; ivan.ops may approve
    thread = request.thread_id

    _pass(worker, clock, minutes=29)
    assert _steps(ops, thread) == []
    _pass(worker, clock, minutes=1)
    assert _steps(ops, thread) == [("approval_reminder", 0, ["ivan.ops"])]
    assert any(request.id in text and "waiting for your decision" in text for text in notifier.to("ivan.ops"))

    _pass(worker, clock, minutes=30)
    assert _steps(ops, thread)[1:] == [("approval_escalated", 1, ["dave.incident"])]
    _pass(worker, clock, minutes=30)  # 1h30: nothing new
    _pass(worker, clock, minutes=30)
    assert _steps(ops, thread)[2:] == [("approval_escalated", 2, ["judy.cio"])]
    _pass(worker, clock, hours=1)  # judy.cio has no manager: the chain ends
    assert len(_steps(ops, thread)) == 3
    assert any("escalated to you. You may approve it." in text for text in notifier.to("judy.cio"))
    assert [r.id for r in ops.approvals(actionable_by="judy.cio")] == [request.id]  # their queue shows it
    assert [r.id for r in ops.approvals(visible_to="judy.cio")] == [request.id]

    outcome = ops.vote(request.id, voter="judy.cio", approve=True, channel="api")  # granted service_desk
    assert outcome.request.status is ApprovalStatus.APPROVED
    worker.run_once()
    done = [e.tool for e in ops.executions(thread=thread) if e.status is ExecutionStatus.COMPLETED]
    assert "inventory_adjust_stock" in done


def test_escalated_people_are_only_informed_unless_the_rule_says_they_may_approve(
    make_settings: MakeSettings, clock: Clock
) -> None:
    policy = oversight_policy()
    for rule in policy["rules"]:
        if rule["id"] == "write-off":
            rule["escalation_may_approve"] = False
    settings: Settings = make_settings(policy)
    ops = Operations(settings, clock=clock)
    worker = Worker(settings, operations=ops, worker_id="w1", clock=clock)
    [request] = ops.send(WRITE_OFF, actor=WRITE_OFF_ASKS).pending

    clock.advance(hours=1)
    worker.run_once()
    [escalated] = ops.audit_events(thread=request.thread_id, kinds=[EventKind.APPROVAL_ESCALATED])
    assert escalated.payload["people"] == ["dave.incident"] and not escalated.payload["may_approve"]
    with pytest.raises(NotEntitled):
        ops.vote(request.id, voter="dave.incident", approve=True, channel="api")

    clock.advance(hours=23)
    worker.run_once()  # expiry is unchanged by escalation
    final = ops.stores.approvals.get(request.id)
    assert final is not None and final.status is ApprovalStatus.EXPIRED


def test_two_workers_remind_once(
    ops: Operations, settings: Settings, clock: Clock, notifier: KeptNotifier
) -> None:
    [request] = ops.send(WRITE_OFF, actor=WRITE_OFF_ASKS).pending
    clock.advance(minutes=45)
    other = Operations(settings, clock=clock, notifier=notifier)

    ops.oversight.run_pass()
    other.oversight.run_pass()

    assert len(ops.audit_events(thread=request.thread_id, kinds=[EventKind.APPROVAL_REMINDER])) == 1
    assert len([t for t in notifier.to("ivan.ops") if "waiting for your decision" in t]) == 1
