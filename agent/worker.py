"""The worker: background work leased from the database, so a click or a Slack event returns at once.

Each sweep (:meth:`Worker.run_once`):

- expires approvals past their time limit and queues a resume of their threads (the thread then gets
  the expiry as a rejection);
- leases due work from :class:`governance.work.WorkQueue`, one item at a time, and does it:

  ``resume`` (subject: a thread id)
      :meth:`Operations.resume <agent.operations.Operations.resume>`. Queued by a vote that made the
      thread's approvals final, by an expiry, and by a send or resume that the planner or a
      notification stopped part-way (so failed notifications are sent again, with backoff). A thread
      that no longer waits, or still waits for a vote, is done (a later vote queues it again).
  ``oversight`` (subject: ``oversight``)
      :meth:`OversightService.run_pass <agent.operations.oversight.OversightService.run_pass>`:
      announces new veto windows, reminds and escalates undecided approvals, runs every monitor of
      the policy (a trip is audited, notified, counted, and may restrict later calls); then queues
      itself again ``oversight_interval_s`` later. A send that opened a veto window queues it at once.
      A veto window that ended without a veto is settled (approved) like an expiry, and its thread
      resumed: the call then runs, once, through the executions ledger.
  ``slack-turn`` (subject: an ask of ``agent.slack.store``)
      the turn of a message asked in Slack (:class:`agent.slack.conversation.Conversations`): the
      Slack routes only record it and answer Slack, so acknowledging stays quick and a process dying
      loses nothing asked. A worker taking it over continues the turn rather than asking twice.
  ``slack-forget`` (subject: ``slack-forget``), where a Slack bot token is set
      forgets Slack event ids, finished asks, spent step-up links and the poster's claims of events
      already posted, older than ``slack_retention_hours`` (:meth:`agent.slack.store.SlackStore.forget`);
      then queues itself again an hour later.
  ``publish-head`` (subject: ``audit``)
      writes the audit chain's head (``{"seq", "hash", "at"}``, as ``opslayer audit head --json``
      prints it, plus the time) atomically to ``settings.published_head_file``, outside the chain, so a
      truncated or rewritten chain is caught (``opslayer audit verify --head``); then queues itself
      again ``head_publish_interval_s`` later. It refuses to overwrite a published head the chain no
      longer holds: that file is the evidence.

Any number of workers, in any number of processes and machines, share one queue: the lease keeps two
of them from resuming one thread at once (LangGraph checkpoints must not be written by two processes
for one thread), and a worker killed mid-resume leaves its item to the next worker once the lease runs
out. A lease is renewed every third of ``worker_lease_s`` while its work runs. Doing a resume twice is
harmless: the executions ledger keeps every side effect to one.

A failed item is retried with backoff, and after its last attempt is dead, with its error, audited as
``work_dead``. One bad item never stops the loop.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from agent.operations import Operations
from agent.settings import Settings
from governance.approvals import ApprovalStatus, approval_requests
from governance.audit import ChainHead, audit_events
from governance.work import (
    OVERSIGHT,
    PUBLISH_HEAD,
    RESUME,
    SLACK_FORGET,
    SLACK_TURN,
    WorkItem,
    WorkQueue,
    WorkState,
)

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement, Engine

    from agent.run.session import TurnResult
    from agent.slack.conversation import Conversations
    from agent.slack.store import SlackStore

log = logging.getLogger("opslayer.worker")

HEAD_SUBJECT = "audit"
WORK_DEAD = "work_dead"
"""Audit event kind of a piece of work whose attempts are used up."""

_SWEEP_LIMIT = 100  # items one sweep runs at most, so expiry is looked at between long batches
_MAX_PAUSE_S = 30.0  # the longest wait after sweeps that failed in a row
_STOP_CHECK_S = 0.2  # how often a long pause looks at the stop event
_SLACK_FORGET_EVERY = timedelta(hours=1)
_EXPIRY_MARGIN = timedelta(minutes=2)  # re-read expiries this far back: another process may commit late


class HeadNotHeld(RuntimeError):
    """The chain no longer holds the head published earlier: events were deleted or rewritten."""


class Worker:
    """Does the queued work of one database; ``operations`` and ``clock`` replace what the settings
    would build (tests). ``worker_id`` names the worker in leases and logs (default: host-pid-random)."""

    def __init__(
        self,
        settings: Settings,
        *,
        operations: Operations | None = None,
        worker_id: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings
        self._clock = clock or (lambda: datetime.now(UTC))
        self.operations = operations if operations is not None else Operations(settings, clock=self._clock)
        self.id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._lease_for = timedelta(seconds=settings.worker_lease_s)
        self._started = False
        self._expiry_mark: datetime | None = None
        self._expiries_seen: dict[str, datetime] = {}
        self._wake = threading.Event()
        self.operations.on_work_queued(self._wake.set)

    @property
    def queue(self) -> WorkQueue:
        return self.operations.stores.work

    @cached_property
    def _engine(self) -> Engine:
        return self.operations.stores.every_table()  # the sweeps read the approvals and the trail

    # --- the loop -----------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Sweep until ``stop`` is set, waiting ``worker_poll_s`` whenever a sweep found nothing to do."""
        log.info("worker %s started", self.id)
        failures = 0
        while not stop.is_set():
            try:
                finished = self.run_once()
                failures = 0
            except Exception:  # the database went away, say: keep trying, ever less often
                failures += 1
                log.exception("worker %s: sweep failed (%d in a row)", self.id, failures)
                finished = 0
            if not finished:
                self._pause(min(self.settings.worker_poll_s * 2 ** min(failures, 10), _MAX_PAUSE_S), stop)
        log.info("worker %s stopped", self.id)

    def _pause(self, seconds: float, stop: threading.Event) -> None:
        """Wait ``seconds``, less when this process queues work or ``stop`` is set."""
        deadline = time.monotonic() + seconds
        while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
            if self._wake.wait(min(left, _STOP_CHECK_S)):
                break
        self._wake.clear()

    def run_once(self) -> int:
        """One sweep: expire due approvals (queueing their threads), then run due work; how many items
        it finished (retried ones not counted)."""
        if not self._started:  # publish and oversee at start, then every interval
            self.queue.enqueue(PUBLISH_HEAD, HEAD_SUBJECT)
            self.queue.enqueue(OVERSIGHT, OVERSIGHT)
            if self.settings.slack_bot_token is not None:
                self.queue.enqueue(SLACK_FORGET, SLACK_FORGET)
            self._started = True
        self._queue_expired()
        finished = 0
        for _ in range(_SWEEP_LIMIT):
            leased = self.queue.lease(self.id, limit=1, lease_for=self._lease_for)
            if not leased:
                break
            finished += self._run(leased[0])
        return finished

    def _run(self, item: WorkItem) -> int:
        try:
            with self._renewing(item):
                self._do(item)
        except Exception as exc:
            self._failed(item, exc)
            return 0
        if not self.queue.complete(item, self.id):
            log.warning(
                "worker %s: lost the lease of %s %s before finishing it", self.id, item.kind, item.subject
            )
        return 1

    def _do(self, item: WorkItem) -> None:
        if item.kind == RESUME:
            self._resume(item.subject)
        elif item.kind == PUBLISH_HEAD:
            self._publish_head()
        elif item.kind == OVERSIGHT:
            self._oversee()
        elif item.kind == SLACK_TURN:
            self._slack_turns.run(item.subject)
        elif item.kind == SLACK_FORGET:
            self._forget_slack()
        else:
            raise UnknownWork(f"no such kind of work: {item.kind!r}")

    def _failed(self, item: WorkItem, exc: Exception) -> None:
        from agent.run.errors import BadThreadId, OpslayerError

        error = f"{type(exc).__name__}: {exc}"
        known = isinstance(exc, OpslayerError | HeadNotHeld)
        log.error(
            "worker %s: %s %s failed (attempt %d): %s",
            self.id,
            item.kind,
            item.subject,
            item.attempts,
            error,
            exc_info=not known,  # a bug: keep its traceback
        )
        if isinstance(exc, BadThreadId | UnknownWork):
            after = self.queue.give_up(item, self.id, error)
        else:
            after = self.queue.retry(item, self.id, error)
        if after is not None and after.state is WorkState.DEAD:
            payload = {"work": item.kind, "subject": item.subject, "attempts": after.attempts, "error": error}
            thread = item.subject if item.kind == RESUME else None
            self.operations.stores.audit.append(WORK_DEAD, {**payload, "worker": self.id}, thread_id=thread)

    def _renewing(self, item: WorkItem) -> AbstractContextManager[None]:
        """Renew the lease every third of its length while the work runs."""
        return self.queue.renewing(item, self.id, lease_for=self._lease_for)

    def resume_now(self, thread: str) -> TurnResult | None:
        """Resume ``thread`` here and now under its work lease, as a worker would (the CLI after a vote,
        or ``chat --resume``): None when a worker elsewhere holds it. A thread has one writer at a
        time (LangGraph checkpoints require it). The turn's errors reach the caller; one that may pass
        leaves the work queued for a retry, as a worker's would."""
        from agent.run.errors import ThreadNotWaiting, UnknownThread

        item = self.queue.lease_now(RESUME, thread, self.id, lease_for=self._lease_for)
        if item is None:
            return None
        try:
            with self._renewing(item):
                result = self.operations.resume(thread)
        except (ThreadNotWaiting, UnknownThread):
            self.queue.complete(item, self.id)  # nothing to resume: nothing left to do either
            raise
        except Exception as exc:
            self._failed(item, exc)
            raise
        self.queue.complete(item, self.id)
        return result

    # --- kinds of work ------------------------------------------------------------------------------

    def _resume(self, thread: str) -> None:
        from agent.run.errors import ThreadNotWaiting, UnknownThread

        ops = self.operations
        if ops.stores.approvals.list(status=ApprovalStatus.PENDING, thread_id=thread):
            return  # still waiting for a vote; the vote that settles it queues the thread again
        try:
            ops.resume(thread)
        except (ThreadNotWaiting, UnknownThread):
            return  # resumed already (by another worker, or by hand), or never existed

    @cached_property
    def _slack_store(self) -> SlackStore:
        from agent.slack.store import SlackStore

        return SlackStore(self._engine, clock=self._clock)

    @cached_property
    def _slack_turns(self) -> Conversations:
        from agent.slack import web_client
        from agent.slack.conversation import Conversations

        client = web_client(self.settings)
        return Conversations(
            self.operations, self._slack_store, client, clock=self._clock, resume=self.resume_now
        )

    def _forget_slack(self) -> None:
        now = self._clock()
        gone = self._slack_store.forget(now - timedelta(hours=self.settings.slack_retention_hours))
        if gone:
            log.info("worker %s: forgot %d Slack rows past their retention", self.id, gone)
        self.queue.enqueue(SLACK_FORGET, SLACK_FORGET, due_at=now + _SLACK_FORGET_EVERY)

    def _oversee(self) -> None:
        report = self.operations.oversight.run_pass()
        for trip in report.tripped:
            log.info("worker %s: %s", self.id, trip.describe())
        interval = timedelta(seconds=self.settings.oversight_interval_s)
        self.queue.enqueue(OVERSIGHT, OVERSIGHT, due_at=self._clock() + interval)

    def _publish_head(self) -> None:
        path = self.settings.published_head_file
        if path.exists():
            self._check_still_held(read_published_head(path))
        head = self.operations.stores.audit.head()
        write_published_head(path, head, at=self._clock())
        interval = timedelta(seconds=self.settings.head_publish_interval_s)
        self.queue.enqueue(PUBLISH_HEAD, HEAD_SUBJECT, due_at=self._clock() + interval)

    def _check_still_held(self, published: ChainHead) -> None:
        if published.seq == 0:
            return
        query = select(audit_events.c.hash).where(audit_events.c.seq == published.seq)
        with self._engine.connect() as conn:
            found = conn.execute(query).scalar()
        if found != published.hash:
            what = "lacks" if found is None else "has another hash at"
            raise HeadNotHeld(
                f"the audit chain {what} the published head {published}: events were deleted or rewritten; "
                f"{self.settings.published_head_file} is kept as it is (check with `opslayer audit verify`)"
            )

    # --- expiry -------------------------------------------------------------------------------------

    def _queue_expired(self) -> None:
        """Queue a resume of every thread with an approval that expired (here, or in any process that
        read it after its time) or was decided, once per worker; the due ones are queued before they are
        expired, so a crash in between still resumes them (the resume expires them). A vote queues its
        own resume; reading decisions again covers a process that died between its vote and the queueing
        (a thread no longer waiting makes that resume a no-op)."""
        now = self._clock()
        columns = approval_requests.c
        due = self._requests(columns.status == ApprovalStatus.PENDING.value, columns.expires_at <= _iso(now))
        for request_id, thread in due:
            self.queue.enqueue(RESUME, thread)
            self._expiries_seen[request_id] = now
        if due:
            self.operations.stores.approvals.expire_due(now)
        since = self._expiry_mark or now - timedelta(hours=self.settings.approval_ttl_hours)
        final = (ApprovalStatus.EXPIRED, ApprovalStatus.REJECTED, ApprovalStatus.APPROVED)
        expired = self._requests(
            columns.status.in_([status.value for status in final]),
            columns.consumed_by.is_(None),  # an approval an execution consumed: its thread went on
            columns.decided_at >= _iso(since),
        )
        for request_id, thread in expired:
            if request_id not in self._expiries_seen:
                self.queue.enqueue(RESUME, thread)
                self._expiries_seen[request_id] = now
        self._expiry_mark = now - _EXPIRY_MARGIN
        self._expiries_seen = {i: at for i, at in self._expiries_seen.items() if at >= self._expiry_mark}

    def _requests(self, *conditions: ColumnElement[bool]) -> list[tuple[str, str]]:
        query = select(approval_requests.c.id, approval_requests.c.thread_id).where(*conditions)
        with self._engine.connect() as conn:
            return [(row.id, row.thread_id) for row in conn.execute(query)]


class UnknownWork(ValueError):
    """A work item of a kind this worker does not do (written by a newer opslayer?)."""


def write_published_head(path: Path, head: ChainHead, *, at: datetime) -> None:
    """Write ``head`` to ``path`` atomically (a temporary file beside it, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"seq": head.seq, "hash": head.hash, "at": _iso(at)}) + "\n"
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:6]}.tmp")
    try:
        with temporary.open("w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def read_published_head(path: Path) -> ChainHead:
    """The head a worker published to ``path``; ValueError naming what is wrong with the file."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        return ChainHead.parse(f"{document['seq']}:{document['hash']}")
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f'{path} is not a published audit head ({{"seq", "hash", "at"}}): {exc}') from exc


def _iso(moment: datetime) -> str:
    """As the governance stores write times (UTC, microseconds), so text comparison orders them."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")
