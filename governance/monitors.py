"""Monitors: is the AI operating outside its parameters? Aggregate SQL over the audit trail and ledgers.

:func:`evaluate` reads, for each monitor of the policy, one figure per scope (a thread, a person, a
tool, or everything) over the monitor's sliding window ending ``now``, and returns the readings at or
over the threshold. It writes nothing: tripping (the audit event, the restriction, the notification)
is the caller's, through :class:`governance.restrictions.RestrictionStore`, which trips a monitor once
per scope until a person clears it.

Kinds and their figures:

``refused_calls``  calls refused by policy or by validation (invalid arguments, reused ids), per
                   thread or person: a confused model, or an injection at work
``denials``        calls the policy denied, per person
``limit_near``     use of a limit in its own window, in percent of its ``max``, per person (or all)
``stuck_executions`` executions still ``started`` ``window`` after they began
``approval_backlog`` requests waiting for a decision
``approval_age``   requests waiting longer than ``window``
``llm_errors``     turns that failed at the model, in percent of turns (at least ``min_count`` turns)
``tool_surge``     a tool's executions in the window against its rate over the trailing ``baseline``
                   (at least ``min_count``), as a multiple of that rate, per tool

Every query is one aggregate statement over indexed or small tables; decision payloads are matched
as the canonical JSON text they are stored as (sorted keys, no spaces).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, func, not_, select

from governance.approvals import ApprovalStatus, approval_requests
from governance.audit import EventKind, audit_events
from governance.executions import ExecutionStatus, executions
from governance.policy import Monitor, Policy, parse_duration
from governance.usage import usage_events

_DENIED = '%"tier":"deny"%'
_VALIDATION = '%"stage":"validation"%'
_PLANNER = '%"type":"PlannerUnavailable"%'


@dataclass(frozen=True, kw_only=True, slots=True)
class Reading:
    """A monitor's figure for one scope, at or over its threshold."""

    monitor: Monitor
    scope: str
    subject: str | None
    figure: float
    threshold: float
    detail: str


def evaluate(policy: Policy, engine: Engine, now: datetime) -> list[Reading]:
    """Readings of every monitor of ``policy`` that are at or over their threshold at ``now``."""
    readings: list[Reading] = []
    with engine.connect() as conn:
        for monitor in policy.monitors:
            figures = _FIGURES[monitor.kind](monitor, policy, now)
            readings += _over(monitor, conn.execute(figures.query).all(), figures)
    return readings


@dataclass(frozen=True, kw_only=True)
class _Figures:
    """A monitor's query (rows of subject, value[, extra]) and how a row becomes a figure."""

    query: Any  # a select of one, two or three columns
    scope: str
    unit: str
    figure: Callable[[Sequence[Any]], float | None] = lambda row: float(row[1])


def _over(monitor: Monitor, rows: Iterable[Sequence[Any]], figures: _Figures) -> list[Reading]:
    found = []
    for row in rows:
        if figures.scope != "all" and row[0] is None:
            continue  # an event of no thread cannot restrict one
        figure = figures.figure(row)
        if figure is None or figure < monitor.threshold:
            continue
        scope = figures.scope
        subject = None if scope == "all" else str(row[0])
        where = "overall" if subject is None else f"for {scope} {subject}"
        over = f"{_number(figure)} {figures.unit} (threshold {_number(monitor.threshold)})"
        detail = f"{monitor.kind} {where}: {over}"
        found.append(
            Reading(
                monitor=monitor,
                scope=scope,
                subject=subject,
                figure=figure,
                threshold=monitor.threshold,
                detail=detail,
            )
        )
    return found


def _since(monitor: Monitor, now: datetime) -> str:
    return _iso(now - monitor.window_length)


def _decisions(monitor: Monitor, now: datetime, *extra: ColumnElement[bool]) -> ColumnElement[bool]:
    columns = audit_events.c
    return and_(
        columns.kind == EventKind.DECISION.value,
        columns.at >= _since(monitor, now),
        columns.payload.like(_DENIED),
        *extra,
    )


def _per(monitor: Monitor) -> tuple[str, ColumnElement[str | None]]:
    if monitor.per == "thread":
        return "thread", audit_events.c.thread_id
    return "person", audit_events.c.actor


def _refused(monitor: Monitor, policy: Policy, now: datetime) -> _Figures:
    scope, column = _per(monitor) if monitor.per != "all" else ("all", audit_events.c.kind)
    query = select(column, func.count()).where(_decisions(monitor, now)).group_by(column)
    return _Figures(query=query, scope=scope, unit=f"refused calls in {monitor.window}")


