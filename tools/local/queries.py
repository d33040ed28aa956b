"""Query pieces the three local systems share: text search, idempotency look-up, known users."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, Table, and_, or_, select, true

from tools.errors import NotFound
from tools.local.schema import users


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
