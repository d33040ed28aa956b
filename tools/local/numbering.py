"""Record numbers in the formats the real systems use (INC0010001, CHG0030001, PO-2026-0001, ...)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from tools.local.schema import sequences

_INCIDENT_BASE = 10_000
_CHANGE_BASE = 30_000


def next_value(conn: Connection, name: str) -> int:
    """The next value of the named counter; call inside a write transaction."""
    bumped = conn.execute(
        update(sequences).where(sequences.c.name == name).values(value=sequences.c.value + 1)
    )
    if bumped.rowcount == 0:
        conn.execute(insert(sequences).values(name=name, value=1))
    return int(conn.execute(select(sequences.c.value).where(sequences.c.name == name)).scalar_one())


def incident_number(conn: Connection) -> str:
    return f"INC{_INCIDENT_BASE + next_value(conn, 'INC'):07d}"


def change_number(conn: Connection) -> str:
    return f"CHG{_CHANGE_BASE + next_value(conn, 'CHG'):07d}"


def yearly_number(conn: Connection, prefix: str, at: datetime) -> str:
    """``PO-2026-0001``: purchasing documents are numbered per calendar year."""
    name = f"{prefix}-{at.year}"
    return f"{name}-{next_value(conn, name):04d}"


def movement_id(conn: Connection, prefix: str) -> str:
    """``RES-000001``, ``TRF-000001``, ``ADJ-000001``."""
    return f"{prefix}-{next_value(conn, prefix):06d}"


def counter_of(number: str) -> tuple[str, int]:
    """The counter a record number was drawn from, and its value: ``PO-2026-0007`` -> (``PO-2026``, 7)."""
    if number.startswith("INC"):
        return "INC", int(number[3:]) - _INCIDENT_BASE
    if number.startswith("CHG"):
        return "CHG", int(number[3:]) - _CHANGE_BASE
    name, _, value = number.rpartition("-")
    return name, int(value)
