"""The restrictions store: tripped monitors and autonomy pauses, in force until a person clears them.

One row per trip or pause. While a row is active its ``active_key`` (source, name, scope, subject)
is set and unique, so a monitor tripping in two workers at once, or tripping again on the next pass,
makes one row and one ``monitor_tripped`` event; clearing is one guarded UPDATE (``cleared_at IS
NULL``), so two people clearing at once make one ``monitor_cleared`` (``autonomy_resumed``) event.

:meth:`RestrictionStore.oversight` is what ``decide`` gets: the active rows whose tier holds calls
(a monitor that only notifies leaves a row to clear, but restricts nothing).
"""

from __future__ import annotations

import builtins
import json
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    Float,
    Index,
    MetaData,
    Row,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from governance.audit import AuditLog, EventKind
from governance.decision import ApprovalRequirement, Tier
from governance.oversight import SCOPES, Oversight, Restriction
from governance.store import create_tables

MONITOR = "monitor"
PAUSE = "pause"
_PREFIX = "RST-"

_metadata = MetaData()

restrictions = Table(
    "oversight_restrictions",
    _metadata,
    Column("id", String(32), primary_key=True),
    Column("source", String(16), nullable=False),
    Column("name", String(255), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("subject", String(255), nullable=True),
    Column("tools", Text, nullable=False),
    Column("tier", String(16), nullable=False),
    Column("approvals", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("figure", Float, nullable=True),
    Column("threshold", Float, nullable=True),
    Column("created_at", String(40), nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("cleared_at", String(40), nullable=True),
    Column("cleared_by", String(255), nullable=True),
    Column("clear_reason", Text, nullable=True),
    # Set while active, NULL once cleared: NULLs never collide, so one active row per key.
    Column("active_key", String(800), nullable=True, unique=True),
    Index("ix_oversight_restrictions_active", "cleared_at"),
)


class UnknownRestriction(KeyError):
    """No restriction (tripped monitor, pause) with this id."""

    def __init__(self, restriction_id: str) -> None:
        super().__init__(restriction_id)
        self.restriction_id = restriction_id

    def __str__(self) -> str:
        return f"no restriction {self.restriction_id!r} (see `opslayer monitors list`)"


class AlreadyCleared(ValueError):
    """The restriction was cleared already (by someone else, perhaps a moment ago)."""


class RestrictionStore:
    """Restrictions in ``engine`` (table created if missing), audited to ``audit``."""

    def __init__(self, engine: Engine, *, audit: AuditLog, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self._audit = audit
        self._clock = clock
        create_tables(engine, restrictions)

    def trip(
        self,
        *,
        monitor: str,
        scope: str,
        subject: str | None,
        tools: tuple[str, ...],
        tier: Tier,
        approvals: tuple[ApprovalRequirement, ...],
        reason: str,
        figure: float,
        threshold: float,
        payload: Mapping[str, Any] | None = None,
    ) -> Restriction | None:
        """Record a monitor's trip (audited ``monitor_tripped``); None if it is already tripped for
        this scope and nobody cleared it yet."""
        return self._add(
            source=MONITOR,
            name=monitor,
            scope=scope,
            subject=subject,
            tools=tools,
            tier=tier,
            approvals=approvals,
            reason=reason,
            by="worker",
            figures=(figure, threshold),
            payload=payload or {},
        )

    def pause(
        self,
        *,
        by: str,
        reason: str,
        tools: tuple[str, ...],
        person: str | None,
        tier: Tier,
        approvals: tuple[ApprovalRequirement, ...],
    ) -> Restriction:
        """Pause autonomy for ``tools`` (of ``person``, or of everyone); audited ``autonomy_paused``.

        A second identical pause while the first holds returns the first.
        """
        scope, subject = ("person", person) if person is not None else ("all", None)
        added = self._add(
            source=PAUSE,
            name=by,
            scope=scope,
            subject=subject,
            tools=tools,
            tier=tier,
            approvals=approvals,
            reason=reason,
            by=by,
            figures=(None, None),
            payload={},
        )
        if added is not None:
            return added
        key = _active_key(PAUSE, by, scope, subject, tools)
        existing = self._read(restrictions.c.active_key == key)
        if not existing:
            raise RuntimeError("pause neither added nor found; try again")
        return existing[0]

    def clear(self, restriction_id: str, *, by: str, reason: str) -> Restriction:
        """Clear a restriction (audited ``monitor_cleared`` or ``autonomy_resumed``).

        Raises :class:`UnknownRestriction` or :class:`AlreadyCleared`.
        """
        row_id = _normalise(restriction_id)
        found = self.get(row_id)
        now = _iso(self._clock())
        guard = update(restrictions).where(restrictions.c.id == row_id, restrictions.c.cleared_at.is_(None))
        with self.engine.begin() as conn:
            changed = conn.execute(
                guard.values(cleared_at=now, cleared_by=by, clear_reason=reason, active_key=None)
            ).rowcount
        if changed != 1:
            raise AlreadyCleared(f"{row_id} was already cleared")
        kind = EventKind.MONITOR_CLEARED if found.source == MONITOR else EventKind.AUTONOMY_RESUMED
        payload = {**_payload(found), "cleared_by": by, "reason": reason}
        self._audit.append(kind, payload, actor=by)
        return found

    def get(self, restriction_id: str) -> Restriction:
        found = self._read(restrictions.c.id == _normalise(restriction_id))
        if not found:
            raise UnknownRestriction(restriction_id)
        return found[0]

    def list(self, *, active: bool = True, limit: int = 200) -> builtins.list[Restriction]:
        """Restrictions, newest first; only those in force unless ``active`` is False."""
        conditions = [restrictions.c.cleared_at.is_(None)] if active else []
        return self._read(*conditions, limit=limit)

    def oversight(self) -> Oversight:
        """The restrictions in force that hold calls: the ``oversight`` input of ``decide``."""
        holding = [r for r in self.list() if r.tier in (Tier.APPROVE, Tier.DENY)]
        return Oversight(restrictions=tuple(sorted(holding, key=lambda r: r.id)))

    def active_keys(self) -> set[tuple[str, str, str | None]]:
        """(monitor, scope, subject) of every monitor trip not yet cleared (one query per pass)."""
        query = select(restrictions.c.name, restrictions.c.scope, restrictions.c.subject).where(
            restrictions.c.cleared_at.is_(None), restrictions.c.source == MONITOR
        )
        with self.engine.connect() as conn:
            return {(row.name, row.scope, row.subject) for row in conn.execute(query)}

    def cleared_since(self, since: datetime) -> dict[tuple[str, str, str | None], datetime]:
        """When each monitor trip (monitor, scope, subject) cleared at or after ``since`` was cleared
        (the latest clearance of each)."""
        columns = restrictions.c
        query = select(columns.name, columns.scope, columns.subject, columns.cleared_at).where(
            columns.source == MONITOR, columns.cleared_at >= _iso(since)
        )
        cleared: dict[tuple[str, str, str | None], datetime] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                key, at = (row.name, row.scope, row.subject), datetime.fromisoformat(row.cleared_at)
                cleared[key] = max(at, cleared.get(key, at))
        return cleared

    def _add(
        self,
        *,
        source: str,
        name: str,
        scope: str,
        subject: str | None,
        tools: tuple[str, ...],
        tier: Tier,
        approvals: tuple[ApprovalRequirement, ...],
        reason: str,
        by: str,
        figures: tuple[float | None, float | None],
        payload: Mapping[str, Any],
    ) -> Restriction | None:
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
        restriction_id = _PREFIX + secrets.token_hex(4).upper()
        rule_id = f"monitor:{name}" if source == MONITOR else f"pause:{restriction_id}"
        named = tuple(ApprovalRequirement(roles=a.roles, count=a.count, rule_id=rule_id) for a in approvals)
        now = self._clock().astimezone(UTC)
        restriction = Restriction(
            id=restriction_id,
            source=source,
            name=name,
            scope=scope,
            subject=subject,
            tools=tools,
            tier=tier,
            approvals=named,
            reason=reason,
            created_at=now,
            created_by=by,
        )
        row = {
            **_row(restriction),
            "figure": figures[0],
            "threshold": figures[1],
            "active_key": _active_key(source, name, scope, subject, tools),
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(restrictions).values(row))
        except IntegrityError:
            return None
        kind = EventKind.MONITOR_TRIPPED if source == MONITOR else EventKind.AUTONOMY_PAUSED
        figure_payload = {"figure": figures[0], "threshold": figures[1]} if source == MONITOR else {}
        self._audit.append(kind, {**_payload(restriction), **figure_payload, **payload}, actor=by)
        return restriction

    def _read(self, *conditions: Any, limit: int | None = None) -> builtins.list[Restriction]:
        query = select(restrictions).where(*conditions).order_by(restrictions.c.created_at.desc())
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [_restriction(row) for row in conn.execute(query)]


def _active_key(source: str, name: str, scope: str, subject: str | None, tools: tuple[str, ...]) -> str:
    if source == MONITOR:  # a monitor trips once per scope, whatever it restricts
        return json.dumps([source, name, scope, subject])
    return json.dumps([source, scope, subject, sorted(tools)])


def _payload(restriction: Restriction) -> dict[str, Any]:
    payload = restriction.to_dict()
    payload["restriction_id"] = payload.pop("id")
    if restriction.source == MONITOR:
        payload["monitor"] = restriction.name
    return payload


def _row(restriction: Restriction) -> dict[str, Any]:
    return {
        "id": restriction.id,
        "source": restriction.source,
        "name": restriction.name,
        "scope": restriction.scope,
        "subject": restriction.subject,
        "tools": json.dumps(list(restriction.tools)),
        "tier": restriction.tier.value,
        "approvals": json.dumps([a.to_dict() for a in restriction.approvals]),
        "reason": restriction.reason,
        "created_at": _iso(restriction.created_at),
        "created_by": restriction.created_by,
    }


def _restriction(row: Row[Any]) -> Restriction:
    return Restriction(
        id=row.id,
        source=row.source,
        name=row.name,
        scope=row.scope,
        subject=row.subject,
        tools=tuple(json.loads(row.tools)),
        tier=Tier(row.tier),
        approvals=tuple(
            ApprovalRequirement(roles=tuple(a["roles"]), count=int(a["count"]), rule_id=a["rule_id"])
            for a in json.loads(row.approvals)
        ),
        reason=row.reason,
        created_at=datetime.fromisoformat(row.created_at),
        created_by=row.created_by,
    )


def _normalise(restriction_id: str) -> str:
    text = restriction_id.strip().upper()
    return text if text.startswith(_PREFIX) else _PREFIX + text


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")
