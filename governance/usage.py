"""Usage ledger for policy limits: how much of a budget an actor (or everyone) has used in a window.

``decide`` only reads the ledger (:class:`UsageReader`) and reports what the call would add
(:class:`UsageCharge`); the executor records charges after the call ran, once, under an idempotency key.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    func,
    select,
)
from sqlalchemy.exc import IntegrityError

from governance.store import create_tables

GLOBAL_KEY = "*"
"""Ledger key of limits counted for everyone together (``per: global``)."""

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
    Index("ix_usage_events_window", "limit_id", "key", "at"),
)


@dataclass(frozen=True, kw_only=True, slots=True)
class UsageCharge:
    """What one executed call adds to a limit's ledger: ``amount`` under ``key`` (actor id or ``*``)."""

    limit_id: str
    key: str
    amount: float


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
        create_tables(engine, usage_events)

    def record(self, charge: UsageCharge, at: datetime, idempotency_key: str) -> bool:
        """Add ``charge`` at ``at``; a repeated ``idempotency_key`` adds nothing and returns False.

        The key is unique per row, so a call that charges two limits needs one key per charge
        (for example ``f"{execution_key}/{charge.limit_id}"``).
        """
        row = {
            "limit_id": charge.limit_id,
            "key": charge.key,
            "amount": charge.amount,
            "at": _utc(at),
            "idempotency_key": idempotency_key,
        }
        try:
            with self._engine.begin() as connection:
                connection.execute(usage_events.insert().values(**row))
        except IntegrityError:
            return False
        return True

    def total(self, limit_id: str, key: str, since: datetime) -> float:
        query = select(func.coalesce(func.sum(usage_events.c.amount), 0.0)).where(
            usage_events.c.limit_id == limit_id,
            usage_events.c.key == key,
            usage_events.c.at >= _utc(since),
        )
        with self._engine.connect() as connection:
            return float(connection.execute(query).scalar_one())


def _utc(moment: datetime) -> datetime:
    # SQLite stores datetimes without their offset, so every stored and compared time is UTC.
    if moment.tzinfo is None:
        raise ValueError(f"usage times must be timezone-aware, got {moment.isoformat()}")
    return moment.astimezone(UTC)
