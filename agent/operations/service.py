"""The :class:`Operations` class (see the package's docstring)."""

from __future__ import annotations

import builtins
import dataclasses
import functools
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from agent import wiring
from agent.operations import access
from agent.operations.views import (
    ApprovalView,
    AuditPage,
    ExecutionView,
    PolicyInForce,
    ThreadView,
    VoteOutcome,
)
from agent.run.errors import (
    BadThreadId,
    NotificationFailed,
    PlannerUnavailable,
    ThreadBusy,
    ThreadRunning,
    ThreadWaiting,
    UnknownThread,
)
from agent.settings import Settings
from governance.approvals import ApprovalRequest, ApprovalStatus, UnknownRequest, granted_to
from governance.audit import AuditEvent, ChainHead, EventKind, VerifyResult, recording
from governance.decision import Actor
from governance.work import OVERSIGHT, RESUME

if TYPE_CHECKING:  # imported where used: reading the queue stays cheap
    from langgraph.checkpoint.base import BaseCheckpointSaver

    from agent.metrics import Backlog, Metrics
    from agent.operations.oversight import OversightService
    from agent.run.events import TurnListener
    from agent.run.governance import Governance
    from agent.run.session import AgentSession, TurnResult
    from governance.decision import Decision
    from governance.directory import Person
    from governance.executions import ExecutionRecord, ExecutionStatus
    from governance.tokens import IssuedToken, TokenRecord
    from tools.spec import Systems


_log = logging.getLogger("opslayer.operations")
_P = ParamSpec("_P")
_R = TypeVar("_R")
_Method = Callable[Concatenate["Operations", _P], _R]


