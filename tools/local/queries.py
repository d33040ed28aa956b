"""Query pieces the three local systems share: text search, idempotency look-up, state machines."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Connection, Row, Table, and_, or_, select, true

from tools.errors import InvalidArguments, InvalidTransition, NotFound
from tools.local.schema import users

State = TypeVar("State", bound=StrEnum)


def text_filter(text: str | None, columns: Iterable[ColumnElement[Any]]) -> ColumnElement[bool]:
    """Every word of ``text`` must appear, case-insensitively, in at least one of ``columns``."""
    searched = list(columns)
    words = (text or "").split()
    if not words:
        return true()
    return and_(*(or_(*(col.icontains(word, autoescape=True) for col in searched)) for word in words))


def find_by_key(conn: Connection, table: Table, key: str | None) -> Row[Any] | None:
    """The record an earlier create with this idempotency key made, if any."""
    if key is None:
        return None
    return conn.execute(select(table).where(table.c.idempotency_key == key)).first()


def require_user(conn: Connection, user_id: str) -> None:
    if conn.execute(select(users.c.id).where(users.c.id == user_id)).first() is None:
        raise NotFound("user", user_id)


def require_text(operation: str, **fields: str) -> None:
    """Refuse blank free-text fields a real system makes mandatory (notes, reasons, codes)."""
    blank = [f"{name} must not be empty" for name, value in fields.items() if not value.strip()]
    if blank:
        raise InvalidArguments(operation, blank)


def require_positive(operation: str, **fields: int) -> None:
    problems = [f"{name} must be greater than 0" for name, value in fields.items() if value <= 0]
    if problems:
        raise InvalidArguments(operation, problems)


def require_transition(
    kind: str, key: str, current: State, target: State, machine: Mapping[State, tuple[State, ...]]
) -> None:
    allowed = machine[current]
    if target not in allowed:
        raise InvalidTransition(kind, key, current.value, target.value, [state.value for state in allowed])
