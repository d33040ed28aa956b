"""Veto windows: a notify call waits its window after the notification, then runs exactly once unless
someone entitled vetoes it (the agent is told why); approving early ends the wait; the window survives
a restart; a veto racing the end of the window has exactly one outcome."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from agent.operations import Operations
from agent.operations.oversight import OversightInvalid
from agent.settings import Settings
from agent.worker import Worker
from governance.approvals import ApprovalStatus, NotEntitled, RequestClosed
from governance.executions import ExecutionStatus
from tests.oversight.conftest import NOTE, NOTE_ASKS, VETOES, WRITE_OFF, WRITE_OFF_ASKS, Clock, KeptNotifier


def _notes_run(ops: Operations, thread: str) -> int:
    return sum(
        1
        for e in ops.executions(thread=thread)
        if e.tool == "itsm_add_work_note"
        and e.status is ExecutionStatus.COMPLETED
        and not e.key.startswith("notify:")
    )


def _kinds(ops: Operations, thread: str) -> list[str]:
    return [str(e.kind) for e in ops.audit_events(thread=thread)]


def test_the_call_waits_its_window_is_announced_then_runs_once(
    ops: Operations, worker: Worker, clock: Clock, notifier: KeptNotifier
) -> None:
    turn = ops.send(NOTE, actor=NOTE_ASKS)
    [request] = turn.pending
    assert request.veto_window and request.expires_at == clock.now + timedelta(minutes=15)
    [window] = ops.audit_events(thread=turn.thread_id, kinds=["veto_window"])
    assert window.payload["request_id"] == request.id
    assert window.payload["ends_at"] == request.expires_at.isoformat(timespec="microseconds")
    [decision] = ops.audit_events(thread=turn.thread_id, kinds=["decision"])[:1]
    assert decision.payload["tier"] == "notify" and decision.payload["veto"]["seconds"] == 900

    worker.run_once()  # the oversight pass the send queued announces the window
    [announcement] = notifier.to(VETOES)
    assert request.id in announcement and "unless someone holding incident_manager vetoes" in announcement
    assert _notes_run(ops, turn.thread_id) == 0

    clock.advance(minutes=14)
    worker.run_once()
    assert _notes_run(ops, turn.thread_id) == 0  # still inside the window

    clock.advance(minutes=1)
    worker.run_once()
    assert _notes_run(ops, turn.thread_id) == 1
    final = ops.stores.approvals.get(request.id)
    assert final is not None and final.status is ApprovalStatus.APPROVED
    assert "ended without a veto" in final.status_reason
    assert _kinds(ops, turn.thread_id)[-1] == "response"

    clock.advance(hours=1)
    worker.run_once()
    assert _notes_run(ops, turn.thread_id) == 1  # exactly once
    assert len(notifier.to(VETOES)) == 2  # the window's announcement, and the note's own notification


def test_a_veto_stops_the_call_and_the_agent_is_told_why(
    ops: Operations, worker: Worker, clock: Clock
) -> None:
    turn = ops.send(NOTE, actor=NOTE_ASKS)
    [request] = turn.pending

    outcome = ops.oversight.veto(request.id, voter=VETOES, reason="pool is <b>not</b> checked", channel="api")
    assert outcome.request.status is ApprovalStatus.REJECTED
    worker.run_once()
    clock.advance(minutes=30)
    worker.run_once()

    assert _notes_run(ops, turn.thread_id) == 0
    [veto] = ops.audit_events(thread=turn.thread_id, kinds=["veto"])
    assert veto.payload == {
        "request_id": request.id,
        "reason": "pool is <b>not</b> checked",
        "tool": "itsm_add_work_note",
    }
    assert veto.actor == VETOES
    [answer] = ops.audit_events(thread=turn.thread_id, kinds=["response"])
    assert "pool is <b>not</b> checked" in answer.payload["text"]


def test_only_people_entitled_may_veto_and_a_veto_needs_a_reason(ops: Operations) -> None:
    [request] = ops.send(NOTE, actor=NOTE_ASKS).pending

    with pytest.raises(NotEntitled):
        ops.oversight.veto(request.id, voter="frank.warehouse", reason="no", channel="api")
    with pytest.raises(Exception, match="needs a reason"):
        ops.oversight.veto(request.id, voter=VETOES, reason=" ", channel="api")
    [approval] = ops.send(WRITE_OFF, actor=WRITE_OFF_ASKS).pending
    with pytest.raises(OversightInvalid, match="not in a veto window"):
        ops.oversight.veto(approval.id, voter="ivan.ops", reason="no", channel="api")


def test_approving_early_ends_the_wait(ops: Operations, worker: Worker) -> None:
    turn = ops.send(NOTE, actor=NOTE_ASKS)
    [request] = turn.pending

    outcome = ops.vote(request.id, voter=VETOES, approve=True, channel="api")
    assert outcome.request.status is ApprovalStatus.APPROVED and outcome.can_resume
    worker.run_once()

    assert _notes_run(ops, turn.thread_id) == 1
    assert "before its veto window ended" in outcome.request.status_reason


def test_the_window_survives_a_restart(settings: Settings, clock: Clock) -> None:
    first = Operations(settings, clock=clock)
    turn = first.send(NOTE, actor=NOTE_ASKS)
    del first  # the process ends while the call waits

    clock.advance(minutes=16)
    later = Operations(settings, clock=clock)
    Worker(settings, operations=later, worker_id="w2", clock=clock).run_once()

    assert _notes_run(later, turn.thread_id) == 1


@pytest.mark.parametrize("attempt", range(6))
def test_a_veto_racing_the_end_of_its_window_has_exactly_one_outcome(
    ops: Operations, clock: Clock, attempt: int
) -> None:
    """The vetoer read the request while it was open; the worker settles the window's end at the same
    moment. One guarded write wins: approved without a veto event, or vetoed with one."""
    [request] = ops.send(NOTE, actor=NOTE_ASKS).pending
    store = ops.stores.approvals
    vetoer = ops.governance.directory.actor(VETOES)
    end = request.expires_at
    start = threading.Barrier(2)
    errors: list[Exception] = []

    def veto() -> None:
        start.wait()
        try:
            store.vote(request.id, approver=vetoer, approve=False, reason="stop", channel="api")
        except RequestClosed as exc:
            errors.append(exc)

    def settle() -> None:
        start.wait()
        store.expire_due(end + timedelta(microseconds=attempt))

    clock.now = end - timedelta(microseconds=1)  # the vetoer's clock: still inside the window
    threads = [threading.Thread(target=veto), threading.Thread(target=settle)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    final = store.get(request.id)
    assert final is not None
    finals = ops.audit_events(thread=request.thread_id, kinds=["approval_final"])
    vetoes = ops.audit_events(thread=request.thread_id, kinds=["veto"])
    assert len(finals) == 1
    if final.status is ApprovalStatus.REJECTED:
        assert len(vetoes) == 1 and not errors
    else:
        assert final.status is ApprovalStatus.APPROVED and vetoes == [] and len(errors) == 1
