"""Signed-in browsers: one row per session in the governance database, so any number of ``serve``
processes share them and nothing in process memory decides who is signed in.

The cookie carries a random session id; the table stores only ``sha256(id)``, so the database alone
never yields a usable cookie. Each session has its own CSRF token, which every form of the page sends
back and every POST checks. Signing out deletes the row; an expired row counts as absent (and is
deleted when it is next presented).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Column, Engine, MetaData, String, Table, Text, delete, insert, select

from governance.store import create_tables

_metadata = MetaData()

web_sessions = Table(
    "web_sessions",
    _metadata,
    Column("id_sha256", String(64), primary_key=True),
    Column("person", String(64), nullable=False, index=True),
    Column("csrf", String(64), nullable=False),
    Column("created_at", Text, nullable=False),
    Column("expires_at", Text, nullable=False),
)


@dataclass(frozen=True, kw_only=True, slots=True)
class WebSession:
    """A signed-in browser: who, the CSRF token its forms carry, and until when."""

    person: str
    csrf: str
    expires_at: datetime

    def csrf_matches(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(presented.encode(), self.csrf.encode())


class SessionStore:
    """Sessions in ``engine`` (table ``web_sessions``, created if missing)."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] | None = None) -> None:
        self._engine = engine
        self._clock = clock or (lambda: datetime.now(UTC))
        create_tables(engine, web_sessions)

    def create(self, person: str, *, lifetime: timedelta) -> tuple[str, WebSession]:
        """A new session for ``person`` (already authenticated): the cookie value, and the session."""
        session_id, now = secrets.token_urlsafe(32), self._clock()
        session = WebSession(person=person, csrf=secrets.token_urlsafe(32), expires_at=now + lifetime)
        row = {
            "id_sha256": _digest(session_id),
            "person": person,
            "csrf": session.csrf,
            "created_at": _iso(now),
            "expires_at": _iso(session.expires_at),
        }
        with self._engine.begin() as conn:
            # sessions nobody signed out of are dropped once expired (same-format UTC text sorts by time)
            conn.execute(delete(web_sessions).where(web_sessions.c.expires_at <= _iso(now)))
            conn.execute(insert(web_sessions).values(**row))
        return session_id, session

    def get(self, session_id: str | None) -> WebSession | None:
        """The live session of a cookie value; None for a missing, unknown or expired one."""
        if not session_id or len(session_id) > 128:
            return None
        key = _digest(session_id)
        with self._engine.connect() as conn:
            row = conn.execute(select(web_sessions).where(web_sessions.c.id_sha256 == key)).first()
        if row is None:
            return None
        expires_at = datetime.fromisoformat(row.expires_at)
        if self._clock() >= expires_at:
            self.delete(session_id)
            return None
        return WebSession(person=row.person, csrf=row.csrf, expires_at=expires_at)

    def delete(self, session_id: str | None) -> None:
        """Sign out: the cookie value no longer names a session anywhere."""
        if session_id:
            with self._engine.begin() as conn:
                conn.execute(delete(web_sessions).where(web_sessions.c.id_sha256 == _digest(session_id)))


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")
