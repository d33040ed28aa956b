"""Usage ledger for policy limits: how much of a budget an actor (or everyone) has used in a window.

``decide`` only reads the ledger (:class:`UsageReader`) and reports what the call would add
(:class:`UsageCharge`). A cleared call then goes through three steps, each keyed by the call's
idempotency key per limit, so retries and resumes never count twice:

- :meth:`SqlUsageLedger.reserve` checks every limit the call is bounded by and holds its amount, in one
  transaction that serialises with every other reservation of the same limit key (SQLite: ``BEGIN
  IMMEDIATE``; PostgreSQL: a transaction-scoped advisory lock per limit key, taken in sorted order).
  Of two sessions racing for the last of a budget, exactly one gets it; the other re-decides and sees
  the first one's hold. Reserved amounts count in :meth:`~SqlUsageLedger.total` like charges do.
- :meth:`~SqlUsageLedger.record` turns the hold into the charge when the call has executed;
- :meth:`~SqlUsageLedger.release` drops a hold whose call failed, was refused, or is decided again.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from governance.store import autocommit, create_tables, immediate

GLOBAL_KEY = "*"
"""Ledger key of limits counted for everyone together (``per: global``)."""

# Float sums (9,500.1 + 499.9) must not push a call that lands exactly on the limit over it.
_TOLERANCE = 1e-12
RESERVED = "reserved"
CHARGED = "charged"

_metadata = MetaData()

usage_events = Table(
    "usage_events",
    _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("limit_id", String(128), nullable=False),
    Column("key", String(256), nullable=False),
    Column("amount", Float, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("idempotency_key", String(256), nullable=False, unique=True),
    Column("state", String(16), nullable=False, server_default=CHARGED),  # reserved | charged
    Index("ix_usage_events_window", "limit_id", "key", "at"),
)


def exceeds(used: float, amount: float, maximum: float) -> bool:
    """Whether ``used + amount`` goes over ``maximum`` (exactly ``maximum`` is fine), with float slack."""
    return used + amount > maximum * (1 + _TOLERANCE) + 1e-9


@dataclass(frozen=True, kw_only=True, slots=True)
class UsageCharge:
    """What one executed call adds to a limit's ledger: ``amount`` under ``key`` (actor id or ``*``)."""

    limit_id: str
    key: str
    amount: float


@dataclass(frozen=True, kw_only=True, slots=True)
class Hold:
    """One limit's share of a cleared call: hold ``charge`` if the window has room (``max`` None: always).

    ``max`` is None for a limit the call may exceed because its approval covers that (the decision
    already escalated it); ``row_key`` is the ledger's idempotency key of this charge.
    """

    charge: UsageCharge
    since: datetime
    max: float | None
    row_key: str


class UsageReader(Protocol):
    """Read side of the ledger, all ``decide`` needs."""

    def total(self, limit_id: str, key: str, since: datetime) -> float:
        """Sum of amounts recorded for ``limit_id``/``key`` at or after ``since``."""
        ...


class InMemoryUsage:
    """A ledger in memory, for tests and benchmarks; ``total`` is a binary search over prefix sums."""

    def __init__(self) -> None:
        self._series: dict[tuple[str, str], _Series] = {}
        self._seen: set[str] = set()

    def record(self, charge: UsageCharge, at: datetime, idempotency_key: str) -> bool:
        """Add ``charge`` at ``at``; a repeated ``idempotency_key`` adds nothing and returns False."""
        if idempotency_key in self._seen:
            return False
        self._seen.add(idempotency_key)
        self._series.setdefault((charge.limit_id, charge.key), _Series()).add(_utc(at), charge.amount)
        return True

    def total(self, limit_id: str, key: str, since: datetime) -> float:
        if since.tzinfo is None:
            raise ValueError(f"usage times must be timezone-aware, got {since.isoformat()}")
        series = self._series.get((limit_id, key))
        return 0.0 if series is None else series.since(since)


class _Series:
    """Amounts in time order with their running totals."""

    def __init__(self) -> None:
        self.times: list[datetime] = []
        self.amounts: list[float] = []
        self.running: list[float] = []

    def add(self, at: datetime, amount: float) -> None:
        index = bisect.bisect_right(self.times, at)
        self.times.insert(index, at)
        self.amounts.insert(index, amount)
        before = self.running[index - 1] if index else 0.0
        self.running[index:] = itertools.accumulate(self.amounts[index:], initial=before)
        del self.running[index]  # accumulate() yields `before` first

    def since(self, moment: datetime) -> float:
        start = bisect.bisect_left(self.times, moment)
        if start == len(self.times):
            return 0.0
        return self.running[-1] - (self.running[start - 1] if start else 0.0)


