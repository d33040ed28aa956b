"""What one worker does: resumes a thread once a vote made its approvals final (and not before),
expires approvals and resumes with the rejection, re-sends a failed notification with backoff, gives
up on work that keeps failing (audited, visible), publishes the audit head outside the chain and
refuses to overwrite a head the chain lost; one bad item never stops the loop."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete

from agent.operations import Operations
from agent.run.errors import NotificationFailed
from agent.run.notifier import Notification
from agent.settings import Settings
from agent.slack.store import SlackStore
from agent.wiring import governance_engine
from agent.worker import Worker, read_published_head
from governance.approvals import ApprovalStatus
from governance.audit import audit_events
from governance.executions import ExecutionStatus
from governance.work import PUBLISH_HEAD, RESUME, SLACK_FORGET, WorkState
from tests.worker.conftest import WRITE_OFF, WRITE_OFF_APPROVES, WRITE_OFF_ASKS, Clock, MakeSettings

NOTE = "add a note to INC0010047 saying checked the pool"  # notify tier


@dataclass
class FlakyNotifier:
    """Fails the first ``failures`` notifications, then delivers."""

    failures: int
    sent: list[Notification] = field(default_factory=list)

    def send(self, notification: Notification) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("chat server unreachable")
        self.sent.append(notification)


WRITES = {"inventory_adjust_stock", "itsm_add_work_note", "procurement_create_purchase_order"}


def _completed(ops: Operations, thread: str) -> list[str]:
    """The writes that ran in the thread (reads and notifications left out)."""
    return [
        e.tool
        for e in ops.executions(thread=thread)
        if e.status is ExecutionStatus.COMPLETED and e.tool in WRITES and not e.key.startswith("notify:")
    ]


def _kinds(ops: Operations, thread: str) -> list[str]:
    return [str(e.kind) for e in ops.audit_events(thread=thread)]


def test_a_thread_is_resumed_once_its_approval_is_final(ops: Operations, worker: Worker) -> None:
    [request] = ops.send(WRITE_OFF, actor=WRITE_OFF_ASKS).pending
    worker.run_once()  # nothing to resume yet
    assert _completed(ops, request.thread_id) == []

    outcome = ops.vote(request.id, voter=WRITE_OFF_APPROVES, approve=True, channel="api")
    item = ops.stores.work.get(RESUME, request.thread_id)
    assert outcome.can_resume and item is not None and item.state is WorkState.PENDING  # queued by the vote
    assert worker.run_once() == 1

    assert _completed(ops, request.thread_id) == ["inventory_adjust_stock"]
    assert _kinds(ops, request.thread_id)[-1] == "response"
    done = ops.stores.work.get(RESUME, request.thread_id)
    assert done is not None and done.state is WorkState.DONE
    assert worker.run_once() == 0 and ops.stores.work.leased() == []


def test_a_decision_whose_process_died_before_queueing_the_resume_is_still_resumed(
    ops: Operations, worker: Worker
) -> None:
    [request] = ops.send(WRITE_OFF, actor=WRITE_OFF_ASKS).pending
    approver = ops.governance.directory.actor(WRITE_OFF_APPROVES)
    ops.stores.approvals.vote(request.id, approver=approver, approve=True, channel="api")  # no queueing
    assert ops.stores.work.get(RESUME, request.thread_id) is None

    assert worker.run_once() == 1
    assert _completed(ops, request.thread_id) == ["inventory_adjust_stock"]
    assert worker.run_once() == 0


def test_a_rejected_thread_is_answered_with_the_rejection(ops: Operations, worker: Worker) -> None:
    [request] = ops.send(WRITE_OFF, actor=WRITE_OFF_ASKS).pending
    ops.vote(request.id, voter=WRITE_OFF_APPROVES, approve=False, channel="api", reason="recount first")

    assert worker.run_once() == 1
    assert _completed(ops, request.thread_id) == []
    [answer] = ops.audit_events(thread=request.thread_id, kinds=["response"])
    assert "recount first" in answer.payload["text"]


def test_a_thread_still_waiting_for_a_vote_is_not_resumed(ops: Operations, worker: Worker) -> None:
    """The order needs two approvers; after one vote a queued resume finds it still waiting and leaves it."""
    turn = ops.send("order 40 laptops for the Berlin office", actor="alice.requester")
    [request] = turn.pending
    outcome = ops.vote(request.id, voter="grace.procure", approve=True, channel="api")
    ops.stores.work.enqueue(RESUME, turn.thread_id)  # as a stray or early enqueue would

    assert not outcome.can_resume
    assert worker.run_once() == 1
    assert ops.waiting_for(turn.thread_id) == [request.id] and _completed(ops, turn.thread_id) == []
    ops.vote(request.id, voter="heidi.finance", approve=True, channel="api")
    assert worker.run_once() == 1
    assert _completed(ops, turn.thread_id) == ["procurement_create_purchase_order"]


def test_approvals_past_their_time_are_expired_and_their_threads_answered(
    ops: Operations, worker: Worker, clock: Clock
) -> None:
    [request] = ops.send(WRITE_OFF, actor=WRITE_OFF_ASKS).pending
    worker.run_once()
    clock.advance(hours=25)  # requests live 24 hours

    worker.run_once()

    expired = ops.stores.approvals.get(request.id)
    assert expired is not None and expired.status is ApprovalStatus.EXPIRED
    assert _completed(ops, request.thread_id) == [] and _kinds(ops, request.thread_id)[-1] == "response"


def test_the_approval_lifetime_is_the_setting(make_settings: MakeSettings, clock: Clock) -> None:
    settings = make_settings(approval_ttl_hours=2)
    ops = Operations(settings, clock=clock)
    worker = Worker(settings, operations=ops, worker_id="w1", clock=clock)
    [request] = ops.send(WRITE_OFF, actor=WRITE_OFF_ASKS).pending
    assert request.expires_at - request.created_at == timedelta(hours=2)
    clock.advance(hours=1)
    worker.run_once()
    assert ops.stores.approvals.get(request.id).status is ApprovalStatus.PENDING  # type: ignore[union-attr]
    clock.advance(hours=1, minutes=1)
    worker.run_once()
    assert ops.stores.approvals.get(request.id).status is ApprovalStatus.EXPIRED  # type: ignore[union-attr]


def test_a_worker_with_a_slack_token_forgets_slack_rows_past_their_retention_every_hour(
    make_settings: MakeSettings, clock: Clock
) -> None:
    settings = make_settings(slack_bot_token="xoxb-test", slack_retention_hours=2)
    worker = Worker(settings, operations=Operations(settings, clock=clock), worker_id="w1", clock=clock)
    slack = SlackStore(governance_engine(settings), clock=clock)
    assert slack.first_delivery("Ev01")
    worker.run_once()  # the first pass, at start: nothing is old yet
    clock.advance(minutes=45)
    assert slack.first_delivery("Ev02")

    clock.advance(hours=1, minutes=20)
    worker.run_once()
    assert slack.first_delivery("Ev01") and not slack.first_delivery("Ev02")  # 2h05 old: gone; 1h20: kept
    clock.advance(minutes=50)
    worker.run_once()  # Ev02 is past its retention now, but the next pass is not due for ten minutes
    assert not slack.first_delivery("Ev02")
    clock.advance(minutes=10)
    worker.run_once()
    assert slack.first_delivery("Ev02")
    item = worker.queue.get(SLACK_FORGET, SLACK_FORGET)
    assert item is not None and item.due_at == clock.now + timedelta(hours=1)


def test_a_worker_without_a_slack_token_does_not_forget_slack_rows(ops: Operations, worker: Worker) -> None:
    worker.run_once()
    assert worker.queue.get(SLACK_FORGET, SLACK_FORGET) is None


def test_an_approval_another_process_expired_still_gets_its_thread_resumed(
    make_settings: MakeSettings, clock: Clock
) -> None:
    """Reading the queue (an API server listing approvals) expires due requests; the worker notices."""
    settings = make_settings()
    ops = Operations(settings, clock=clock)
    [request] = ops.send(WRITE_OFF, actor=WRITE_OFF_ASKS).pending
    clock.advance(hours=25)
    assert ops.approvals() == []  # expired on reading, by a process that is not a worker

    worker = Worker(settings, worker_id="w1", clock=clock)
    assert worker.run_once() >= 1
    assert _kinds(ops, request.thread_id)[-1] == "response" and _completed(ops, request.thread_id) == []


def test_a_failed_notification_is_sent_again_with_backoff(make_settings: MakeSettings, clock: Clock) -> None:
    settings = make_settings()
    notifier = FlakyNotifier(failures=2)
    ops = Operations(settings, clock=clock, notifier=notifier)
    worker = Worker(settings, operations=ops, worker_id="w1", clock=clock)
    worker.run_once()

    with pytest.raises(NotificationFailed):
        ops.send(NOTE, actor="carol.desk")
    [thread] = {e.thread_id for e in ops.audit_events(kinds=["request"])}
    assert worker.run_once() == 0  # queued by the failed send, not due yet
    clock.advance(seconds=1)
    assert worker.run_once() == 0  # the resume's notification failed again: retried later
    item = ops.stores.work.get(RESUME, str(thread))
    assert (
        item is not None and item.state is WorkState.PENDING and "NotificationFailed" in str(item.last_error)
    )
    clock.advance(seconds=1)
    assert worker.run_once() == 1

    assert len(notifier.sent) == 1 and _completed(ops, str(thread)) == ["itsm_add_work_note"]


def test_work_that_keeps_failing_ends_dead_audited_and_the_loop_goes_on(
    make_settings: MakeSettings, clock: Clock
) -> None:
    settings = make_settings()
    ops = Operations(settings, clock=clock, notifier=FlakyNotifier(failures=1000))
    worker = Worker(settings, operations=ops, worker_id="w1", clock=clock)
    with pytest.raises(NotificationFailed):
        ops.send(NOTE, actor="carol.desk")
    ops.stores.work.enqueue("sweep-the-floor", "x")  # a kind no worker knows
    [request] = ops.send(WRITE_OFF, actor=WRITE_OFF_ASKS).pending
    ops.vote(request.id, voter=WRITE_OFF_APPROVES, approve=True, channel="api")

    for _ in range(12):
        worker.run_once()
        clock.advance(minutes=6)

    dead = {(item.kind, item.attempts) for item in ops.stores.work.dead()}
    assert ("sweep-the-floor", 1) in dead and (RESUME, ops.stores.work.max_attempts) in dead
    audited = [e.payload for e in ops.audit_events(kinds=["work_dead"])]
    assert {p["work"] for p in audited} == {RESUME, "sweep-the-floor"}
    assert all("NotificationFailed" in p["error"] for p in audited if p["work"] == RESUME)
    assert _completed(ops, request.thread_id) == ["inventory_adjust_stock"]  # the good item still ran


def test_the_published_head_is_checked_by_verify_and_catches_truncation(
    ops: Operations, worker: Worker, settings: Settings, clock: Clock
) -> None:
    [request] = ops.send(WRITE_OFF, actor=WRITE_OFF_ASKS).pending
    ops.vote(request.id, voter=WRITE_OFF_APPROVES, approve=True, channel="api")
    worker.run_once()
    clock.advance(seconds=settings.head_publish_interval_s)
    worker.run_once()

    published = json.loads(settings.published_head_file.read_text(encoding="utf-8"))
    assert set(published) == {"seq", "hash", "at"}
    head = read_published_head(settings.published_head_file)
    assert head == ops.head() and ops.verify(head=head).ok
    with governance_engine(settings).begin() as conn:  # someone deletes the newest events
        conn.execute(delete(audit_events).where(audit_events.c.seq > head.seq - 3))

    assert not ops.verify(head=head).ok
    clock.advance(seconds=settings.head_publish_interval_s)
    worker.run_once()
    assert read_published_head(settings.published_head_file) == head  # the evidence is kept
    item = ops.stores.work.get(PUBLISH_HEAD, "audit")
    assert item is not None and "HeadNotHeld" in str(item.last_error)


def test_run_loops_until_stopped(make_settings: MakeSettings) -> None:
    settings = make_settings(worker_poll_s=0.02)
    ops = Operations(settings)
    [request] = ops.send(WRITE_OFF, actor=WRITE_OFF_ASKS).pending
    stop = threading.Event()
    worker = Worker(settings, worker_id="w1")
    running = threading.Thread(target=worker.run, args=(stop,))
    running.start()
    try:
        ops.vote(request.id, voter=WRITE_OFF_APPROVES, approve=True, channel="api")
        _wait_for(lambda: _completed(ops, request.thread_id) == ["inventory_adjust_stock"])
    finally:
        stop.set()
        running.join(timeout=60)
    assert not running.is_alive()


def _wait_for(condition: Callable[[], bool], *, within_s: float = 60.0) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, "the worker did not get there"
        time.sleep(0.02)


def test_published_head_file_name_comes_from_the_settings(
    make_settings: MakeSettings, tmp_path: Path
) -> None:
    settings = make_settings(head_file=tmp_path / "elsewhere" / "head.json")
    Worker(settings, worker_id="w1").run_once()
    assert read_published_head(tmp_path / "elsewhere" / "head.json") == Operations(settings).head()


def test_a_vote_wakes_the_worker_of_its_own_process_before_the_next_poll(make_settings: MakeSettings) -> None:
    settings = make_settings(worker_poll_s=600)  # a poll would come far too late for this test
    ops = Operations(settings)
    [request] = ops.send(WRITE_OFF, actor=WRITE_OFF_ASKS).pending
    stop = threading.Event()
    worker = Worker(settings, operations=ops, worker_id="w1")
    running = threading.Thread(target=worker.run, args=(stop,))
    running.start()
    try:
        time.sleep(0.3)  # the first sweep found nothing and the worker waits
        ops.vote(request.id, voter=WRITE_OFF_APPROVES, approve=True, channel="api")
        _wait_for(lambda: _completed(ops, request.thread_id) == ["inventory_adjust_stock"])
    finally:
        stop.set()
        running.join(timeout=5)  # a stop is noticed within a long pause too
    assert not running.is_alive()


def test_resuming_now_takes_the_threads_lease_and_leaves_a_thread_another_worker_holds(
    ops: Operations, worker: Worker
) -> None:
    """The CLI resumes after a vote with ``resume_now``: never while a worker elsewhere holds the thread
    (two writers of one thread's checkpoints), and under the lease when it is free."""
    [request] = ops.send(WRITE_OFF, actor=WRITE_OFF_ASKS).pending
    ops.vote(request.id, voter=WRITE_OFF_APPROVES, approve=True, channel="api")
    thread = request.thread_id
    held = ops.stores.work.lease_now(RESUME, thread, "worker-elsewhere", lease_for=timedelta(minutes=1))
    assert held is not None

    assert worker.resume_now(thread) is None
    assert _completed(ops, thread) == []  # left to the worker holding it

    ops.stores.work.complete(held, "worker-elsewhere")  # that worker stopped without resuming it
    result = worker.resume_now(thread)

    assert result is not None and result.answer
    assert _completed(ops, thread) == ["inventory_adjust_stock"]
    done = ops.stores.work.get(RESUME, thread)
    assert done is not None and done.state is WorkState.DONE and ops.stores.work.leased() == []
