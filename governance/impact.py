"""Operational impact: what the execution layer did, per period, system and tool, from the audit trail.

The figures a CIO or COO asks for — requests, calls by tier, the share of completed calls no person had
to decide, approvals and the time to decide them (p50/p95), reminders, escalations, vetoes, denials,
monitors tripped, failed executions and the human minutes saved — are counted with a few grouped SQL
queries over ``audit_events`` (JSON fields read by the database), so a long trail is never loaded
into Python: only one row per (day, tool, value) group, and one row per approval for the percentiles.

**Minutes saved** (an estimate, stated with its inputs): each completed execution of a tool is worth
the policy's ``effort_minutes`` for that tool (what a person would have spent doing it by hand; a tool
without a figure counts 0); each accepted approval vote costs ``review_minutes`` of a person's time.
Saved = effort of completed executions − review minutes of the votes cast. So a call that ran on its
own saves its whole effort, and an approved call saves its effort less the time people spent deciding.
Rejected calls cost their votes and save nothing.

A notify call that waits out a veto window is stored as an approval request nobody needs to approve:
it counts as a veto window (and a veto if someone stopped it), never as an approval, and its execution
as completed without a human decision.

Calls are counted once, from their first decision (the ``plan`` stage, or ``validation`` when refused
before policy saw them): re-checks before execution are not new calls. Replayed executions (a resume
reading the ledger) are not counted again.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import JSON, ColumnElement, Engine, cast, func, select, type_coerce

from governance.audit import AuditLog, EventKind, audit_events

Period = Literal["day", "week"]
TIERS = ("auto", "notify", "approve", "deny")
NO_TOOL = ""
"""The tool key of events that belong to no tool (requests, monitors): counted in totals and periods."""

_c = audit_events.c
_TRUE = ("1", "true", "True")


@dataclass(frozen=True, kw_only=True, slots=True)
class Figures:
    """The impact figures of one slice (the whole range, one period, one system or one tool)."""

    requests: int = 0
    calls: int = 0
    by_tier: Mapping[str, int] = field(default_factory=lambda: dict.fromkeys(TIERS, 0))
    completed: int = 0
    completed_without_human: int = 0
    failed_executions: int = 0
    approvals_requested: int = 0
    approved: int = 0
    rejected: int = 0
    expired: int = 0
    decision_p50_seconds: float | None = None
    decision_p95_seconds: float | None = None
    reminders: int = 0
    escalations: int = 0
    veto_windows: int = 0
    vetoes: int = 0
    denials: int = 0
    monitors_tripped: int = 0
    effort_minutes: float = 0.0
    review_minutes: float = 0.0

    @property
    def without_human_share(self) -> float | None:
        """Completed executions no person had to decide (auto and notify), of all completed; None: none."""
        return None if self.completed == 0 else self.completed_without_human / self.completed

    @property
    def minutes_saved(self) -> float:
        return self.effort_minutes - self.review_minutes

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["by_tier"] = dict(self.by_tier)
        return out | {"without_human_share": self.without_human_share, "minutes_saved": self.minutes_saved}


@dataclass(frozen=True, kw_only=True, slots=True)
class Impact:
    """The figures over ``[since, until)``: totals, then by period, system (tool prefix) and tool."""

    since: datetime | None
    until: datetime | None
    period: Period
    review_minutes_per_vote: float
    effort_minutes: Mapping[str, float]
    totals: Figures
    periods: tuple[tuple[str, Figures], ...]
    systems: tuple[tuple[str, Figures], ...]
    tools: tuple[tuple[str, Figures], ...]
    monitors: tuple[tuple[str, int], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": None if self.since is None else self.since.isoformat(),
            "until": None if self.until is None else self.until.isoformat(),
            "period": self.period,
            "assumptions": {
                "review_minutes_per_vote": self.review_minutes_per_vote,
                "effort_minutes": dict(sorted(self.effort_minutes.items())),
            },
            "totals": self.totals.to_dict(),
            "periods": [{"period": name, **figures.to_dict()} for name, figures in self.periods],
            "systems": [{"system": name, **figures.to_dict()} for name, figures in self.systems],
            "tools": [{"tool": name, **figures.to_dict()} for name, figures in self.tools],
            "monitors": [{"monitor": name, "tripped": count} for name, count in self.monitors],
        }


def system_of(tool: str) -> str:
    """The system a tool belongs to: its name's prefix (``itsm``, ``inventory``, ``procurement``, …)."""
    return tool.split("_", 1)[0] if tool else NO_TOOL


