"""Personal API tokens: issued to one person, shown once, stored only as a hash, expiring, revocable.

A token reads ``opl_<id>_<secret>``: ``id`` (16 hex digits) finds the row, ``secret`` (43 URL-safe
characters from :mod:`secrets`) proves possession. Only ``sha256(secret)`` is stored, so the database
alone never yields a usable token. Errors::

    TokenError            a token that does not authenticate anyone
    ├── MalformedToken    not shaped like an opslayer token
    ├── UnknownToken      no token with this id, or the secret does not match (not told apart, so a
    │                     caller cannot probe which ids exist)
    ├── ExpiredToken      past ``expires_at``
    └── RevokedToken      revoked; never valid again

Expired and revoked are only reported to a caller who presented the right secret.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Column, Engine, MetaData, String, Table, Text, insert, select, update

from governance.store import create_tables

PREFIX = "opl"
_TOKEN = re.compile(r"^opl_(?P<id>[0-9a-f]{16})_(?P<secret>[A-Za-z0-9_-]{32,64})$")

MAX_LIFETIME = timedelta(days=36_500)
"""The longest a token may live (100 years): a configured lifetime beyond it is a mistake, and a date
past the year 9999 cannot even be computed."""

_metadata = MetaData()

api_tokens = Table(
    "api_tokens",
    _metadata,
    Column("id", String(16), primary_key=True),
    Column("person", String(64), nullable=False, index=True),
    Column("secret_sha256", String(64), nullable=False),
    Column("label", Text, nullable=True),
    Column("created_at", Text, nullable=False),
    Column("expires_at", Text, nullable=True),
    Column("revoked_at", Text, nullable=True),
    Column("revoked_by", String(64), nullable=True),
)


class TokenError(Exception):
    """A presented token authenticates nobody; ``str(error)`` says why, for the caller."""


class MalformedToken(TokenError):
    def __init__(self) -> None:
        super().__init__("not an opslayer API token (expected opl_<id>_<secret>)")


class UnknownToken(TokenError):
    def __init__(self) -> None:
        super().__init__("unknown token")


class ExpiredToken(TokenError):
    def __init__(self, token_id: str, expired_at: datetime) -> None:
        super().__init__(f"token {token_id} expired at {_iso(expired_at)}")
        self.token_id = token_id


class RevokedToken(TokenError):
    def __init__(self, token_id: str) -> None:
        super().__init__(f"token {token_id} was revoked")
        self.token_id = token_id


class NoSuchToken(KeyError):
    """Revoking a token id that does not exist (for the person asked about)."""

    def __init__(self, token_id: str) -> None:
        super().__init__(token_id)
        self.token_id = token_id

    def __str__(self) -> str:
        return f"no API token {self.token_id!r}"


@dataclass(frozen=True, kw_only=True, slots=True)
class TokenRecord:
    """A stored token, without its secret."""

    id: str
    person: str
    label: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)

    def to_dict(self) -> dict[str, str | None]:
        return {
            "id": self.id,
            "person": self.person,
            "label": self.label,
            "created_at": _iso(self.created_at),
            "expires_at": None if self.expires_at is None else _iso(self.expires_at),
            "revoked_at": None if self.revoked_at is None else _iso(self.revoked_at),
            "revoked_by": self.revoked_by,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class IssuedToken:
    """A new token: ``token`` is the only time the secret exists outside the caller's hands."""

    token: str
    record: TokenRecord