def _denials(monitor: Monitor, policy: Policy, now: datetime) -> _Figures:
    scope, column = ("person", audit_events.c.actor) if monitor.per != "all" else ("all", audit_events.c.kind)
    condition = _decisions(monitor, now, not_(audit_events.c.payload.like(_VALIDATION)))
    query = select(column, func.count()).where(condition).group_by(column)
    return _Figures(query=query, scope=scope, unit=f"denied calls in {monitor.window}")


def _limit_near(monitor: Monitor, policy: Policy, now: datetime) -> _Figures:
    limit = next(item for item in policy.limits if item.id == monitor.limit)
    columns = usage_events.c
    since = now - limit.window_length
    query = (
        select(columns.key, func.sum(columns.amount))
        .where(columns.limit_id == limit.id, columns.at >= since)
        .group_by(columns.key)
    )
    maximum = limit.max

    def percent(row: Sequence[Any]) -> float | None:
        return None if maximum <= 0 else 100.0 * float(row[1]) / maximum

    scope = "all" if limit.per == "global" else "person"
    return _Figures(query=query, scope=scope, unit=f"% of {limit.id} ({_number(maximum)})", figure=percent)


def _stuck(monitor: Monitor, policy: Policy, now: datetime) -> _Figures:
    columns = executions.c
    started = and_(
        columns.status == ExecutionStatus.STARTED.value, columns.started_at <= _since(monitor, now)
    )
    if monitor.per == "tool":
        query = select(columns.tool, func.count()).where(started).group_by(columns.tool)
        return _Figures(query=query, scope="tool", unit=f"executions started over {monitor.window} ago")
    query = select(func.min(columns.tool), func.count()).where(started)
    return _Figures(query=query, scope="all", unit=f"executions started over {monitor.window} ago")


def _pending(now: datetime) -> ColumnElement[bool]:
    columns = approval_requests.c
    return and_(columns.status == ApprovalStatus.PENDING.value, columns.expires_at > _iso(now))


def _backlog(monitor: Monitor, policy: Policy, now: datetime) -> _Figures:
    query = select(func.min(approval_requests.c.tool), func.count()).where(_pending(now))
    return _Figures(query=query, scope="all", unit="requests waiting")


def _age(monitor: Monitor, policy: Policy, now: datetime) -> _Figures:
    old = and_(_pending(now), approval_requests.c.created_at <= _since(monitor, now))
    query = select(func.min(approval_requests.c.tool), func.count()).where(old)
    return _Figures(query=query, scope="all", unit=f"requests waiting over {monitor.window}")


def _llm_errors(monitor: Monitor, policy: Policy, now: datetime) -> _Figures:
    columns = audit_events.c
    since = _since(monitor, now)
    failed = func.count().filter(columns.kind == EventKind.ERROR.value, columns.payload.like(_PLANNER))
    query = select(func.min(columns.kind), failed, func.count()).where(
        columns.at >= since,
        (columns.kind == EventKind.RESPONSE.value)
        | (columns.kind == EventKind.ERROR.value) & columns.payload.like(_PLANNER),
    )
    least = monitor.min_count

    def rate(row: Sequence[Any]) -> float | None:
        total = int(row[2])
        return None if total < least else 100.0 * int(row[1]) / total

    return _Figures(
        query=query, scope="all", unit=f"% of turns failed at the model in {monitor.window}", figure=rate
    )


def _surge(monitor: Monitor, policy: Policy, now: datetime) -> _Figures:
    columns = executions.c
    window, baseline = monitor.window_length, parse_duration(monitor.baseline)
    recent_since, baseline_since = _iso(now - window), _iso(now - max(baseline, window * 2))
    recent = func.count().filter(columns.started_at >= recent_since)
    earlier = func.count().filter(columns.started_at < recent_since)
    query = (
        select(columns.tool, recent, earlier)
        .where(columns.started_at >= baseline_since, columns.started_at <= _iso(now))
        .group_by(columns.tool)
    )
    periods = max(baseline, window * 2) / window - 1  # how many windows the baseline spans
    patterns, least = monitor.tools, monitor.min_count

    def multiple(row: Sequence[Any]) -> float | None:
        tool, count, before = str(row[0]), int(row[1]), int(row[2])
        if count < least or not any(fnmatchcase(tool, pattern) for pattern in patterns):
            return None
        expected = max(before / periods, 1.0)
        return count / expected

    return _Figures(
        query=query, scope="tool", unit=f"× the trailing {monitor.baseline} rate", figure=multiple
    )


_FIGURES: dict[str, Callable[[Monitor, Policy, datetime], _Figures]] = {
    "refused_calls": _refused,
    "denials": _denials,
    "limit_near": _limit_near,
    "stuck_executions": _stuck,
    "approval_backlog": _backlog,
    "approval_age": _age,
    "llm_errors": _llm_errors,
    "tool_surge": _surge,
}


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.1f}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")