def compute_impact(
    audit: AuditLog,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    period: Period = "day",
    effort_minutes: Mapping[str, float] | None = None,
    review_minutes: float = 5.0,
) -> Impact:
    """The impact figures of events with ``since <= at < until`` (either bound may be None)."""
    if period not in ("day", "week"):
        raise ValueError(f"period must be day or week, not {period!r}")
    if review_minutes < 0:
        raise ValueError(f"review minutes per vote must be 0 or more, not {review_minutes}")
    effort = dict(effort_minutes or {})
    reader = _Reader(audit._engine, since, until)
    cells: dict[tuple[str, str], _Tally] = defaultdict(_Tally)
    monitors: dict[str, int] = defaultdict(int)
    _count(reader, cells, monitors, effort, review_minutes)
    label = _day if period == "day" else _week
    return Impact(
        since=since,
        until=until,
        period=period,
        review_minutes_per_vote=review_minutes,
        effort_minutes=effort,
        totals=_rolled(cells, lambda day, tool: "all").get("all", Figures()),
        periods=tuple(sorted(_rolled(cells, lambda day, tool: label(day)).items())),
        systems=_named(_rolled(cells, lambda day, tool: system_of(tool))),
        tools=_named(_rolled(cells, lambda day, tool: tool)),
        monitors=tuple(sorted(monitors.items(), key=lambda item: (-item[1], item[0]))),
    )


# -- counting -----------------------------------------------------------------------------------------


@dataclass(kw_only=True, slots=True)
class _Tally:
    """Mutable counts of one (day, tool) cell, summed into :class:`Figures`."""

    counts: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    waits: list[float] = field(default_factory=list)

    def add(self, name: str, amount: float = 1) -> None:
        self.counts[name] += amount

    def merge(self, other: _Tally) -> None:
        for name, amount in other.counts.items():
            self.counts[name] += amount
        self.waits.extend(other.waits)

    def figures(self) -> Figures:
        counts = self.counts
        p50, p95 = _percentile(self.waits, 0.50), _percentile(self.waits, 0.95)
        whole = {name: int(counts.get(name, 0)) for name in _INT_FIELDS}
        return Figures(
            **whole,
            by_tier={tier: int(counts.get("tier:" + tier, 0)) for tier in TIERS},
            decision_p50_seconds=p50,
            decision_p95_seconds=p95,
            effort_minutes=counts.get("effort_minutes", 0.0),
            review_minutes=counts.get("review_minutes", 0.0),
        )


_INT_FIELDS = (
    "requests",
    "calls",
    "completed",
    "completed_without_human",
    "failed_executions",
    "approvals_requested",
    "approved",
    "rejected",
    "expired",
    "reminders",
    "escalations",
    "veto_windows",
    "vetoes",
    "denials",
    "monitors_tripped",
)
_EVENT_COUNTS = {
    EventKind.APPROVAL_REMINDER: "reminders",
    EventKind.APPROVAL_ESCALATED: "escalations",
    EventKind.VETO: "vetoes",
}
_FINAL_COUNTS = {"approved": "approved", "rejected": "rejected", "expired": "expired"}


