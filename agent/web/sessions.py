"""Signed-in browsers: one row per session in the governance database, so any number of ``serve``
processes share them and nothing in process memory decides who is signed in.

The cookie carries a random session id; the table stores only ``sha256(id)``, so the database alone
never yields a usable cookie. Each session has its own CSRF token, which every form of the page sends
back and every POST checks. Signing out deletes the row; an expired row counts as absent (and is
deleted when it is next presented).

A session signed in with an API token names it (``token_id``) and lives no longer than the token: the
token is read each time the session is, so revoking it (from any process) or its expiry ends the
session at its next request, with nothing to poll. A session signed in by the auth proxy's header has
no token (``via`` is ``proxy``). Rows from before sessions named their way in (``via`` NULL) count as
signed out.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Column, Engine, MetaData, String, Table, Text, delete, insert, inspect, select
from sqlalchemy.exc import DBAPIError

from governance.store import create_tables
from governance.tokens import ExpiredToken, RevokedToken, TokenStore

_metadata = MetaData()

web_sessions = Table(
    "web_sessions",
    _metadata,
    Column("id_sha256", String(64), primary_key=True),
    Column("person", String(64), nullable=False, index=True),
    Column("csrf", String(64), nullable=False),
    Column("created_at", Text, nullable=False),
    Column("expires_at", Text, nullable=False),
    # Added after the first release, so NULL in older rows (see _add_columns).
    Column("via", String(8), nullable=True),  # "token" or "proxy"
    Column("token_id", String(16), nullable=True),
)

_ADDED = ("via", "token_id")

TOKEN, PROXY = "token", "proxy"


@dataclass(frozen=True, kw_only=True, slots=True)
class WebSession:
    """A signed-in browser: who, the CSRF token its forms carry, and until when."""

    person: str
    csrf: str
    expires_at: datetime

    def csrf_matches(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(presented.encode(), self.csrf.encode())


class SessionStore:
    """Sessions in ``engine`` (table ``web_sessions``, created if missing, its newer columns added to
    an older one); ``tokens``: the API tokens sessions are checked against (those of ``engine``)."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], datetime] | None = None,
        tokens: TokenStore | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock or (lambda: datetime.now(UTC))
        self._tokens = tokens or TokenStore(engine, clock=self._clock)
        _add_columns(engine)
        create_tables(engine, web_sessions)

    def create(
        self, person: str, *, lifetime: timedelta, token_id: str | None = None
    ) -> tuple[str, WebSession]:
        """A new session for ``person`` (already authenticated): the cookie value, and the session.

        ``token_id``: the API token ``person`` signed in with, which the session will not outlive;
        None for a sign-in by the auth proxy's header.
        """
        session_id, now = secrets.token_urlsafe(32), self._clock()
        session = WebSession(person=person, csrf=secrets.token_urlsafe(32), expires_at=now + lifetime)
        row = {
            "id_sha256": _digest(session_id),
            "person": person,
            "csrf": session.csrf,
            "created_at": _iso(now),
            "expires_at": _iso(session.expires_at),
            "via": PROXY if token_id is None else TOKEN,
            "token_id": token_id,
        }
        with self._engine.begin() as conn:
            # sessions nobody signed out of are dropped once expired (same-format UTC text sorts by time)
            conn.execute(delete(web_sessions).where(web_sessions.c.expires_at <= _iso(now)))
            conn.execute(insert(web_sessions).values(**row))
        return session_id, session

    def get(self, session_id: str | None) -> WebSession | None:
        """The live session of a cookie value; None for a missing, unknown or expired one, or one whose
        token no longer authenticates."""
        row = self._row(session_id)
        if row is None or self._ended(row) is not None:
            return None
        return WebSession(person=row.person, csrf=row.csrf, expires_at=datetime.fromisoformat(row.expires_at))

    def ended(self, session_id: str | None) -> str | None:
        """Why a cookie's session was ended before its time (its token was revoked or expired, or the
        row predates tokens on sessions), for the sign-in page; None for a live or unknown one."""
        row = self._row(session_id)
        return None if row is None else self._ended(row)

    def delete(self, session_id: str | None) -> None:
        """Sign out: the cookie value no longer names a session anywhere."""
        if session_id:
            with self._engine.begin() as conn:
                conn.execute(delete(web_sessions).where(web_sessions.c.id_sha256 == _digest(session_id)))

    def _row(self, session_id: str | None) -> Any | None:
        """The unexpired row of a cookie value (an expired one is deleted)."""
        if not session_id or len(session_id) > 128:
            return None
        key = _digest(session_id)
        with self._engine.connect() as conn:
            row = conn.execute(select(web_sessions).where(web_sessions.c.id_sha256 == key)).first()
        if row is None:
            return None
        if self._clock() >= datetime.fromisoformat(row.expires_at):
            self.delete(session_id)
            return None
        return row

    def _ended(self, row: Any) -> str | None:
        """Fails closed: anything but a proxy session or one of a live token of its person is ended.
        The row is kept (until its expiry or the browser's next sign-in) so the sign-in page can say
        why; it can never count again, as a token is never un-revoked nor un-expired."""
        if row.via == PROXY:
            return None
        if row.via != TOKEN or row.token_id is None:
            return "sign-ins now end with the API token they were made with, and this one predates that"
        record = self._tokens.get(row.token_id)
        if record is None or record.person != row.person:
            return f"the API token it was made with ({row.token_id}) no longer exists"
        if record.revoked_at is not None:
            return str(RevokedToken(record.id))
        now = self._clock()
        if record.expires_at is not None and now >= record.expires_at:
            return str(ExpiredToken(record.id, record.expires_at))
        return None


def _add_columns(engine: Engine) -> None:
    """Add the columns an older ``web_sessions`` lacks (its rows then have NULL there: signed out).

    Unlike the governance tables, whose older versions refuse to start (``SchemaOutdated``), sessions
    are worth no operator's intervention. Processes starting together may race: the loser's ALTER
    fails, and is fine once the column is there.
    """
    for name in _ADDED:
        if _has_column(engine, name) is not False:
            continue
        column = web_sessions.c[name]
        try:
            with engine.begin() as conn:
                quote = conn.dialect.identifier_preparer.quote
                kind = column.type.compile(dialect=conn.dialect)
                conn.exec_driver_sql(
                    f"ALTER TABLE {quote(web_sessions.name)} ADD COLUMN {quote(name)} {kind}"
                )
        except DBAPIError:
            if not _has_column(engine, name):
                raise


def _has_column(engine: Engine, name: str) -> bool | None:
    """Whether ``web_sessions`` has column ``name``; None when there is no such table yet."""
    with engine.connect() as conn:
        found = inspect(conn)
        if not found.has_table(web_sessions.name):
            return None
        return any(column["name"] == name for column in found.get_columns(web_sessions.name))


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")