class TokenStore:
    """API tokens in ``engine`` (table ``api_tokens``, created if missing)."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] | None = None) -> None:
        self._engine = engine
        self._clock = clock or (lambda: datetime.now(UTC))
        create_tables(engine, api_tokens)

    def create(self, person: str, *, expires_in: timedelta | None, label: str | None = None) -> IssuedToken:
        """Issue a token for ``person`` (who must already be checked against the directory).

        ``ValueError`` for a lifetime that is not positive or longer than :data:`MAX_LIFETIME`; callers
        that read the lifetime from a setting or an option name it in what they tell the person."""
        if expires_in is not None and expires_in <= timedelta(0):
            raise ValueError(f"a token must live a while, not {expires_in}")
        if expires_in is not None and expires_in > MAX_LIFETIME:
            raise ValueError(
                f"a token lives at most {MAX_LIFETIME.days} days (100 years), not {expires_in.days}"
            )
        now = self._now()
        token_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        record = TokenRecord(
            id=token_id,
            person=person,
            label=label,
            created_at=now,
            expires_at=None if expires_in is None else now + expires_in,
            revoked_at=None,
            revoked_by=None,
        )
        row = {**record.to_dict(), "secret_sha256": _digest(secret)}
        with self._engine.begin() as conn:
            conn.execute(insert(api_tokens).values(**row))
        return IssuedToken(token=f"{PREFIX}_{token_id}_{secret}", record=record)

    def authenticate(self, token: str) -> TokenRecord:
        """The record of a valid token, or a :class:`TokenError` saying why it is not valid."""
        match = _TOKEN.match(token.strip())
        if match is None:
            raise MalformedToken()
        with self._engine.connect() as conn:
            row = conn.execute(select(api_tokens).where(api_tokens.c.id == match["id"])).first()
        presented = _digest(match["secret"])
        # Compared even for a missing row, so both cases take the same path.
        stored = row.secret_sha256 if row is not None else "0" * 64
        matches = hmac.compare_digest(presented, stored)
        if row is None or not matches:
            raise UnknownToken()
        record = _record(row._asdict())
        if record.revoked_at is not None:
            raise RevokedToken(record.id)
        if record.expires_at is not None and self._now() >= record.expires_at:
            raise ExpiredToken(record.id, record.expires_at)
        return record

    def list(self, *, person: str | None = None) -> builtins.list[TokenRecord]:
        """Tokens, oldest first (revoked and expired ones too)."""
        query = select(api_tokens).order_by(api_tokens.c.created_at, api_tokens.c.id)
        if person is not None:
            query = query.where(api_tokens.c.person == person)
        with self._engine.connect() as conn:
            return [_record(row._asdict()) for row in conn.execute(query)]

    def get(self, token_id: str) -> TokenRecord | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).first()
        return None if row is None else _record(row._asdict())

    def revoke(self, token_id: str, *, by: str, person: str | None = None) -> tuple[TokenRecord, bool]:
        """Revoke a token (``person``: only if it is theirs); the token as it now is, and whether this
        call revoked it. Revoking twice keeps the first revocation (and changes nothing)."""
        record = self.get(token_id)
        if record is None or (person is not None and record.person != person):
            raise NoSuchToken(token_id)
        if record.revoked_at is not None:
            return record, False
        now = self._now()
        with self._engine.begin() as conn:
            changed = conn.execute(
                update(api_tokens)
                .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=_iso(now), revoked_by=by)
            ).rowcount
        revoked = self.get(token_id)
        assert revoked is not None  # tokens are never deleted
        return revoked, changed == 1

    def _now(self) -> datetime:
        now = self._clock()
        if now.utcoffset() is None:
            raise ValueError("the token clock must return timezone-aware datetimes")
        return now.astimezone(UTC)


def parse_lifetime(text: str) -> timedelta:
    """``90d``, ``12h``, ``30m`` or ``2w`` as a duration; ValueError naming what is wrong."""
    match = re.fullmatch(r"\s*(\d{1,6})\s*([mhdw])\s*", text)
    if match is None:
        raise ValueError(f"{text!r} is not a lifetime such as 90d, 12h, 30m or 2w")
    amount, unit = int(match[1]), match[2]
    if amount == 0:
        raise ValueError("a token lifetime must be more than 0")
    return _UNITS[unit] * amount


_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _record(row: dict[str, str | None]) -> TokenRecord:
    return TokenRecord(
        id=str(row["id"]),
        person=str(row["person"]),
        label=row["label"],
        created_at=_parse(row["created_at"]) or datetime.min.replace(tzinfo=UTC),
        expires_at=_parse(row["expires_at"]),
        revoked_at=_parse(row["revoked_at"]),
        revoked_by=row["revoked_by"],
    )


def _parse(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")
