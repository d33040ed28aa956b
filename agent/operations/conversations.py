"""Turns and threads: send and resume (one writer per thread), and a thread as its people see it (a
layer of :class:`~agent.operations.Operations`, see :mod:`agent.operations.core`)."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from agent.operations.core import metered_turn
from agent.operations.reviews import Reviews
from agent.operations.views import ThreadView
from agent.run.errors import (
    BadThreadId,
    NotificationFailed,
    PlannerUnavailable,
    ThreadBusy,
    ThreadRunning,
    ThreadWaiting,
    UnknownThread,
)
from governance.approvals import ApprovalStatus
from governance.audit import EventKind
from governance.work import RESUME

if TYPE_CHECKING:  # imported where used: reading the queue stays cheap
    from agent.run.events import TurnListener
    from agent.run.session import TurnResult


class Conversations(Reviews):
    """Turns and threads."""

    @metered_turn("send")
    def send(
        self,
        message: str,
        *,
        actor: str,
        thread: str | None = None,
        new_thread_id: str | None = None,
        channel: str = "cli",
        on_event: TurnListener | None = None,
    ) -> TurnResult:
        """One user turn: a new thread unless ``thread`` names one; the governed run's result.

        ``new_thread_id``: the id the new thread gets (from :func:`make_thread_id`), for a caller that
        records it before the turn runs (the API's idempotency keys); ``BadThreadId`` if a thread of
        that id was ever started. ``on_event`` receives the turn's events while it runs
        (:mod:`agent.run.events`). A turn on an existing thread holds the thread's lease
        (:meth:`_writing`): ``ThreadRunning`` while another turn or a resume runs on it, in any
        process; ``ThreadWaiting`` (naming the pending approvals) while it waits for approval or for its
        resume; ``ThreadStopped`` when a run stopped between its tool calls and their answers."""
        self.person(actor)
        if thread is None:
            thread_id = new_thread_id or make_thread_id()
            if new_thread_id is not None:
                self._check_new_thread(new_thread_id)
            with self._resumed_later_on_failure(thread_id):
                return self.session.send(
                    message, actor_id=actor, thread_id=thread_id, channel=channel, on_event=on_event
                )
        if new_thread_id is not None:
            raise ValueError("send to an existing thread or name a new one, not both")
        _check_thread_id(thread)
        try:
            with self._writing(thread), self._resumed_later_on_failure(thread):
                return self.session.send(
                    message, actor_id=actor, thread_id=thread, channel=channel, on_event=on_event
                )
        except ThreadWaiting:
            raise self._still_waiting(thread) from None

    def _still_waiting(self, thread: str) -> ThreadWaiting:
        """What a thread paused for approval waits for: the requests still pending, or its resume."""
        pending = self.stores.approvals.list(status=ApprovalStatus.PENDING, thread_id=thread)
        ids = tuple(r.id for r in pending)
        if ids:
            return ThreadWaiting(
                f"thread {thread!r} is waiting for approval of {', '.join(ids)}; it takes a new message "
                "once they are approved or rejected and it has resumed",
                approval_ids=ids,
            )
        return ThreadWaiting(
            f"thread {thread!r} must be resumed before it takes a new message (its approvals are decided; "
            "a worker resumes it shortly)"
        )

    def _check_new_thread(self, thread: str) -> None:
        """A new thread's id given by the caller must be new: a turn on an existing thread would run
        without the thread's lease (:meth:`_writing`)."""
        _check_thread_id(thread)
        if self.thread_owner(thread) is not None:
            raise BadThreadId(f"thread {thread!r} exists already: a new thread needs a new id")

    @metered_turn("resume")
    def resume(self, thread: str, *, on_event: TurnListener | None = None) -> TurnResult:
        """Continue a thread whose approvals are final (or whose run stopped part-way); ``on_event`` as
        for :meth:`send`."""
        _check_thread_id(thread)
        with self._resumed_later_on_failure(thread):
            return self.session.resume(thread, on_event=on_event)

    @contextmanager
    def _writing(self, thread: str) -> Iterator[None]:
        """The thread's one writer while the block runs: its resume lease (``governance.work``), which
        workers and ``resume_now`` take too, so two turns never write one thread's checkpoints at once
        (LangGraph requires it), whichever process they run in."""
        work, holder = self.stores.work, f"turn-{uuid.uuid4().hex[:12]}"
        lease_for = timedelta(seconds=self.settings.worker_lease_s)
        lease = work.lease_now(RESUME, thread, holder, lease_for=lease_for)
        if lease is None:
            raise ThreadRunning(
                f"thread {thread!r} is busy with another turn; send again when it has answered"
            )
        refused = False
        try:
            with work.renewing(lease, holder, lease_for=lease_for):
                yield
        except ThreadBusy:  # it waits for approval, or stopped part-way: it is for a resume to continue
            refused = True
            raise
        finally:
            work.complete(lease, holder)
            if refused:  # a resume queued before this turn took the lease stays queued
                work.enqueue(RESUME, thread)

    @contextmanager
    def _resumed_later_on_failure(self, thread: str) -> Iterator[None]:
        """A run the planner or a notification stopped part-way is queued for the worker to resume
        (after a backoff), whichever front end started it; the error still goes to the caller."""
        try:
            yield
        except (NotificationFailed, PlannerUnavailable):
            work = self.stores.work
            work.enqueue(RESUME, thread, due_at=self._clock() + work.backoff(1))
            raise

    def grounding_note(self) -> str | None:
        """Why answers will cite nothing (grounding off, or an empty knowledge store), else None."""
        if not self.settings.grounding:
            return "answers are not grounded: grounding is off (OPSLAYER_GROUNDING=false)"
        from agent.run.grounding import RetrieverGrounder

        grounder = self.session.deps.grounder
        return grounder.note() if isinstance(grounder, RetrieverGrounder) else None

    def waiting_for(self, thread: str) -> list[str]:
        """Approval ids the thread is paused for (empty when it is not paused)."""
        return self.session.pending_approvals(thread)

    def thread(self, thread: str) -> ThreadView:
        """One thread as its people see it; ``UnknownThread`` when nothing was ever said in it."""
        _check_thread_id(thread)
        events = self.audit_events(thread=thread)
        messages = self._messages(thread)
        if not events and not messages:
            raise UnknownThread(thread)
        requests = [e for e in events if e.kind == EventKind.REQUEST]
        return ThreadView(
            thread_id=thread,
            owner=requests[0].actor if requests else None,
            messages=tuple(messages),
            citations=tuple(
                c for e in events if e.kind == EventKind.RETRIEVAL for c in e.payload.get("citations", [])
            ),
            approvals=tuple(self.stores.approvals.list(thread_id=thread)),
            events=tuple(events),
        )

    def thread_owner(self, thread: str) -> str | None:
        """Who started the thread (the actor of its first request), None for a thread nobody started."""
        first = self.audit_query(thread=thread, kinds=[EventKind.REQUEST], limit=1).events
        return first[0].actor if first else None

    def _messages(self, thread: str) -> builtins.list[dict[str, Any]]:
        saved = self.checkpoints.get_tuple({"configurable": {"thread_id": thread}})
        if saved is None:
            return []
        return [_message(m) for m in saved.checkpoint.get("channel_values", {}).get("messages", [])]

    def may_see_thread(self, person_id: str, thread: str) -> bool:
        """Whoever sent a message in it, whoever may see one of its approvals, and auditors."""
        if self.is_auditor(person_id):
            return True
        asked = self.audit_query(thread=thread, kinds=[EventKind.REQUEST], actor=person_id, limit=1)
        if asked.events:
            return True
        return any(self.may_see_approval(person_id, r) for r in self.stores.approvals.list(thread_id=thread))


_MAX_THREAD_ID = 255  # the width of the thread_id columns of the governance tables


def make_thread_id() -> str:
    """An id for a new thread (also for a caller that must know it before the turn runs: ``send``'s
    ``new_thread_id``)."""
    return f"t-{uuid.uuid4().hex[:12]}"


def _check_thread_id(thread: str) -> None:
    if not thread.strip():
        raise BadThreadId("a thread id must not be blank")
    if len(thread) > _MAX_THREAD_ID:
        raise BadThreadId(f"a thread id has at most {_MAX_THREAD_ID} characters, this one {len(thread)}")


def _message(message: Any) -> dict[str, Any]:
    """A checkpointed chat message as plain JSON: role, content, and its tool calls or call id."""
    shown: dict[str, Any] = {"role": message.type, "content": message.content}
    if getattr(message, "tool_calls", None):
        shown["tool_calls"] = [
            {"id": call.get("id"), "name": call.get("name"), "args": call.get("args")}
            for call in message.tool_calls
        ]
    if getattr(message, "tool_call_id", None):
        shown["tool_call_id"] = message.tool_call_id
    return shown
