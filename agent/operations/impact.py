"""Operational impact for the people who answer for the execution layer (the CIO/COO view).

The figures are counted by :func:`governance.impact.compute_impact` over the audit trail; here they get
the policy's ``effort_minutes``, the review cost per vote from the settings, and the rule for who may
read them: every front end (``opslayer report``, ``GET /v1/impact``, the metrics) calls these.

The figures are aggregates (counts per tool, rule-free, no arguments and no thread), so besides the
auditors and the roles in ``OPSLAYER_IMPACT_ROLES``, everyone who manages someone in the directory
may read them: the people a CIO or COO delegates oversight to.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from governance.impact import Impact, Period, compute_impact, system_of

if TYPE_CHECKING:
    from agent.operations.service import Operations

DEFAULT_RANGE = timedelta(days=30)
"""What a report covers when no start is given: the 30 days before now."""


def impact(
    ops: Operations,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    period: Period = "day",
    now: datetime | None = None,
) -> Impact:
    """The figures over ``[since, until)``; ``since`` defaults to :data:`DEFAULT_RANGE` before ``now``
    (the service's clock), ``until`` to none (everything up to now)."""
    if since is None:
        since = (now or ops._clock()) - DEFAULT_RANGE  # the service's clock (same package)
    if until is not None and until <= since:
        raise ValueError(f"the range ends ({until.isoformat()}) before it starts ({since.isoformat()})")
    return compute_impact(
        ops.stores.audit,
        since=since,
        until=until,
        period=period,
        effort_minutes=ops.governance.policy.policy.effort_minutes,
        review_minutes=ops.settings.impact_review_minutes,
    )


def may_read_impact(ops: Operations, person_id: str) -> bool:
    """Auditors, holders of an ``OPSLAYER_IMPACT_ROLES`` role, and whoever manages someone."""
    person = ops.person(person_id)
    if not person.roles.isdisjoint(ops.settings.impact_roles):
        return True
    return any(other.manager == person.id for other in ops.governance.directory)


METRICS_WINDOW = timedelta(hours=24)
"""What the ``opslayer_impact_*`` gauges cover: the 24 hours before each scrape."""


def recent_impact(ops: Operations) -> Impact:
    """The figures of the last :data:`METRICS_WINDOW` (what the metrics report)."""
    return impact(ops, since=ops._clock() - METRICS_WINDOW)


def catalogue_systems(ops: Operations) -> set[str]:
    """The systems of the tool catalogue (``itsm``, ``inventory``, …): the metrics' system labels."""
    return {system_of(name) for name in ops.governance.registry.side_effects()}
