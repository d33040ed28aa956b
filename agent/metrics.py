"""Prometheus metrics of one process: HTTP requests, governance, turns and model calls.

Each :class:`Metrics` holds its own ``CollectorRegistry`` (never the global one), so every
:class:`~agent.operations.Operations` (and every test) counts on its own. Governance is counted in one
place, from the audit events ``Operations.send``/``resume``/``vote`` record; model calls by the
LangChain callback :meth:`Metrics.llm_callback` attached to every run; HTTP requests by whoever serves
them, through :meth:`Metrics.observe_request` with the route *template* (``/approvals/{id}``), never the
raw path, so label values stay few. Every label value comes from a bounded set (tiers, rule ids, tool
names, statuses, exception class names, configured model names).

Each process exposes its own metrics (API replicas and workers alike); Prometheus scrapes every one
and ``sum by (...)`` adds them up. The pending-approvals gauges are read from the shared database at
scrape time, so every process reports the same backlog: aggregate them with ``max``, not ``sum``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from governance.audit import AuditEvent, EventKind

if TYPE_CHECKING:  # langchain is imported when a run needs the callback: reading the queue stays cheap
    from langchain_core.callbacks import BaseCallbackHandler

log = logging.getLogger("opslayer.metrics")

_FAST = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_TURN = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
_MINUTE, _HOUR = 60.0, 3600.0
_APPROVAL = (
    _MINUTE,
    5 * _MINUTE,
    15 * _MINUTE,
    _HOUR,
    4 * _HOUR,
    8 * _HOUR,
    24 * _HOUR,
    72 * _HOUR,
    168 * _HOUR,
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Backlog:
    """The approval queue at one moment: how many requests wait, and for how long the oldest has."""

    pending: int
    oldest_age_seconds: float  # 0 when nothing waits


class Metrics:
    """One process's metrics, in their own registry; :meth:`render` is the exposition."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()

        def counter(name: str, doc: str, labels: Iterable[str] = ()) -> Counter:
            return Counter(name, doc, list(labels), registry=registry)

        def histogram(name: str, doc: str, labels: Iterable[str], buckets: Iterable[float]) -> Histogram:
            return Histogram(name, doc, list(labels), registry=registry, buckets=list(buckets))

        self.http_requests = counter(
            "opslayer_http_requests", "HTTP requests served, by route template", ("method", "route", "status")
        )
        self.http_seconds = histogram(
            "opslayer_http_request_duration_seconds", "HTTP request latency", ("method", "route"), _FAST
        )
        self.decisions = counter(
            "opslayer_decisions",
            "Governance decisions, once per matched rule (rule 'none' when no rule matched); stage: "
            "plan (the model's proposal), recheck (before executing), validation (refused before policy)",
            ("tier", "rule", "stage"),
        )
        self.approval_requests = counter("opslayer_approval_requests", "Approval requests created", ("tool",))
        self.approval_escalations = counter(
            "opslayer_approval_escalations", "Re-checks before execution that needed more approval than given"
        )
        self.approval_votes = counter(
            "opslayer_approval_votes",
            "Approval votes; accepted=false: refused (self-approval, missing role, ...)",
            ("vote", "accepted"),
        )
        self.approval_seconds = histogram(
            "opslayer_approval_decision_seconds",
            "From an approval request's creation to its final status",
            ("status",),
            _APPROVAL,
        )
        self.executions = counter(
            "opslayer_executions", "Tool executions (replays excluded)", ("tool", "status")
        )
        self.notifications = counter(
            "opslayer_notifications", "Notifications sent before a call ran", ("tool",)
        )
        self.errors = counter(
            "opslayer_errors",
            "Errors raised by send/resume/vote (refused votes included), by class",
            ("type",),
        )
        self.turns = counter(
            "opslayer_turns", "Agent turns by outcome (answered, waiting, error)", ("operation", "outcome")
        )
        self.turn_seconds = histogram("opslayer_turn_seconds", "Agent turn latency", ("operation",), _TURN)
        self.llm_calls = counter("opslayer_llm_calls", "Chat model calls", ("model", "outcome"))
        self.llm_seconds = histogram("opslayer_llm_seconds", "Chat model call latency", ("model",), _TURN)
        self.llm_tokens = counter("opslayer_llm_tokens", "Tokens used by chat model calls", ("model", "kind"))
        self.monitors_tripped = Gauge(
            "opslayer_monitors_tripped",
            "Monitor trips in force (not yet cleared), by monitor; set by each worker oversight pass",
            ["monitor"],
            registry=registry,
        )
        self._backlog = _BacklogCollector()
        registry.register(self._backlog)
        self._llm: BaseCallbackHandler | None = None

    # --- feeding ------------------------------------------------------------------------------------

    def observe_request(self, method: str, route: str, status: int | str, seconds: float) -> None:
        """One HTTP request; ``route`` is the route template, never the raw path."""
        self.http_requests.labels(method, route, str(status)).inc()
        self.http_seconds.labels(method, route).observe(seconds)

    def observe_turn(self, operation: str, outcome: str, seconds: float) -> None:
        """One send or resume: ``outcome`` answered, waiting (for approval) or error."""
        self.turns.labels(operation, outcome).inc()
        self.turn_seconds.labels(operation).observe(seconds)

    def observe_error(self, exc: BaseException) -> None:
        self.errors.labels(type(exc).__name__).inc()

    def observe_events(self, events: Iterable[AuditEvent]) -> None:
        """Count the governance steps among audit events (each event once: pass each event once)."""
        for event in events:
            count = self._COUNTERS.get(event.kind)
            if count is not None:
                count(self, event.payload)

    def set_monitors_tripped(self, trips: Mapping[str, int]) -> None:
        """Monitor trips in force by monitor id (every monitor of the policy, 0 when clear)."""
        for monitor, count in trips.items():
            self.monitors_tripped.labels(monitor).set(count)

    def observe_approval_final(self, status: str, seconds: float) -> None:
        self.approval_seconds.labels(status).observe(max(seconds, 0.0))

    def watch_approvals(self, source: Callable[[], Backlog] | None) -> None:
        """Report ``source()`` as the pending-approval gauges at each scrape (None: stop reporting)."""
        self._backlog.source = source

    def llm_callback(self) -> BaseCallbackHandler:
        """The callback handler counting model calls, latency and tokens; attach it to every run."""
        if self._llm is None:
            from agent.run.llm_metrics import LLMMetrics

            self._llm = LLMMetrics(calls=self.llm_calls, seconds=self.llm_seconds, tokens=self.llm_tokens)
        return self._llm

    def render(self) -> tuple[bytes, str]:
        """The exposition body and its content type, for ``GET /metrics``."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def value(self, name: str, **labels: str) -> float:
        """One sample's value (0 when absent): ``value("opslayer_decisions_total", tier="auto", ...)``."""
        found = self.registry.get_sample_value(name, labels)
        return 0.0 if found is None else found

    # --- audit events -------------------------------------------------------------------------------

    def _decision(self, payload: Mapping[str, Any]) -> None:
        tier, stage = str(payload.get("tier")), str(payload.get("stage", "other")).split("-")[0]
        for rule in payload.get("rule_ids") or ("none",):
            self.decisions.labels(tier, str(rule), stage).inc()

    def _approval_requested(self, payload: Mapping[str, Any]) -> None:
        if "escalated_from" in payload:  # the escalated request was counted when it was created
            self.approval_escalations.inc()
        else:
            self.approval_requests.labels(str(payload.get("tool"))).inc()

    def _approval_vote(self, payload: Mapping[str, Any]) -> None:
        vote = "edit" if payload.get("edited") else "approve" if payload.get("approve") else "reject"
        self.approval_votes.labels(vote, "true" if payload.get("accepted") else "false").inc()

    def _execution(self, payload: Mapping[str, Any]) -> None:
        if not payload.get("replayed"):
            self.executions.labels(str(payload.get("tool")), str(payload.get("status"))).inc()

    def _notification(self, payload: Mapping[str, Any]) -> None:
        self.notifications.labels(str(payload.get("tool"))).inc()

    _COUNTERS: ClassVar[dict[str, Callable[[Metrics, Mapping[str, Any]], None]]] = {
        EventKind.DECISION: _decision,
        EventKind.APPROVAL_REQUESTED: _approval_requested,
        EventKind.APPROVAL_VOTE: _approval_vote,
        EventKind.EXECUTION: _execution,
        EventKind.NOTIFICATION: _notification,
    }


class _BacklogCollector(Collector):
    """The pending-approval gauges, read from ``source`` when scraped."""

    def __init__(self) -> None:
        self.source: Callable[[], Backlog] | None = None

    def describe(self) -> Iterator[Metric]:
        return iter(self._families())

    def collect(self) -> Iterator[Metric]:
        source = self.source
        if source is None:
            return iter(())
        try:
            backlog = source()
        except Exception:  # the rest of the exposition is still worth scraping
            log.exception("could not read the approval backlog")
            return iter(())
        pending, oldest = self._families()
        pending.add_metric([], backlog.pending)
        oldest.add_metric([], backlog.oldest_age_seconds)
        return iter((pending, oldest))

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily("opslayer_approvals_pending", "Approval requests waiting for a decision"),
            GaugeMetricFamily(
                "opslayer_approvals_oldest_pending_seconds", "Age of the oldest pending approval request"
            ),
        )
