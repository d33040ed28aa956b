"""Builders that keep the hand-written seed records short: timestamps and prose as plain strings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from tools.models import ChangeRequest, Incident, Reservation, WorkNote

ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
"""Every seeded record is dated before this instant."""


def at(text: str) -> datetime:
    """``"2026-08-31 14:22"`` (UTC) as an aware datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def prose(text: str) -> str:
    """Collapse a triple-quoted paragraph into one line of text."""
    return " ".join(text.split())


@dataclass(frozen=True, kw_only=True)
class SeedChange:
    created_at: datetime
    change: ChangeRequest


@dataclass(frozen=True, kw_only=True)
class SeedReservation:
    created_at: datetime
    reservation: Reservation


def incident(
    *,
    number: str,
    opened: str,
    priority: int,
    state: str,
    caller: str,
    short: str,
    description: str,
    service: str | None = None,
    ci: str | None = None,
    group: str | None = None,
    assignee: str | None = None,
    resolved: tuple[str, str, str] | None = None,
    notes: tuple[tuple[str, str, str], ...] = (),
) -> Incident:
    """An incident; ``resolved`` is (when, resolution code, notes), ``notes`` are (author, when, text)."""
    resolved_at, code, resolution = resolved if resolved else (None, None, None)
    return Incident.model_validate(
        {
            "number": number,
            "short_description": prose(short),
            "description": prose(description),
            "priority": priority,
            "state": state,
            "service": service,
            "ci": ci,
            "assignment_group": group,
            "assigned_to": assignee,
            "caller": caller,
            "opened_at": at(opened),
            "resolved_at": at(resolved_at) if resolved_at else None,
            "resolution_code": code,
            "resolution_notes": prose(resolution) if resolution else None,
            "work_notes": tuple(WorkNote(author=a, at=at(w), text=prose(t)) for a, w, t in notes),
        }
    )


def change(
    *,
    number: str,
    created: str,
    short: str,
    description: str,
    ci: str,
    risk: str,
    state: str,
    requested_by: str,
    planned: tuple[str, str] | None = None,
) -> SeedChange:
    start, end = planned if planned else (None, None)
    record = ChangeRequest.model_validate(
        {
            "number": number,
            "short_description": prose(short),
            "description": prose(description),
            "ci": ci,
            "risk": risk,
            "state": state,
            "requested_by": requested_by,
            "planned_start": at(start) if start else None,
            "planned_end": at(end) if end else None,
        }
    )
    return SeedChange(created_at=at(created), change=record)
