"""The first layer of :class:`~agent.operations.Operations`: what the service is built from (settings,
stores, the governed run, metrics) and builds on first use, the people of the directory, and the
work queue. The layers above add one concern each: :mod:`~agent.operations.trail` (the audit trail,
the policy, tokens), :mod:`~agent.operations.reviews` (approvals),
:mod:`~agent.operations.conversations` (turns and threads) and :mod:`~agent.operations.service`
(executions); front ends use the top one, ``Operations``."""

from __future__ import annotations

import builtins
import dataclasses
import functools
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar, cast

from agent import wiring
from agent.settings import Settings
from governance.audit import AuditEvent, EventKind, recording
from governance.work import OVERSIGHT

if TYPE_CHECKING:  # imported where used: reading the queue stays cheap
    from langgraph.checkpoint.base import BaseCheckpointSaver

    from agent.metrics import Backlog, Metrics
    from agent.operations.oversight import OversightHost, OversightService
    from agent.run.governance import Governance
    from agent.run.session import AgentSession, TurnResult
    from governance.directory import Person
    from tools.spec import Systems

_log = logging.getLogger("opslayer.operations")
_S = TypeVar("_S", bound="Core")
_P = ParamSpec("_P")
_R = TypeVar("_R")
_Method = Callable[Concatenate[_S, _P], _R]


def metered(method: _Method[_S, _P, _R]) -> _Method[_S, _P, _R]:
    """Count in ``self.metrics`` what governance did during the call, and the error it raised."""

    @functools.wraps(method)
    def counted(self: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with self._metering():
            return method(self, *args, **kwargs)

    return counted


def metered_turn(
    operation: str,
) -> Callable[[_Method[_S, _P, TurnResult]], _Method[_S, _P, TurnResult]]:
    """Count and time the turn ``operation`` (send, resume) by outcome, and what governance did in it."""

    def decorate(method: _Method[_S, _P, TurnResult]) -> _Method[_S, _P, TurnResult]:
        @functools.wraps(method)
        def turn(self: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> TurnResult:
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


class Core:
    """What :class:`~agent.operations.Operations` is built from and builds on first use."""

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

    @cached_property
    def governance(self) -> Governance:
        # Restrictions (tripped monitors, autonomy pauses) are read before every decision.
        return dataclasses.replace(wiring.load_governance(self.settings), oversight=self.oversight.in_force)

    @cached_property
    def oversight(self) -> OversightService:
        """Vetoes, the autonomy kill switch, tripped monitors and the worker's oversight pass."""
        from agent.operations.oversight import OversightService

        # Core is only ever built as the Operations it is the first layer of, which is an OversightHost.
        return OversightService(cast("OversightHost", self))

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

    def person(self, person_id: str) -> Person:
        """The person of the directory; ``UnknownPerson`` names the id."""
        return self.governance.directory.get(person_id)

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
