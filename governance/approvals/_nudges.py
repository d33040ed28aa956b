"""Nudges of a request waiting for people: the veto window's announcement, reminders, escalations.

One row per (request, step), inserted once: of two workers nudging the same request at once, one
inserts the row and sends; the other finds it taken. An escalation that lets the escalated people
approve records the roles they are granted on that request (``grants``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError

from governance.approvals._values import _iso

_metadata = MetaData()

approval_nudges = Table(
    "approval_nudges",
    _metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(32), nullable=False),
    Column("step", String(32), nullable=False),
    Column("at", String(40), nullable=False),
    Column("people", Text, nullable=False),
    Column("grants", Text, nullable=False),
    UniqueConstraint("request_id", "step", name="uq_approval_nudges_step"),
    Index("ix_approval_nudges_request", "request_id"),
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Nudge:
    """A step taken on a request: ``people`` told; ``grants`` roles they may now approve with."""

    request_id: str
    step: str
    at: datetime
    people: tuple[str, ...]
    grants: tuple[str, ...]


def granted_to(nudges: Iterable[Nudge], person: str) -> frozenset[str]:
    """Roles ``person`` may approve a request with because it was escalated to them (its ``nudges``)."""
    return frozenset(role for nudge in nudges if person in nudge.people for role in nudge.grants)


def _insert_nudge(engine: Engine, nudge: Nudge) -> bool:
    row = {
        "request_id": nudge.request_id,
        "step": nudge.step,
        "at": _iso(nudge.at),
        "people": json.dumps(list(nudge.people)),
        "grants": json.dumps(list(nudge.grants)),
    }
    try:
        with engine.begin() as conn:
            conn.execute(insert(approval_nudges).values(row))
    except IntegrityError:
        return False
    return True


def _read_nudges(engine: Engine, request_ids: Sequence[str]) -> dict[str, list[Nudge]]:
    """The steps already taken on each of ``request_ids``, in order."""
    if not request_ids:
        return {}
    query = (
        select(approval_nudges)
        .where(approval_nudges.c.request_id.in_(list(request_ids)))
        .order_by(approval_nudges.c.seq)
    )
    found: dict[str, list[Nudge]] = {}
    with engine.connect() as conn:
        for row in conn.execute(query):
            found.setdefault(row.request_id, []).append(_nudge(row))
    return found


def _nudge(row: Any) -> Nudge:
    return Nudge(
        request_id=row.request_id,
        step=row.step,
        at=datetime.fromisoformat(row.at),
        people=tuple(json.loads(row.people)),
        grants=tuple(json.loads(row.grants)),
    )