def _count(
    reader: _Reader,
    cells: dict[tuple[str, str], _Tally],
    monitors: dict[str, int],
    effort: Mapping[str, float],
    review_minutes: float,
) -> None:
    for day, count in reader.grouped(EventKind.REQUEST):
        cells[day, NO_TOOL].add("requests", count)
    for day, tool, tier, count in reader.grouped(EventKind.DECISION, "tool", "tier", calls_only=True):
        cell = cells[day, tool or NO_TOOL]
        cell.add("calls", count)
        cell.add("tier:" + str(tier), count)
        if tier == "deny":
            cell.add("denials", count)
    windows = reader.veto_windows()  # notify calls waiting out a veto window: requests nobody must approve
    executions = reader.grouped(EventKind.EXECUTION, "tool", "status", "replayed", "approval_id")
    for day, tool, status, replayed, approval, count in executions:
        if replayed in _TRUE:
            continue
        cell = cells[day, tool or NO_TOOL]
        if status == "completed":
            cell.add("completed", count)
            cell.add("effort_minutes", count * effort.get(tool or "", 0.0))
            if approval is None or approval in windows:
                cell.add("completed_without_human", count)
        elif status == "failed":
            cell.add("failed_executions", count)
    tools = _approvals(reader, cells, windows)
    for day, request_id, accepted, count in reader.grouped(EventKind.APPROVAL_VOTE, "request_id", "accepted"):
        if accepted in _TRUE:
            cells[day, tools.get(str(request_id), NO_TOOL)].add("review_minutes", count * review_minutes)
    kinds = (*_EVENT_COUNTS, EventKind.MONITOR_TRIPPED, EventKind.VETO_WINDOW)
    for day, kind, tool, request_id, monitor, count in reader.others(kinds):
        if kind == EventKind.MONITOR_TRIPPED:
            cells[day, NO_TOOL].add("monitors_tripped", count)
            monitors[str(monitor or "unnamed")] += count
        elif kind == EventKind.VETO_WINDOW:
            cells[day, tool or tools.get(str(request_id), NO_TOOL)].add("veto_windows", count)
        else:
            owner = tool or tools.get(str(request_id), NO_TOOL)
            cells[day, owner].add(_EVENT_COUNTS[kind], count)


def _approvals(
    reader: _Reader, cells: dict[tuple[str, str], _Tally], windows: AbstractSet[str]
) -> dict[str, str]:
    """Count requests and outcomes, record each decided request's wait; return request id → tool.

    Veto windows are requests too (nobody need approve them); they are not counted as approvals."""
    asked: dict[str, tuple[datetime, str]] = {}
    for at, request_id, tool, escalated in reader.approval_requests():
        if escalated is None and request_id is not None:
            asked[request_id] = (datetime.fromisoformat(at), tool or NO_TOOL)
            if reader.within(at) and request_id not in windows:
                cells[at[:10], tool or NO_TOOL].add("approvals_requested")
    for at, request_id, tool, status in reader.rows(EventKind.APPROVAL_FINAL, "request_id", "tool", "status"):
        if request_id in windows:
            continue
        owner = tool or asked.get(request_id, (None, NO_TOOL))[1]
        cell = cells[at[:10], owner]
        if status in _FINAL_COUNTS:
            cell.add(_FINAL_COUNTS[status])
        if status in ("approved", "rejected") and request_id in asked:
            cell.waits.append((datetime.fromisoformat(at) - asked[request_id][0]).total_seconds())
    return {request_id: tool for request_id, (_, tool) in asked.items()}


