"""A durable work queue with row leases: background work any number of workers share through the database.

One row per piece of work, keyed by (``kind``, ``subject``) — ``("resume", thread_id)``, say::

    pending ──lease──► leased ──complete──► done ──enqueue──► pending (re-opened)
       ▲                 │  └──retry──► pending, due after a backoff
       │                 │  └──retry, attempts used up──► dead (last error kept) ──enqueue──► pending
       └──lease expired──┘  (its worker died: another worker takes the item over)

- :meth:`WorkQueue.lease` hands due items to one worker for ``lease_for``. On PostgreSQL it selects
  them ``FOR UPDATE SKIP LOCKED`` and marks them leased in the same transaction, so workers leasing at
  once on any number of machines skip each other's rows instead of waiting or double-taking them; on
  SQLite the same statements run inside ``BEGIN IMMEDIATE`` (one writer at a time).
- A lease is identified by its holder and a lease number bumped on every lease: :meth:`~WorkQueue.renew`,
  :meth:`~WorkQueue.complete` and :meth:`~WorkQueue.retry` change the row only while that lease is the
  current one, so a worker whose lease ran out and was taken over can no longer finish the item.
- :meth:`~WorkQueue.enqueue` is idempotent per (kind, subject). Enqueueing an item while it is leased
  bumps its generation: completing the lease then leaves it pending (due when the enqueue asked), so
  news that arrives while the work runs (a vote during a resume) is never lost.
- An item whose lease expired ``max_attempts`` times (its workers keep dying on it) goes dead instead
  of being leased again.

The queue only schedules: what a kind of work does, and that doing it twice is harmless, is the
worker's business (the executions ledger keeps every side effect to one).
"""

from __future__ import annotations

import builtins
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    or_,
    select,
    update,
)

from governance.store import autocommit, create_tables, immediate

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "OVERSIGHT",
    "PUBLISH_HEAD",
    "RESUME",
    "SLACK_FORGET",
    "SLACK_TURN",
    "WorkItem",
    "WorkQueue",
    "WorkState",
    "work_items",
]

RESUME = "resume"
"""Kind of work: continue the thread the subject names (approvals final, or it stopped part-way)."""
PUBLISH_HEAD = "publish-head"
"""Kind of work: publish the audit chain's head outside the database, then again after an interval."""
SLACK_TURN = "slack-turn"
"""Kind of work: the turn of a message asked in Slack (the subject is its ask, ``agent.slack.store``)."""
SLACK_FORGET = "slack-forget"
"""Kind (and subject) of the worker's pass forgetting what the Slack app no longer needs."""
OVERSIGHT = "oversight"
"""Kind (and subject) of the worker's oversight pass: veto windows, reminders, escalations, monitors."""

_log = logging.getLogger("opslayer.work")

DEFAULT_MAX_ATTEMPTS = 8
_BACKOFF_BASE = timedelta(seconds=1)
_BACKOFF_MAX = timedelta(minutes=5)
_ERROR_CHARS = 2000  # the stored last error is for people; a stack of them is not

_metadata = MetaData()