class SqlUsageLedger:
    """The ledger in a SQL table (``usage_events``), created on construction if missing."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sqlite = engine.dialect.name == "sqlite"
        self._manual = autocommit(engine) if self._sqlite else engine
        create_tables(engine, usage_events)

    def record(self, charge: UsageCharge, at: datetime, idempotency_key: str) -> bool:
        """Charge ``charge`` at ``at``; False if ``idempotency_key`` was already charged.

        A hold under the same key becomes the charge. The key is unique per row, so a call that
        charges two limits needs one key per charge (``usage_charge_key(execution_key, limit_id)``).
        """
        row = _row(charge, at, idempotency_key, CHARGED)
        turned = (
            update(usage_events)
            .where(usage_events.c.idempotency_key == idempotency_key, usage_events.c.state == RESERVED)
            .values(state=CHARGED, at=row["at"], amount=charge.amount)
        )
        try:
            with self._engine.begin() as connection:
                if connection.execute(turned).rowcount == 1:
                    return True
                connection.execute(usage_events.insert().values(**row))
        except IntegrityError:
            return False
        return True

    def reserve(self, holds: Sequence[Hold], at: datetime) -> str | None:
        """Hold every charge of one call atomically; None if all fit, else the id of a limit that is full.

        Each bounded hold is checked against the window's total (charges and other holds; a hold
        already under the same row key is replaced, not added to). Nothing is held unless all fit.
        A row already charged under the key stays as it is.
        """
        if not holds:
            return None
        try:
            with self._locked(sorted({(h.charge.limit_id, h.charge.key) for h in holds})) as conn:
                for hold in holds:
                    if hold.max is not None and exceeds(self._used(conn, hold), hold.charge.amount, hold.max):
                        raise _Full(hold.charge.limit_id)
                for hold in holds:
                    self._hold(conn, hold, at)
        except _Full as full:
            return full.limit_id
        return None

    def release(self, row_keys: Sequence[str]) -> int:
        """Drop the holds under ``row_keys`` (charges stay); how many were dropped."""
        if not row_keys:
            return 0
        query = delete(usage_events).where(
            usage_events.c.idempotency_key.in_(list(row_keys)), usage_events.c.state == RESERVED
        )
        with self._engine.begin() as connection:
            return int(connection.execute(query).rowcount)

    @contextmanager
    def _locked(self, limit_keys: Sequence[tuple[str, str]]) -> Iterator[Connection]:
        """A transaction that no other reservation of these limit keys can interleave with."""
        if self._sqlite:
            # SQLite has one writer: BEGIN IMMEDIATE takes the write lock before anything is read.
            with immediate(self._manual) as conn:
                yield conn
            return
        with self._engine.begin() as conn:
            for limit_id, key in limit_keys:
                conn.execute(select(func.pg_advisory_xact_lock(_lock_id(limit_id, key))))
            yield conn

    def _used(self, conn: Connection, hold: Hold) -> float:
        query = select(func.coalesce(func.sum(usage_events.c.amount), 0.0)).where(
            usage_events.c.limit_id == hold.charge.limit_id,
            usage_events.c.key == hold.charge.key,
            usage_events.c.at >= _utc(hold.since),
            usage_events.c.idempotency_key != hold.row_key,
        )
        return float(conn.execute(query).scalar_one())

    def _hold(self, conn: Connection, hold: Hold, at: datetime) -> None:
        replace_hold = (
            update(usage_events)
            .where(usage_events.c.idempotency_key == hold.row_key, usage_events.c.state == RESERVED)
            .values(
                amount=hold.charge.amount, at=_utc(at), limit_id=hold.charge.limit_id, key=hold.charge.key
            )
        )
        if conn.execute(replace_hold).rowcount:
            return
        taken = select(usage_events.c.id).where(usage_events.c.idempotency_key == hold.row_key)
        if conn.execute(taken).first() is None:
            conn.execute(usage_events.insert().values(**_row(hold.charge, at, hold.row_key, RESERVED)))

    def total(self, limit_id: str, key: str, since: datetime) -> float:
        query = select(func.coalesce(func.sum(usage_events.c.amount), 0.0)).where(
            usage_events.c.limit_id == limit_id,
            usage_events.c.key == key,
            usage_events.c.at >= _utc(since),
        )
        with self._engine.connect() as connection:
            return float(connection.execute(query).scalar_one())


class _Full(Exception):
    """A bounded hold did not fit; the reservation's transaction is rolled back."""

    def __init__(self, limit_id: str) -> None:
        super().__init__(limit_id)
        self.limit_id = limit_id


def _row(charge: UsageCharge, at: datetime, idempotency_key: str, state: str) -> dict[str, object]:
    return {
        "limit_id": charge.limit_id,
        "key": charge.key,
        "amount": charge.amount,
        "at": _utc(at),
        "idempotency_key": idempotency_key,
        "state": state,
    }


def _lock_id(limit_id: str, key: str) -> int:
    """A signed 64-bit advisory lock id for one limit key (same in every process)."""
    digest = hashlib.sha256(f"opslayer-usage\0{limit_id}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _utc(moment: datetime) -> datetime:
    # SQLite stores datetimes without their offset, so every stored and compared time is UTC.
    if moment.tzinfo is None:
        raise ValueError(f"usage times must be timezone-aware, got {moment.isoformat()}")
    return moment.astimezone(UTC)
