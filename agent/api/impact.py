"""``GET /v1/impact``: the impact figures (the CIO/COO view) as JSON, the same as ``opslayer report
--json``. Aggregates only, for auditors, the ``OPSLAYER_IMPACT_ROLES`` and whoever manages someone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, NoReturn

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from agent.api.auth import Caller
from agent.api.context import Ops
from agent.api.problems import Forbidden, Invalid
from agent.operations.impact import impact as count
from agent.operations.impact import may_read_impact
from agent.operations.report import report_data

router = APIRouter(prefix="/v1", tags=["impact"])


class FiguresOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    requests: int
    calls: int
    by_tier: dict[str, int]
    completed: int
    completed_without_human: int
    without_human_share: float | None
    failed_executions: int
    approvals_requested: int
    approved: int
    rejected: int
    expired: int
    decision_p50_seconds: float | None
    decision_p95_seconds: float | None
    reminders: int
    escalations: int
    veto_windows: int
    vetoes: int
    denials: int
    monitors_tripped: int
    effort_minutes: float
    review_minutes: float
    minutes_saved: float


class ImpactOut(BaseModel):
    """Totals, then per period, system and tool; ``assumptions`` holds what minutes saved rest on."""

    generated_at: datetime
    policy_version: str
    since: datetime | None
    until: datetime | None
    period: Literal["day", "week"]
    assumptions: dict[str, Any]
    totals: FiguresOut
    periods: list[FiguresOut]
    systems: list[FiguresOut]
    tools: list[FiguresOut]
    monitors: list[dict[str, Any]]


@router.get("/impact", response_model=ImpactOut, summary="What the execution layer did (impact figures)")
def impact(
    caller: Caller,
    ops: Ops,
    since: Annotated[
        datetime | None, Query(description="From (ISO 8601, inclusive); default 30 days ago")
    ] = None,
    until: Annotated[datetime | None, Query(description="Up to (ISO 8601, excluded)")] = None,
    period: Annotated[Literal["day", "week"], Query(description="Slice by day or week")] = "day",
) -> dict[str, Any]:
    """Requests, calls by tier, share without a human decision, approvals and time to decide,
    escalations, vetoes, denials, monitors tripped, failed executions, minutes saved."""
    if not may_read_impact(ops, caller.id):
        raise Forbidden(
            "the impact figures are for auditors, managers and the roles OPSLAYER_IMPACT_ROLES names"
        )
    bounds = {"since": _aware(since), "until": _aware(until)}
    for name, moment in bounds.items():
        if moment is not None and not _in_range(moment):
            _invalid(name, f"{moment.isoformat()} is out of range")
    try:
        figures = count(ops, since=bounds["since"], until=bounds["until"], period=period)
    except ValueError as exc:  # the range ends before it starts
        _invalid("until", str(exc))
    return report_data(figures, generated_at=datetime.now(UTC), policy_version=ops.policy().version)


def _invalid(parameter: str, message: str) -> NoReturn:
    raise Invalid(f"{parameter}: {message}", errors=[{"loc": ["query", parameter], "msg": message}])


def _in_range(moment: datetime) -> bool:
    """Whether the time is one in UTC too (``0001-01-01T00:00+14:00`` is not)."""
    try:
        moment.astimezone(UTC)
    except OverflowError:
        return False
    return True


def _aware(moment: datetime | None) -> datetime | None:
    """A time without an offset is UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)