work_items = Table(
    "work_items",
    _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("state", String(16), nullable=False),  # pending | done | dead
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("leased_by", String(128), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("lease_seq", Integer, nullable=False, default=0),  # bumped on every lease
    Column("generation", Integer, nullable=False, default=0),  # bumped on every enqueue
    Column("attempts", Integer, nullable=False, default=0),  # leases since it was last (re-)opened
    Column("last_error", Text, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("kind", "subject", name="uq_work_items_kind_subject"),
    Index("ix_work_items_due", "state", "due_at"),
)


class WorkState(StrEnum):
    PENDING = "pending"  # waiting for its due time, or leased (``leased_by`` with a future ``lease_until``)
    DONE = "done"
    DEAD = "dead"  # attempts used up; ``last_error`` says why; enqueueing it again re-opens it


@dataclass(frozen=True, kw_only=True)
class WorkItem:
    """One piece of work as read (or as leased: ``leased_by``, ``lease_seq`` name the lease)."""

    id: int
    kind: str
    subject: str
    state: WorkState
    due_at: datetime
    leased_by: str | None
    lease_until: datetime | None
    lease_seq: int
    generation: int
    attempts: int
    last_error: str | None
    updated_at: datetime

    def leased_at(self, now: datetime) -> bool:
        """Whether a lease holds it at ``now``."""
        return self.leased_by is not None and self.lease_until is not None and self.lease_until > now


class WorkQueue:
    """Work items in ``engine`` (table ``work_items``, created if missing); times from ``clock``."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], datetime],
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._engine = engine
        self._clock = clock
        self._sqlite = engine.dialect.name == "sqlite"
        self._manual = autocommit(engine) if self._sqlite else engine
        self.max_attempts = max_attempts
        create_tables(engine, work_items)

    # --- producers ----------------------------------------------------------------------------------

    def enqueue(self, kind: str, subject: str, *, due_at: datetime | None = None) -> WorkItem:
        """Ask for ``kind`` work on ``subject`` at ``due_at`` (default now); idempotent per (kind, subject).

        A pending item becomes due at the earlier of its time and ``due_at``; a done or dead one is
        re-opened (attempts and error cleared); a leased one is marked to run again at ``due_at`` once
        its current lease completes.
        """
        now = self._now()
        due = now if due_at is None else _utc(due_at)
        with self._transaction() as conn:
            return self._enqueue(conn, kind, subject, due, now)

    def _enqueue(self, conn: Connection, kind: str, subject: str, due: datetime, now: datetime) -> WorkItem:
        """Enqueue as :meth:`enqueue` does, inside the caller's transaction ``conn``."""
        inserted = conn.execute(
            _insert(conn)
            .values(
                kind=kind,
                subject=subject,
                state=WorkState.PENDING.value,
                due_at=due,
                lease_seq=0,
                generation=0,
                attempts=0,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["kind", "subject"])
            .returning(work_items.c.id)
        ).first()
        item = self._locked_row(conn, work_items.c.kind == kind, work_items.c.subject == subject)
        assert item is not None  # inserted above, or there already; rows are never deleted
        if inserted is not None:
            return item
        return self._set(conn, item, _reopened(item, due, now), now)

    # --- workers ------------------------------------------------------------------------------------

    def lease(self, worker_id: str, *, limit: int, lease_for: timedelta) -> list[WorkItem]:
        """Up to ``limit`` due items, oldest due first, leased to ``worker_id`` until now + ``lease_for``.

        Items leased by another worker are skipped unless their lease has run out.
        """
        now = self._now()
        due = (
            work_items.c.state == WorkState.PENDING.value,
            work_items.c.due_at <= now,
            or_(work_items.c.lease_until.is_(None), work_items.c.lease_until <= now),
        )
        if self._sqlite and not self._any(*due):
            return []  # an idle poll must not take SQLite's write lock
        leased: list[WorkItem] = []
        with self._transaction() as conn:
            query = select(work_items).where(*due).order_by(work_items.c.due_at, work_items.c.id).limit(limit)
            if not self._sqlite:
                query = query.with_for_update(skip_locked=True)
            for row in conn.execute(query).all():
                item = _item(row._mapping)
                if item.leased_by is not None and item.attempts >= self.max_attempts:
                    abandoned = f"its lease ran out {item.attempts} times (the worker died or hung)"
                    error = f"{abandoned}; last error: {item.last_error}" if item.last_error else abandoned
                    self._set(conn, item, {"state": WorkState.DEAD.value, "last_error": error}, now)
                    continue
                leased.append(self._set(conn, item, _leased(item, worker_id, now + lease_for), now))
        return leased

    def lease_now(self, kind: str, subject: str, worker_id: str, *, lease_for: timedelta) -> WorkItem | None:
        """Queue ``kind`` work on ``subject`` and lease it to ``worker_id`` at once, whenever it was due
        (someone is waiting for it), in one transaction: no worker leases it in between. None when
        another worker's lease on it is current."""
        now = self._now()
        with self._transaction() as conn:
            item = self._enqueue(conn, kind, subject, now, now)
            if item.state is not WorkState.PENDING or item.leased_at(now):
                return None
            return self._set(conn, item, _leased(item, worker_id, now + lease_for), now)

    @contextmanager
    def renewing(self, item: WorkItem, worker_id: str, *, lease_for: timedelta) -> Iterator[None]:
        """Renew ``worker_id``'s lease of ``item`` every third of ``lease_for`` while the block runs, so
        work that outlasts one lease keeps it. A lease taken over meanwhile is not renewed again."""
        done = threading.Event()

        def renew() -> None:
            while not done.wait(lease_for.total_seconds() / 3):
                try:
                    if self.renew(item, worker_id, lease_for=lease_for) is None:
                        _log.warning("the lease of %s %s was taken over", item.kind, item.subject)
                        return
                except Exception:
                    _log.exception("renewing the lease of %s %s failed", item.kind, item.subject)

        renewer = threading.Thread(target=renew, name=f"renew-{item.id}", daemon=True)
        renewer.start()
        try:
            yield
        finally:
            done.set()
            renewer.join()

    def renew(self, item: WorkItem, worker_id: str, *, lease_for: timedelta) -> WorkItem | None:
        """Extend the lease to now + ``lease_for``; None when the lease is no longer this worker's."""
        now = self._now()
        with self._holding(item, worker_id) as (conn, current):
            if current is None:
                return None
            return self._set(conn, current, {"lease_until": now + lease_for}, now)

    def complete(self, item: WorkItem, worker_id: str) -> bool:
        """Finish the leased item; False (nothing changed) when the lease is no longer this worker's.

        Enqueued again while it ran: it stays pending, due when that enqueue asked.
        """
        now = self._now()
        with self._holding(item, worker_id) as (conn, current):
            if current is None:
                return False
            if current.generation != item.generation:
                changes: dict[str, Any] = {"attempts": 0, "last_error": None}
            else:
                changes = {"state": WorkState.DONE.value, "last_error": None}
            self._set(conn, current, {**changes, "leased_by": None, "lease_until": None}, now)
            return True

    def retry(
        self, item: WorkItem, worker_id: str, error: str, *, at: datetime | None = None
    ) -> WorkItem | None:
        """The leased item failed with ``error``: pending again, due at ``at`` (default: after a backoff
        that doubles with each attempt), or dead when its attempts are used up. Returns the item as it
        now is; None when the lease is no longer this worker's."""
        return self._fail(item, worker_id, error, at=at, give_up=False)

    def give_up(self, item: WorkItem, worker_id: str, error: str) -> WorkItem | None:
        """The leased item cannot succeed: dead now with ``error``; None when the lease is not ours."""
        return self._fail(item, worker_id, error, at=None, give_up=True)

    def backoff(self, attempts: int) -> timedelta:
        """How long a retry waits after ``attempts`` leases: 1 s, 2 s, 4 s … at most 5 minutes."""
        doubled: timedelta = _BACKOFF_BASE * (2 ** min(max(attempts - 1, 0), 20))
        return min(doubled, _BACKOFF_MAX)

    # --- inspection ---------------------------------------------------------------------------------

    def get(self, kind: str, subject: str) -> WorkItem | None:
        return next(iter(self._read(work_items.c.kind == kind, work_items.c.subject == subject)), None)

    def pending(self) -> builtins.list[WorkItem]:
        """Items waiting (due or not) and not held by a live lease, soonest due first."""
        now = self._now()
        return [
            item
            for item in self._read(work_items.c.state == WorkState.PENDING.value)
            if not item.leased_at(now)
        ]

    def leased(self) -> builtins.list[WorkItem]:
        """Items a live lease holds now."""
        now = self._now()
        return [
            item for item in self._read(work_items.c.state == WorkState.PENDING.value) if item.leased_at(now)
        ]

    def dead(self) -> builtins.list[WorkItem]:
        """Items whose attempts were used up, with their last error."""
        return self._read(work_items.c.state == WorkState.DEAD.value)

    # --- internals ----------------------------------------------------------------------------------

    def _fail(
        self, item: WorkItem, worker_id: str, error: str, *, at: datetime | None, give_up: bool
    ) -> WorkItem | None:
        now = self._now()
        with self._holding(item, worker_id) as (conn, current):
            if current is None:
                return None
            changes: dict[str, Any] = {
                "leased_by": None,
                "lease_until": None,
                "last_error": error[:_ERROR_CHARS],
            }
            if give_up or current.attempts >= self.max_attempts:
                changes["state"] = WorkState.DEAD.value
            else:
                changes["due_at"] = now + self.backoff(current.attempts) if at is None else _utc(at)
            return self._set(conn, current, changes, now)

    @contextmanager
    def _holding(self, item: WorkItem, worker_id: str) -> Iterator[tuple[Connection, WorkItem | None]]:
        """A transaction with the item's row locked, and the row if ``worker_id``'s lease is still current."""
        with self._transaction() as conn:
            current = self._locked_row(
                conn,
                work_items.c.id == item.id,
                work_items.c.leased_by == worker_id,
                work_items.c.lease_seq == item.lease_seq,
                work_items.c.state == WorkState.PENDING.value,
            )
            yield conn, current

    def _locked_row(self, conn: Connection, *conditions: Any) -> WorkItem | None:
        query = select(work_items).where(*conditions)
        if not self._sqlite:
            query = query.with_for_update()
        row = conn.execute(query).first()
        return None if row is None else _item(row._mapping)

    def _set(self, conn: Connection, item: WorkItem, changes: dict[str, Any], now: datetime) -> WorkItem:
        values = {**changes, "updated_at": now}
        conn.execute(update(work_items).where(work_items.c.id == item.id).values(**values))
        merged = {**_as_row(item), **values}
        return _item(merged)

    def _any(self, *conditions: Any) -> bool:
        with self._engine.connect() as conn:
            return conn.execute(select(work_items.c.id).where(*conditions).limit(1)).first() is not None

    def _read(self, *conditions: Any) -> builtins.list[WorkItem]:
        query = select(work_items).where(*conditions).order_by(work_items.c.due_at, work_items.c.id)
        with self._engine.connect() as conn:
            return [_item(row._mapping) for row in conn.execute(query)]

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        if not self._sqlite:
            with self._engine.begin() as conn:
                yield conn
            return
        # SQLite has one writer: BEGIN IMMEDIATE takes the write lock before anything is read.
        with immediate(self._manual) as conn:
            yield conn

    def _now(self) -> datetime:
        return _utc(self._clock())


def _reopened(item: WorkItem, due: datetime, now: datetime) -> dict[str, Any]:
    """What an enqueue changes on an existing item."""
    changes: dict[str, Any] = {"generation": item.generation + 1}
    if item.state is not WorkState.PENDING:
        return {**changes, "state": WorkState.PENDING.value, "due_at": due, "attempts": 0, "last_error": None}
    if item.leased_at(now):
        return {**changes, "due_at": due}  # applies once the running lease completes
    return {**changes, "due_at": min(item.due_at, due)}


def _leased(item: WorkItem, worker_id: str, until: datetime) -> dict[str, Any]:
    """What leasing ``item`` to ``worker_id`` changes: a new lease number, one more attempt."""
    return {
        "leased_by": worker_id,
        "lease_until": until,
        "lease_seq": item.lease_seq + 1,
        "attempts": item.attempts + 1,
    }


def _insert(conn: Connection) -> Any:
    # The dialect's module is imported here, not at the top: PostgreSQL's costs the CLI's start-up 17 ms.
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(work_items)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(work_items)


def _item(row: Any) -> WorkItem:
    return WorkItem(
        id=row["id"],
        kind=row["kind"],
        subject=row["subject"],
        state=WorkState(row["state"]),
        due_at=_aware(row["due_at"]),
        leased_by=row["leased_by"],
        lease_until=None if row["lease_until"] is None else _aware(row["lease_until"]),
        lease_seq=row["lease_seq"],
        generation=row["generation"],
        attempts=row["attempts"],
        last_error=row["last_error"],
        updated_at=_aware(row["updated_at"]),
    )


def _as_row(item: WorkItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "kind": item.kind,
        "subject": item.subject,
        "state": item.state.value,
        "due_at": item.due_at,
        "leased_by": item.leased_by,
        "lease_until": item.lease_until,
        "lease_seq": item.lease_seq,
        "generation": item.generation,
        "attempts": item.attempts,
        "last_error": item.last_error,
        "updated_at": item.updated_at,
    }


def _aware(moment: datetime) -> datetime:
    # SQLite returns stored datetimes without their offset; every stored time is UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _utc(moment: datetime) -> datetime:
    if moment.utcoffset() is None:
        raise ValueError(f"work times must be timezone-aware, got {moment.isoformat()}")
    return moment.astimezone(UTC)
