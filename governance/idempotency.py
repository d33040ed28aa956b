"""Idempotency keys of requests: a client that sends a request again with the same key (a retry after a
timeout) gets the first request's answer instead of a second run.

Not the executions ledger's keys (:func:`governance.executions.idempotency_key`), which keep each tool
call to one run: these keep a whole request (a message sent to the agent) to one. One row per
(person, key) in ``idempotency_keys``::

    claim ──► running ──finish──► done (status and body kept: replayed to every retry)
                 └──release──► gone (refused before it ran anything: the key may be used again)

- :meth:`IdempotencyKeys.claim` inserts the row, or reads the one there, in one statement (an upsert
  whose update changes nothing): of requests claiming a key at once, in any number of processes,
  exactly one gets the claim; the others see its row.
- A key belongs to the person who sent it: two people's keys never meet. The row keeps a fingerprint
  of the request; the same key on another request is :class:`KeyReused`, on the same request while
  the first still runs :class:`KeyInUse`.
- Rows older than ``retention`` are deleted whenever a key is claimed (an index on the creation time
  makes that one index probe when there is nothing to delete): a key that old is new again.

Errors (mapped to HTTP in one place, ``agent.api.problems``)::

    IdempotencyError
    ├── KeyReused     the key was used for a different request
    └── KeyInUse      the request it was used for has not finished (or its process died)
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    delete,
    update,
)

from governance.store import create_tables

__all__ = [
    "Answer",
    "Claim",
    "IdempotencyError",
    "IdempotencyKeys",
    "KeyInUse",
    "KeyReused",
    "idempotency_keys",
]

_metadata = MetaData()

idempotency_keys = Table(
    "idempotency_keys",
    _metadata,
    Column("person", String(64), nullable=False),
    Column("idempotency_key", String(255), nullable=False),
    Column("claim_id", String(32), nullable=False),  # which claim made the row: only it finishes it
    Column("fingerprint", String(64), nullable=False),
    Column("thread_id", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("status", Integer, nullable=True),  # None while the request runs
    Column("body", Text, nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    PrimaryKeyConstraint("person", "idempotency_key", name="pk_idempotency_keys"),
    Index("ix_idempotency_keys_created", "created_at"),
)


class IdempotencyError(Exception):
    """A request whose idempotency key cannot be used for it now; ``str(error)`` says why."""

    def __init__(self, message: str, *, key: str) -> None:
        super().__init__(message)
        self.key = key


class KeyReused(IdempotencyError):
    def __init__(self, key: str) -> None:
        super().__init__(
            f"Idempotency-Key {key!r} was used for a different request (another message or thread); "
            "use a new key for a new request",
            key=key,
        )


class KeyInUse(IdempotencyError):
    """``abandoned``: it has run longer than a live request would, so its process may have died."""

    def __init__(self, key: str, *, thread_id: str, since: datetime, abandoned: bool) -> None:
        started = f"the request with Idempotency-Key {key!r} started at {_iso(since)} on thread {thread_id}"
        if abandoned:
            detail = (
                f"{started} and has not finished: the process running it may have stopped. Read the "
                "thread to see what it did before sending the message again with a new key"
            )
        else:
            detail = f"{started} and has not finished yet; send again in a moment for its answer"
        super().__init__(detail, key=key)
        self.thread_id = thread_id
        self.since = since
        self.abandoned = abandoned


@dataclass(frozen=True, kw_only=True)
class Claim:
    """A key this request holds: run the request, then :meth:`~IdempotencyKeys.finish` or
    :meth:`~IdempotencyKeys.release` it."""

    person: str
    key: str
    claim_id: str
    thread_id: str
    created_at: datetime


@dataclass(frozen=True, kw_only=True)
class Answer:
    """What the first request with the key answered: its status and body, to give every retry."""

    status: int
    body: str
    thread_id: str


class IdempotencyKeys:
    """Idempotency keys in ``engine`` (table ``idempotency_keys``, created if missing).

    ``retention``: how long a key is kept; ``abandoned_after``: how long a request may run before a
    retry is told its process may have died (nothing renews a claim while its request runs, so a retry
    of a very long one is told that too: "may").
    """

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], datetime],
        retention: timedelta,
        abandoned_after: timedelta,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self.retention = retention
        self.abandoned_after = abandoned_after
        create_tables(engine, idempotency_keys)

    def claim(self, person: str, key: str, *, fingerprint: str, thread_id: str) -> Claim | Answer:
        """Claim ``key`` for ``person``'s request: the :class:`Claim` when this call made it (the request
        runs on ``thread_id``), the stored :class:`Answer` when the same request finished before.
        :class:`KeyReused` for a key used on a different request, :class:`KeyInUse` while the first
        one runs."""
        now = self._now()
        self._forget(created_before=now - self.retention)
        mine = Claim(person=person, key=key, claim_id=uuid.uuid4().hex, thread_id=thread_id, created_at=now)
        with self._engine.begin() as conn:
            row = _upsert(conn, mine, fingerprint)
        if row["claim_id"] == mine.claim_id:
            return mine
        return self._kept(row, fingerprint, now)

    def finish(self, claim: Claim, *, status: int, body: str) -> None:
        """Keep the request's answer for its retries."""
        with self._engine.begin() as conn:
            conn.execute(
                update(idempotency_keys)
                .where(*_held(claim))
                .values(status=status, body=body, finished_at=self._now())
            )

    def release(self, claim: Claim) -> None:
        """Give the key back: the request was refused before it ran anything, so it may be sent again."""
        with self._engine.begin() as conn:
            conn.execute(delete(idempotency_keys).where(*_held(claim)))

    def _forget(self, *, created_before: datetime) -> None:
        """Delete the keys past their retention: one probe of the creation-time index when there are
        none. A transaction of its own, so a claim's transaction holds its own row only."""
        with self._engine.begin() as conn:
            conn.execute(delete(idempotency_keys).where(idempotency_keys.c.created_at < created_before))

    def _kept(self, row: Any, fingerprint: str, now: datetime) -> Answer:
        """The answer kept in another request's ``row``, if it was this request and it has finished."""
        key = row["idempotency_key"]
        if row["fingerprint"] != fingerprint:
            raise KeyReused(key)
        if row["status"] is None:
            since = _aware(row["created_at"])
            abandoned = now - since > self.abandoned_after
            raise KeyInUse(key, thread_id=row["thread_id"], since=since, abandoned=abandoned)
        return Answer(status=row["status"], body=row["body"], thread_id=row["thread_id"])

    def _now(self) -> datetime:
        now = self._clock()
        if now.utcoffset() is None:
            raise ValueError("the idempotency clock must return timezone-aware datetimes")
        return now.astimezone(UTC)


