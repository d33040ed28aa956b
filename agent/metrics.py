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
import threading
import time
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
from governance.impact import TIERS, Figures, Impact

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
        self._impact = _ImpactCollector()
        registry.register(self._impact)
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

    def watch_impact(
        self,
        source: Callable[[], Impact] | None,
        *,
        systems: Callable[[], Iterable[str]] = tuple,
        ttl_seconds: float = 60.0,
    ) -> None:
        """Report ``source()`` (the impact figures of a trailing window) as the ``opslayer_impact_*``
        gauges, computed at most once per ``ttl_seconds``; systems outside ``systems()`` are ``other``."""
        self._impact.watch(source, systems=systems, ttl_seconds=ttl_seconds)

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


_IMPACT_EVENTS = ("reminders", "escalations", "veto_windows", "vetoes", "denials", "failed_executions")
_OUTCOMES = ("approvals_requested", "approved", "rejected", "expired")


class _ImpactCollector(Collector):
    """The impact figures as gauges, by system: read from ``source`` at a scrape, kept ``ttl`` seconds.

    They are computed from the shared audit trail, so every process reports the same values: aggregate
    them with ``max``, not ``sum``. Labels are bounded: tiers, fixed event names, and the catalogue's
    systems (anything else, e.g. a tool name a model made up, is ``other``).
    """

    def __init__(self) -> None:
        self._source: Callable[[], Impact] | None = None
        self._systems: Callable[[], Iterable[str]] = tuple
        self._ttl = 60.0
        self._cached: tuple[float, list[Metric]] | None = None
        self._lock = threading.Lock()

    def watch(
        self, source: Callable[[], Impact] | None, *, systems: Callable[[], Iterable[str]], ttl_seconds: float
    ) -> None:
        with self._lock:
            self._source, self._systems, self._ttl, self._cached = source, systems, ttl_seconds, None

    def describe(self) -> Iterator[Metric]:
        return iter(_impact_families())

    def collect(self) -> Iterator[Metric]:
        with self._lock:  # one scrape computes; others wait for it rather than computing again
            if self._source is None:
                return iter(())
            if self._cached is not None and time.monotonic() - self._cached[0] < self._ttl:
                return iter(self._cached[1])
            try:
                families = self._families(self._source())
            except Exception:  # the rest of the exposition is still worth scraping
                log.exception("could not count the impact figures")
                return iter(())
            self._cached = (time.monotonic(), families)
            return iter(families)

    def _families(self, impact: Impact) -> list[Metric]:
        families = _impact_families()
        requests, calls, share, approvals, waits, events, saved = families
        requests.add_metric([], impact.totals.requests)
        for quantile, value in (
            ("0.5", impact.totals.decision_p50_seconds),
            ("0.95", impact.totals.decision_p95_seconds),
        ):
            if value is not None:
                waits.add_metric([quantile], value)
        for system, figures in self._by_system(impact).items():
            for tier in TIERS:
                calls.add_metric([system, tier], figures["tier:" + tier])
            if figures["completed"]:
                share.add_metric([system], figures["completed_without_human"] / figures["completed"])
            for outcome in _OUTCOMES:
                approvals.add_metric([system, outcome.removeprefix("approvals_")], figures[outcome])
            for event in _IMPACT_EVENTS:
                events.add_metric([system, event], figures[event])
            saved.add_metric([system], figures["minutes_saved"])
        events.add_metric(["all", "monitors_tripped"], impact.totals.monitors_tripped)
        return list(families)

    def _by_system(self, impact: Impact) -> dict[str, dict[str, float]]:
        merged: dict[str, dict[str, float]] = {}
        known = frozenset(self._systems())
        for system, figures in impact.systems:
            name = system if system in known else "other"
            into = merged.setdefault(name, dict.fromkeys(_SYSTEM_FIGURES, 0.0))
            for key, value in _system_figures(figures).items():
                into[key] += value
        return merged


_SYSTEM_FIGURES = (
    *("tier:" + tier for tier in TIERS),
    "completed",
    "completed_without_human",
    *_OUTCOMES,
    *_IMPACT_EVENTS,
    "minutes_saved",
)


def _system_figures(figures: Figures) -> dict[str, float]:
    values: dict[str, float] = {"tier:" + tier: figures.by_tier[tier] for tier in TIERS}
    for name in ("completed", "completed_without_human", *_OUTCOMES, *_IMPACT_EVENTS, "minutes_saved"):
        values[name] = getattr(figures, name)
    return values


def _impact_families() -> list[GaugeMetricFamily]:
    window = " over the impact window"
    return [
        GaugeMetricFamily("opslayer_impact_requests", "Requests people sent" + window),
        GaugeMetricFamily("opslayer_impact_calls", "Tool calls by tier" + window, labels=["system", "tier"]),
        GaugeMetricFamily(
            "opslayer_impact_without_human_ratio",
            "Share of completed executions that needed no human decision" + window,
            labels=["system"],
        ),
        GaugeMetricFamily(
            "opslayer_impact_approvals",
            "Approval requests and outcomes" + window,
            labels=["system", "outcome"],
        ),
        GaugeMetricFamily(
            "opslayer_impact_decision_seconds",
            "Time from an approval request to its decision, p50 and p95" + window,
            labels=["quantile"],
        ),
        GaugeMetricFamily(
            "opslayer_impact_events",
            "Reminders, escalations, veto windows, vetoes, denials, failed executions, monitors tripped"
            + window,
            labels=["system", "event"],
        ),
        GaugeMetricFamily(
            "opslayer_impact_minutes_saved",
            "Estimated human minutes saved (effort of completed calls less review time)" + window,
            labels=["system"],
        ),
    ]