def _metered(method: _Method[_P, _R]) -> _Method[_P, _R]:
    """Count in ``self.metrics`` what governance did during the call, and the error it raised."""

    @functools.wraps(method)
    def metered(self: Operations, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with self._metering():
            return method(self, *args, **kwargs)

    return metered


def _turn(operation: str) -> Callable[[_Method[_P, TurnResult]], _Method[_P, TurnResult]]:
    """Count and time the turn ``operation`` (send, resume) by outcome, and what governance did in it."""

    def decorate(method: _Method[_P, TurnResult]) -> _Method[_P, TurnResult]:
        @functools.wraps(method)
        def turn(self: Operations, /, *args: _P.args, **kwargs: _P.kwargs) -> TurnResult:
            started, outcome = time.perf_counter(), "error"
            try:
                with self._metering():
                    result = method(self, *args, **kwargs)
                outcome = "waiting" if result.answer is None else "answered"
                return result
            finally:
                self.metrics.observe_turn(operation, outcome, time.perf_counter() - started)

        return turn

    return decorate


class Operations:
    """Send, resume, review approvals, settle executions, read the audit trail, explain, look up people.

    ``model``, ``notifier`` and ``clock`` replace what the settings would build (tests, evals).
    ``metrics`` (a fresh :class:`~agent.metrics.Metrics` by default) counts what goes through it.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        dry_run: bool = False,
        model: Any | None = None,
        notifier: Any | None = None,
        clock: Callable[[], datetime] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self._dry_run = dry_run
        self._model = model
        self._notifier = notifier
        self._clock = clock or (lambda: datetime.now(UTC))
        self._work_listeners: builtins.list[Callable[[], None]] = []
        self._given_metrics = metrics
        if metrics is not None:
            metrics.watch_approvals(self.approval_backlog)

    # --- what is built on first use -----------------------------------------------------------------

    @cached_property
    def governance(self) -> Governance:
        # Restrictions (tripped monitors, autonomy pauses) are read before every decision.
        return dataclasses.replace(wiring.load_governance(self.settings), oversight=self.oversight.in_force)

    @cached_property
    def oversight(self) -> OversightService:
        """Vetoes, the autonomy kill switch, tripped monitors and the worker's oversight pass."""
        from agent.operations.oversight import OversightService

        return OversightService(self)

    @cached_property
    def metrics(self) -> Metrics:
        """What goes through the service, counted (prometheus-client is imported on first use)."""
        if self._given_metrics is not None:
            return self._given_metrics
        from agent.metrics import Metrics

        metrics = Metrics()
        metrics.watch_approvals(self.approval_backlog)
        return metrics

    def now(self) -> datetime:
        """The service's clock (fake in tests and the demo)."""
        return self._clock()

    @property
    def notifier(self) -> Any | None:
        """The notifier given at construction (None: the run's default, which logs)."""
        return self._notifier

    @cached_property
    def stores(self) -> wiring.Stores:
        return wiring.open_stores(self.settings, clock=self._clock)

    @cached_property
    def systems(self) -> Systems:
        return wiring.open_systems(self.settings)

    @cached_property
    def session(self) -> AgentSession:
        """The governed run: chat model, systems, grounding, checkpoints (the expensive part)."""
        from agent.run.session import AgentSession

        deps = wiring.build_agent_deps(
            self.settings,
            dry_run=self._dry_run,
            model=self._model,
            notifier=self._notifier,
            clock=self._clock,
            stores=self.stores,
            governance=self.governance,
        )
        return AgentSession(
            deps,
            self.checkpoints,
            callbacks=[self.metrics.llm_callback()],
            keep_history=self.settings.keep_checkpoint_history,
        )

    @cached_property
    def checkpoints(self) -> BaseCheckpointSaver[Any]:
        """The conversation checkpoints (shared by the session and thread reads)."""
        return wiring.open_checkpointer(self.settings)

    def warm(self) -> None:
        """Build the agent and load its models now (a service process, before it takes work), so the
        first turns do not wait for it: with the demo's knowledge a fresh process's first turn took 4.1 s.
        A failure (a Chroma server not up yet, say) is logged and left to the first turn, which tries
        again."""
        try:
            self.session.warm()
        except Exception:
            _log.exception("could not build the agent ahead of the first turn; the first turn will try again")

    def close(self) -> None:
        """Give back the database connections this service holds (its pools), when the process stops
        serving. Nothing is lost: every write was committed when it was made; used again, the service
        opens what it needs anew."""
        self.__dict__.pop("session", None)  # its graph holds the checkpointer closed below
        checkpoints = self.__dict__.pop("checkpoints", None)
        if checkpoints is not None:
            wiring.close_checkpointer(checkpoints)
        if "stores" in self.__dict__:
            self.stores.engine.dispose()

    # --- metrics ------------------------------------------------------------------------------------

    def approval_backlog(self) -> Backlog:
        """How many approval requests wait, and the age of the oldest (the metrics read it when scraped)."""
        pending, oldest = self.stores.approvals.backlog()
        age = 0.0 if oldest is None else (self._clock() - oldest).total_seconds()
        from agent.metrics import Backlog

        return Backlog(pending=pending, oldest_age_seconds=age)

    @contextmanager
    def _metering(self) -> Iterator[None]:
        """Count the governance steps appended to the audit trail in this block, and its errors."""
        events: list[AuditEvent] = []
        try:
            with recording() as events:
                yield
        except Exception as exc:
            self.metrics.observe_error(exc)
            raise
        finally:
            self.metrics.observe_events(events)
            for event in events:
                if event.kind == EventKind.APPROVAL_FINAL:
                    self._observe_final(str(event.payload.get("request_id")))
            if any(event.kind == EventKind.VETO_WINDOW for event in events):
                self._queue_oversight()  # the veto window's notification goes out at once

    def _queue_oversight(self) -> None:
        self.queue(OVERSIGHT, OVERSIGHT)

    def _observe_final(self, request_id: str) -> None:
        try:
            request = self.stores.approvals.get(request_id)
        except Exception:  # the vote or turn went through: a metric must not turn it into an error
            _log.exception("could not read approval %s for the metrics", request_id)
            return
        if request is not None and request.decided_at is not None:
            seconds = (request.decided_at - request.created_at).total_seconds()
            self.metrics.observe_approval_final(request.status.value, seconds)

    # --- people -------------------------------------------------------------------------------------

    def person(self, person_id: str) -> Person:
        """The person of the directory; ``UnknownPerson`` names the id."""
        return self.governance.directory.get(person_id)

    # --- conversations ------------------------------------------------------------------------------

    @_turn("send")
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

    @_turn("resume")
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

    # --- approvals ----------------------------------------------------------------------------------

    def approvals(
        self,
        *,
        status: ApprovalStatus | str | None = ApprovalStatus.PENDING,
        requester: str | None = None,
        tool: str | None = None,
        actionable_by: str | None = None,
        visible_to: str | None = None,
        limit: int | None = None,
        after: str | None = None,
    ) -> builtins.list[ApprovalRequest]:
        """The queue, oldest first: ``limit`` requests after the request ``after`` (all without a limit).

        ``actionable_by``: only what that person may still vote on, escalations to them included;
        ``visible_to``: only what that person may see. The store reads only requests that may concern
        them, in batches, and the rules of :mod:`agent.operations.access` decide: a page costs about one
        query however long the queue is, also for someone it holds nothing for.
        """
        acting = None if actionable_by is None else self.person(actionable_by)
        seeing = None if visible_to is None else self.person(visible_to)
        if seeing is not None and access.is_auditor(seeing):
            seeing = None  # auditors see every request

        def read(limit: int | None, after: str | None) -> builtins.list[ApprovalRequest]:
            return self.stores.approvals.list(
                status=status,
                requester=requester,
                tool=tool,
                approvable_by=None if acting is None else _actor(acting),
                visible_to=None if seeing is None else _actor(seeing),
                limit=limit,
                after=after,
            )

        def keep(page: builtins.list[ApprovalRequest]) -> builtins.list[ApprovalRequest]:
            if acting is not None:
                page = self.actionable(acting.id, page)
            return page if seeing is None else self.visible(seeing.id, page)

        if limit is None:
            return keep(read(None, after))
        found: builtins.list[ApprovalRequest] = []
        batch = max(2 * limit, 100)
        while True:
            page = read(batch, after)
            found += keep(page)
            if len(found) >= limit or len(page) < batch:
                return found[:limit]
            after = page[-1].id

    def actionable(
        self, person_id: str, requests: Sequence[ApprovalRequest]
    ) -> builtins.list[ApprovalRequest]:
        """Those of ``requests`` the person's approval would count for now (a slot still open that a role of
        theirs fills), escalations to them included (one read)."""
        return self._allowed(person_id, requests, access.may_act)

    def rejectable(
        self, person_id: str, requests: Sequence[ApprovalRequest]
    ) -> builtins.list[ApprovalRequest]:
        """Those of ``requests`` the person may reject now (a qualified approver may reject even once the
        slot their role fills is taken)."""
        return self._allowed(person_id, requests, access.may_reject)

    def visible(self, person_id: str, requests: Sequence[ApprovalRequest]) -> builtins.list[ApprovalRequest]:
        """Those of ``requests`` the person may see, escalations to them included (one read)."""
        return self._allowed(
            person_id, requests, lambda r, p, granted: access.may_see_approval(p, r, granted)
        )

    def _allowed(
        self,
        person_id: str,
        requests: Sequence[ApprovalRequest],
        rule: Callable[[ApprovalRequest, Person, frozenset[str]], bool],
    ) -> builtins.list[ApprovalRequest]:
        person = self.person(person_id)
        nudges = self.stores.approvals.nudges([r.id for r in requests])
        return [r for r in requests if rule(r, person, granted_to(nudges.get(r.id, ()), person.id))]

    def approval(self, request_id: str) -> ApprovalView:
        """One request with its context; ``UnknownRequest`` for an unknown id."""
        request = self.stores.approvals.get(request_id)
        if request is None:
            raise UnknownRequest(f"no approval request {request_id!r}", request_id=request_id)
        events = list(self.stores.audit.events(thread_id=request.thread_id))
        asked = [e for e in events if e.kind == EventKind.REQUEST and _at(e) <= request.created_at]
        cited = [c for e in events if e.kind == EventKind.RETRIEVAL for c in e.payload.get("citations", [])]
        return ApprovalView(
            request=request,
            request_text=str(asked[-1].payload.get("text")) if asked else None,
            citations=tuple(cited),
            history=tuple(e for e in events if _about(e, request.id)),
            still_needed="" if request.final else request.status_reason,
            execution=self._ran_on(request),
        )

    def _ran_on(self, request: ApprovalRequest) -> ExecutionRecord | None:
        """What ran on ``request``. A call that waited out its veto window is a notify call, which uses
        no approval: it is found by its key in the ledger (thread, tool call, the arguments' digest)."""
        from governance.executions import idempotency_key

        key = request.consumed_by
        if key is None and request.veto_window and request.status is ApprovalStatus.APPROVED:
            key = idempotency_key(request.thread_id, request.tool_call_id, request.args_digest)
        return None if key is None else self.stores.executions.get(key)

    @_metered
    def vote(
        self,
        request_id: str,
        *,
        voter: str,
        approve: bool,
        channel: str,
        comment: str | None = None,
        reason: str | None = None,
        edited_args: Mapping[str, Any] | None = None,
        seen_digest: str | None = None,
    ) -> VoteOutcome:
        """Approve, reject (reason required) or edit-and-approve as ``voter``, who always comes from the
        authenticated caller. Refusals raise ``ApprovalError`` (audited); edits that fail validation raise
        ``InvalidArguments``. Resuming the thread is the caller's (or the worker's) next step.

        Front ends that show the arguments pass their ``args_digest`` as ``seen_digest``: if an edit
        replaced them meanwhile, the vote is refused (``ArgumentsChanged``) instead of approving
        arguments the voter never saw. An approval the policy asks to be given signed in (step-up) is
        refused (``StepUpRequired``) from a channel where a click suffices."""
        approver = self.governance.directory.actor(voter)
        request = self.approval(request_id).request
        edited = self._canonical(request.tool, edited_args) if edited_args is not None else None
        after = self.stores.approvals.vote(
            request.id,
            approver=approver,
            approve=approve,
            comment=comment,
            reason=reason,
            channel=channel,
            edited_args=edited,
            redecide=(lambda args: self.redecide(request, args)) if edited is not None else None,
            seen_digest=seen_digest,
            step_up=self.needs_step_up(request),
        )
        waiting = self.stores.approvals.list(status=ApprovalStatus.PENDING, thread_id=after.thread_id)
        if after.final and not waiting:  # durable before the caller hears of it: the worker resumes it
            self.queue(RESUME, after.thread_id)
        return VoteOutcome(request=after, can_resume=after.final and not waiting)

    def needs_step_up(self, request: ApprovalRequest) -> bool:
        """Whether a rule that asked for this approval says ``step_up: true`` (the policy in force): it
        is then approved signed in only (``governance.approvals.SIGNED_IN_CHANNELS``), never by a click
        in chat."""
        rules = {rule.id: rule for rule in self.governance.policy.policy.rules}
        return any(getattr(rules.get(rule_id), "step_up", False) for rule_id in request.rule_ids)

    def queue(self, kind: str, subject: str) -> None:
        """Queue work of ``kind`` (``governance.work``) for the workers, durably before returning; a worker
        of this process starts on it at once."""
        self.stores.work.enqueue(kind, subject)
        for listener in self._work_listeners:
            listener()

    def on_work_queued(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` whenever this process queues work (a worker in the same process wakes up at
        once instead of at its next poll; workers elsewhere find the work when they poll)."""
        self._work_listeners.append(listener)

    def redecide(self, request: ApprovalRequest, args: Mapping[str, Any]) -> Decision:
        """The decision on edited arguments, as the requester's own call at this moment."""
        from agent.run.review import decide_edit
        from governance.decision import DecisionContext

        context = DecisionContext(now=self._clock(), channel=request.channel, thread_id=request.thread_id)
        return decide_edit(
            self.governance,
            self.systems,
            self.stores.usage,
            tool=request.tool,
            args=args,
            requester=request.requester,
            context=context,
        )

    def _canonical(self, tool: str, args: Mapping[str, Any]) -> dict[str, Any]:
        from tools.spec import canonical_args

        return canonical_args(self.governance.registry.get(tool).parse_args(dict(args)))

    # --- executions ---------------------------------------------------------------------------------

    def executions(
        self,
        *,
        status: ExecutionStatus | None = None,
        thread: str | None = None,
        limit: int = 50,
        visible_to: str | None = None,
    ) -> builtins.list[ExecutionRecord]:
        """Executed calls, the most recently started first.

        ``visible_to``: only those that person may see (:meth:`may_see_execution`). For someone who sees
        only some, the ledger is read over the threads they may see, in one query, so the first
        ``limit`` are all there however many other people's calls ran since.
        """
        store = self.stores.executions
        if visible_to is None or self.is_auditor(visible_to) or self.may_settle(visible_to):
            return store.list(status=status, thread_id=thread, limit=limit)
        if thread is not None:
            threads = {thread} if self.may_see_thread(visible_to, thread) else set()
        else:  # as may_see_thread decides: the threads they sent to, and those of approvals they see
            threads = {r.thread_id for r in self.approvals(status=None, visible_to=visible_to)}
            after_seq: int | None = 0
            while after_seq is not None:
                sent = self.audit_query(
                    kinds=[EventKind.REQUEST], actor=visible_to, after_seq=after_seq, limit=1000
                )
                threads.update(e.thread_id for e in sent.events if e.thread_id is not None)
                after_seq = sent.next_seq
        return store.list(status=status, thread_ids=threads, limit=limit)

    def execution(self, key: str, *, visible_to: str | None = None) -> ExecutionView:
        """One execution by key or unique prefix (``UnknownExecution`` / ``AmbiguousKey`` otherwise).

        ``visible_to``: as that person may see the ledger. An execution they may not see is unknown, and
        a prefix is ambiguous only if they may see every execution it matches (unknown otherwise): the
        answer tells them nothing of other people's keys.
        """
        from governance.executions import AmbiguousKey, UnknownExecution
        from governance.executions.settlement import call_decision, settlement_of

        store = self.stores.executions
        try:
            record = store.resolve(key)
        except AmbiguousKey as ambiguous:
            matches = [store.get(k) for k in ambiguous.keys]
            if visible_to is not None and not all(
                m is not None and self.may_see_execution(visible_to, m) for m in matches
            ):
                raise UnknownExecution(key) from None
            raise
        if visible_to is not None and not self.may_see_execution(visible_to, record):
            raise UnknownExecution(key)
        audit = self.stores.audit
        return ExecutionView(
            record=record, decision=call_decision(audit, record), settlement=settlement_of(audit, record)
        )

    def settle(self, key: str, status: ExecutionStatus, *, text: str, operator: str) -> ExecutionRecord:
        """Record what the backend shows for a call a crash left ``started`` (role-checked, audited)."""
        from governance.executions.settlement import settle_execution

        stores = self.stores
        return settle_execution(
            stores.executions,
            stores.audit,
            stores.usage,
            stores.executions.resolve(key).key,
            status,
            text=text,
            operator=self.governance.directory.actor(operator),
            tools=self.governance.registry,
            entitled_roles=self.settings.settle_roles,
        )

    # --- policy -------------------------------------------------------------------------------------

    def explain(
        self, tool: str, raw_args: Mapping[str, Any], *, actor: str, look_up_facts: bool = True
    ) -> tuple[Decision, builtins.list[str]]:
        """The decision ``actor`` would get for this call now, without running anything."""
        from agent.run.review import explain

        return explain(
            self.governance,
            tool=tool,
            raw_args=raw_args,
            actor=self.governance.directory.actor(actor),
            now=self._clock(),
            systems=self.systems if look_up_facts else None,
            usage=self.stores.usage,
        )

    # --- audit --------------------------------------------------------------------------------------

    def audit_events(
        self, *, thread: str | None = None, kinds: Sequence[str] | None = None
    ) -> builtins.list[AuditEvent]:
        return list(self.stores.audit.events(thread_id=thread, kinds=kinds))

    def verify(self, *, head: ChainHead | None = None) -> VerifyResult:
        return self.stores.audit.verify(head=head)

    def head(self) -> ChainHead:
        return self.stores.audit.head()

    # --- threads, read ------------------------------------------------------------------------------

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

    # --- who may see what ---------------------------------------------------------------------------

    def is_auditor(self, person_id: str) -> bool:
        return access.is_auditor(self.person(person_id))

    def may_settle(self, person_id: str) -> bool:
        return access.may_settle(self.person(person_id), self.settings.settle_roles)

    def may_see_approval(self, person_id: str, request: ApprovalRequest) -> bool:
        """The requester, whoever holds a role it asks for or voted on it, auditors, and the people it
        was escalated to with the right to approve."""
        return bool(self.visible(person_id, [request]))

    def may_see_thread(self, person_id: str, thread: str) -> bool:
        """Whoever sent a message in it, whoever may see one of its approvals, and auditors."""
        if self.is_auditor(person_id):
            return True
        asked = self.audit_query(thread=thread, kinds=[EventKind.REQUEST], actor=person_id, limit=1)
        if asked.events:
            return True
        return any(self.may_see_approval(person_id, r) for r in self.stores.approvals.list(thread_id=thread))

    def may_see_execution(self, person_id: str, record: ExecutionRecord) -> bool:
        """Auditors and the settle roles see every execution; others those of threads they may see."""
        if self.is_auditor(person_id) or self.may_settle(person_id):
            return True
        return record.thread_id is not None and self.may_see_thread(person_id, record.thread_id)

    def refused(self, person_id: str | None, *, reason: str, **about: Any) -> None:
        """Record a refused access (``access_denied``): who, why, and what they asked for."""
        self.stores.audit.append(EventKind.ACCESS_DENIED, {"reason": reason, **about}, actor=person_id)

    # --- API tokens ---------------------------------------------------------------------------------

    def create_token(
        self, person_id: str, *, expires_in: timedelta | None, label: str | None = None, by: str | None = None
    ) -> IssuedToken:
        """A new token for a person of the directory (audited; the secret is in the result only)."""
        person = self.person(person_id)
        issued = self.stores.tokens.create(person.id, expires_in=expires_in, label=label)
        payload = {
            "token_id": issued.record.id,
            "person": person.id,
            "expires_at": issued.record.to_dict()["expires_at"],
        }
        self.stores.audit.append(EventKind.TOKEN_CREATED, {**payload, "label": label}, actor=by or person.id)
        return issued

    def tokens(self, *, person: str | None = None) -> builtins.list[TokenRecord]:
        return self.stores.tokens.list(person=person)

    def revoke_token(self, token_id: str, *, by: str, person: str | None = None) -> TokenRecord:
        """Revoke (``person``: only one of theirs; ``NoSuchToken`` otherwise); audited when this call
        revoked it. A token already revoked stays as it was: its ``revoked_by`` names who did."""
        record, revoked = self.stores.tokens.revoke(token_id, by=by, person=person)
        if revoked:
            payload = {"token_id": record.id, "person": record.person}
            self.stores.audit.append(EventKind.TOKEN_REVOKED, payload, actor=by)
        return record

    def authenticate(self, token: str) -> Person:
        """The person a token belongs to: ``TokenError`` for a bad token, ``UnknownPerson`` for a
        token of someone no longer in the directory."""
        return self.signed_in(token)[0]

    def signed_in(self, token: str) -> tuple[Person, TokenRecord]:
        """As :meth:`authenticate`, with the token's record (what a session made with it names)."""
        record = self.stores.tokens.authenticate(token)
        return self.person(record.person), record

    # --- the audit trail, queried -------------------------------------------------------------------

    def requests_since(self, person_id: str, since: datetime, *, nth_newest: int) -> datetime | None:
        """When ``person_id`` sent the ``nth_newest`` of their messages since ``since`` (every channel,
        every process); None when they sent fewer: what a send rate limit needs."""
        audit = self.stores.audit
        return audit.count_recent(actor=person_id, kind=EventKind.REQUEST, since=since, nth_newest=nth_newest)

    def audit_query(
        self,
        *,
        thread: str | None = None,
        kinds: Sequence[str] | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after_seq: int = 0,
        limit: int = 50,
    ) -> AuditPage:
        """Matching events oldest first, ``limit`` at a time from ``after_seq``; ``until`` excluded."""
        events, next_seq = self.stores.audit.query(
            thread_id=thread,
            kinds=kinds,
            actor=actor,
            since=since,
            until=until,
            after_seq=after_seq,
            limit=limit,
        )
        return AuditPage(events=tuple(events), next_seq=next_seq)

    # --- the policy in force ------------------------------------------------------------------------

    def policy(self) -> PolicyInForce:
        compiled = self.governance.policy
        return PolicyInForce(version=compiled.version, document=compiled.policy.model_dump(mode="json"))


_MAX_THREAD_ID = 255  # the width of the thread_id columns of the governance tables


def make_thread_id() -> str:
    """An id for a new thread (also for a caller that must know it before the turn runs: ``send``'s
    ``new_thread_id``)."""
    return f"t-{uuid.uuid4().hex[:12]}"


def _actor(person: Person) -> Actor:
    return Actor(id=person.id, roles=person.roles)


def _check_thread_id(thread: str) -> None:
    if not thread.strip():
        raise BadThreadId("a thread id must not be blank")
    if len(thread) > _MAX_THREAD_ID:
        raise BadThreadId(f"a thread id has at most {_MAX_THREAD_ID} characters, this one {len(thread)}")


def _about(event: AuditEvent, request_id: str) -> bool:
    kinds = (EventKind.APPROVAL_REQUESTED, EventKind.APPROVAL_VOTE, EventKind.APPROVAL_FINAL)
    return event.kind in kinds and request_id in (
        event.payload.get("request_id"),
        event.payload.get("approval_id"),
    )


def _at(event: AuditEvent) -> datetime:
    return datetime.fromisoformat(event.at)


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