def _upsert(conn: Connection, claim: Claim, fingerprint: str) -> Any:
    """Insert the claim's row, or (the key is taken) leave the row there as it is; the row either way.

    The update writes the row's own claim id back: a no-op that makes RETURNING give the row that was
    there. On PostgreSQL it waits for a claim not yet committed, then returns it.
    """
    statement = _insert(conn).values(
        person=claim.person,
        idempotency_key=claim.key,
        claim_id=claim.claim_id,
        fingerprint=fingerprint,
        thread_id=claim.thread_id,
        created_at=claim.created_at,
    )
    kept = statement.on_conflict_do_update(
        index_elements=[idempotency_keys.c.person, idempotency_keys.c.idempotency_key],
        set_={"claim_id": idempotency_keys.c.claim_id},
    )
    return conn.execute(kept.returning(*idempotency_keys.c)).mappings().one()


def _insert(conn: Connection) -> Any:
    # The dialect's module is imported here, not at the top: PostgreSQL's costs the CLI's start-up.
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(idempotency_keys)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(idempotency_keys)


def _held(claim: Claim) -> tuple[Any, ...]:
    return (
        idempotency_keys.c.person == claim.person,
        idempotency_keys.c.idempotency_key == claim.key,
        idempotency_keys.c.claim_id == claim.claim_id,
    )


def _aware(moment: datetime) -> datetime:
    # SQLite returns stored datetimes without their offset; every stored time is UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")