class _Reader:
    """The grouped reads, each bounded to ``[since, until)`` on the stored ``at`` text."""

    def __init__(self, engine: Engine, since: datetime | None, until: datetime | None) -> None:
        self._engine = engine
        self._since = None if since is None else _stored(since)
        self._until = None if until is None else _stored(until)
        self._document = (
            type_coerce(_c.payload, JSON) if engine.dialect.name == "sqlite" else cast(_c.payload, JSON)
        )

    def within(self, at: str) -> bool:
        return (self._since is None or at >= self._since) and (self._until is None or at < self._until)

    def field(self, name: str) -> ColumnElement[Any]:
        element: ColumnElement[Any] = self._document[name].as_string()
        return element

    def grouped(self, kind: str, *names: str, calls_only: bool = False) -> list[tuple[Any, ...]]:
        """(day, *fields, count) of ``kind`` events grouped by day and the payload fields ``names``."""
        keys: list[ColumnElement[Any]] = [func.substr(_c.at, 1, 10), *(self.field(name) for name in names)]
        query = select(*keys, func.count()).where(_c.kind == str(kind), *self._bounds())
        if calls_only:  # a call is decided once at plan (or validation); re-checks are not new calls
            query = query.where(func.coalesce(self.field("stage"), "").not_like("recheck%"))
        return self._all(query.group_by(*keys))

    def others(self, kinds: Iterable[str]) -> list[tuple[Any, ...]]:
        """(day, kind, tool, request_id, monitor, count) of the oversight events."""
        monitor = func.coalesce(self.field("monitor_id"), self.field("monitor"))
        keys = [func.substr(_c.at, 1, 10), _c.kind, self.field("tool"), self.field("request_id"), monitor]
        wanted = [str(kind) for kind in kinds]
        query = select(*keys, func.count()).where(_c.kind.in_(wanted), *self._bounds()).group_by(*keys)
        return self._all(query)

    def rows(self, kind: str, *names: str) -> list[tuple[Any, ...]]:
        """(at, *fields) of every ``kind`` event in range."""
        query = select(_c.at, *(self.field(name) for name in names))
        return self._all(query.where(_c.kind == str(kind), *self._bounds()))

    def veto_windows(self) -> set[str]:
        """The request ids of every veto window opened before ``until``."""
        query = select(self.field("request_id")).where(_c.kind == EventKind.VETO_WINDOW.value)
        if self._until is not None:
            query = query.where(_c.at < self._until)
        return {str(row[0]) for row in self._all(query)}

    def approval_requests(self) -> list[tuple[Any, ...]]:
        """(at, request id, tool, escalated_from) of every request made before ``until``: an approval
        decided in range may have been asked for before it."""
        request_id = func.coalesce(self.field("request_id"), self.field("approval_id"))
        query = select(_c.at, request_id, self.field("tool"), self.field("escalated_from"))
        query = query.where(_c.kind == EventKind.APPROVAL_REQUESTED.value)
        if self._until is not None:
            query = query.where(_c.at < self._until)
        return self._all(query)

    def _bounds(self) -> list[ColumnElement[bool]]:
        bounds = []
        if self._since is not None:
            bounds.append(_c.at >= self._since)
        if self._until is not None:
            bounds.append(_c.at < self._until)
        return bounds

    def _all(self, query: Any) -> list[tuple[Any, ...]]:
        with self._engine.connect() as conn:
            return [tuple(row) for row in conn.execute(query)]


# -- rolling up ---------------------------------------------------------------------------------------


def _rolled(cells: Mapping[tuple[str, str], _Tally], key: Callable[[str, str], str]) -> dict[str, Figures]:
    merged: dict[str, _Tally] = defaultdict(_Tally)
    for (day, tool), tally in cells.items():
        merged[key(day, tool)].merge(tally)
    return {name: tally.figures() for name, tally in merged.items()}


def _named(rolled: Mapping[str, Figures]) -> tuple[tuple[str, Figures], ...]:
    """Slices that belong to a tool (or system), busiest first."""
    named = [(name, figures) for name, figures in rolled.items() if name != NO_TOOL]
    return tuple(sorted(named, key=lambda item: (-item[1].calls, item[0])))


def _day(day: str) -> str:
    return day


def _week(day: str) -> str:
    """The ISO week of a day, named by its Monday (``2026-W49 (2026-11-30)``)."""
    moment = date.fromisoformat(day)
    monday = moment - timedelta(days=moment.weekday())
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d} ({monday.isoformat()})"


def _percentile(values: list[float], q: float) -> float | None:
    """The nearest-rank percentile (a value that occurred), None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _stored(moment: datetime) -> str:
    """As the trail stores ``at`` (UTC, microseconds), so comparing the text compares the times."""
    if moment.utcoffset() is None:
        raise ValueError("impact bounds must be timezone-aware")
    try:
        return moment.astimezone(UTC).isoformat(timespec="microseconds")
    except OverflowError:
        raise ValueError(f"{moment.isoformat()} is out of range") from None
