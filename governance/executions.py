"""The executions ledger: each cleared tool call runs at most once per idempotency key.

:meth:`ExecutionLedger.run_once` claims the key by inserting a ``started`` row (the key is the
primary key, so of two processes only one inserts), runs the handler, and records its result, or its
error as ``failed``. Any later attempt for the key gets the recorded outcome without running the
handler: a double resume, two approvers resuming the thread at once, or LangGraph re-running the
``act`` node after a crash.

Why this covers "crash after the handler ran but before the checkpoint was written": the ledger
commits right after the handler returns, before control goes back to LangGraph, so a resume that
re-runs the node finds the completed row and replays it. The one window left, a crash between the
backend's commit and the ledger's, leaves the row ``started``; later attempts then raise
:class:`ExecutionInProgress` instead of running again, and because the same key is sent to the backend
as its idempotency key, even an operator who re-runs the call cannot create a second record.

A ``started`` row is indistinguishable from a call still running elsewhere, so it is never taken over
automatically. A ``failed`` row is replayed too: the write may have half-happened, so re-running it is
the caller's decision (``retry_failed=True``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, Text, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.schema import CreateIndex, CreateTable

from governance.store import autocommit, driver_cursor

_metadata = MetaData()

executions = Table(
    "executions",
    _metadata,
    Column("key", String(64), primary_key=True),
    Column("tool", String(128), nullable=False),
    Column("args_digest", String(64), nullable=False),
    Column("thread_id", String(255), nullable=True, index=True),
    Column("status", String(16), nullable=False),
    Column("result", Text, nullable=True),
    Column("error", Text, nullable=True),
    Column("error_type", Text, nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("started_at", String(40), nullable=False),
    Column("finished_at", String(40), nullable=True),
)


class ExecutionStatus(StrEnum):
    STARTED = "started"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(frozen=True, kw_only=True, slots=True)
class ExecutionRecord:
    """One key's execution. ``replayed`` is True when this call returned a stored outcome."""

    key: str
    tool: str
    args_digest: str
    thread_id: str | None
    status: ExecutionStatus
    result: str | None
    error: str | None
    error_type: str | None
    """Qualified class name of the handler's exception, e.g. ``tools.errors.NotFound``."""
    attempts: int
    started_at: datetime
    finished_at: datetime | None
    replayed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "tool": self.tool,
            "args_digest": self.args_digest,
            "thread_id": self.thread_id,
            "status": self.status.value,
            "result": self.result,
            "error": self.error,
            "error_type": self.error_type,
            "attempts": self.attempts,
            "started_at": _iso(self.started_at),
            "finished_at": None if self.finished_at is None else _iso(self.finished_at),
            "replayed": self.replayed,
        }


class ExecutionInProgress(Exception):
    """The key is claimed but has no outcome: running elsewhere, or its runner crashed mid-call."""

    def __init__(self, record: ExecutionRecord) -> None:
        super().__init__(
            f"execution of {record.tool} (key {record.key[:12]}…) started at {_iso(record.started_at)} "
            "and has not finished: another worker is running it, or it stopped mid-call; check the "
            "backend for this idempotency key before doing anything else"
        )
        self.record = record


def idempotency_key(thread_id: str, tool_call_id: str, args_digest: str) -> str:
    """sha256 hex of the call's identity; also sent to the backend as its idempotency key."""
    identity = json.dumps([thread_id, tool_call_id, args_digest], ensure_ascii=False)
    return hashlib.sha256(identity.encode()).hexdigest()


class ExecutionLedger:
    """Execution records in ``engine`` (table ``executions``, created if missing).

    On SQLite each read and write is one statement on the driver's cursor (``driver=False`` forces
    SQLAlchemy Core, the path every other database takes): the ledger is on every tool call's path.
    """

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime], driver: bool = True) -> None:
        self._engine = engine
        self._clock = clock
        self._driver = autocommit(engine) if driver and engine.dialect.name == "sqlite" else None
        _create_schema(engine)

    def run_once(
        self,
        key: str,
        *,
        tool: str,
        args_digest: str,
        thread_id: str | None,
        handler: Callable[[], str],
        retry_failed: bool = False,
    ) -> ExecutionRecord:
        """Run ``handler`` unless ``key`` already has an outcome; return the record either way.

        A handler exception (``Exception``) is recorded as ``failed`` and returned, not raised. Anything
        else (KeyboardInterrupt, SystemExit) propagates and leaves the row ``started``, as a crash would.
        Raises :class:`ExecutionInProgress` if the key is claimed without an outcome.
        """
        claimed, owned = self._claim(key, tool=tool, args_digest=args_digest, thread_id=thread_id)
        if not owned and retry_failed and claimed.status is ExecutionStatus.FAILED:
            claimed, owned = self._reclaim(claimed)
        if not owned:
            if claimed.status is ExecutionStatus.STARTED:
                raise ExecutionInProgress(claimed)
            return replace(claimed, replayed=True)
        try:
            result = handler()
        except Exception as exc:  # recorded and handed back in the record: the caller decides
            return self._finish(
                claimed, ExecutionStatus.FAILED, error=str(exc) or repr(exc), error_type=_name(exc)
            )
        return self._finish(claimed, ExecutionStatus.COMPLETED, result=result)

    def get(self, key: str) -> ExecutionRecord | None:
        if self._driver is not None:
            with driver_cursor(self._driver) as cursor:
                row = cursor.execute(_SELECT_SQL, (key,)).fetchone()
            return None if row is None else _record_from_row(dict(zip(_COLUMNS, row, strict=True)))
        with self._engine.connect() as conn:
            found = conn.execute(select(executions).where(executions.c.key == key)).first()
        return None if found is None else _record_from_row(found._asdict())

    def _claim(
        self, key: str, *, tool: str, args_digest: str, thread_id: str | None
    ) -> tuple[ExecutionRecord, bool]:
        """(record, True) if this call inserted the ``started`` row, else (the existing record, False)."""
        record = ExecutionRecord(
            key=key,
            tool=tool,
            args_digest=args_digest,
            thread_id=thread_id,
            status=ExecutionStatus.STARTED,
            result=None,
            error=None,
            error_type=None,
            attempts=1,
            started_at=self._now(),
            finished_at=None,
        )
        if self._insert(_row(record)):
            return record, True
        existing = self.get(key)
        if existing is None:  # rows are never deleted, so the conflict was on this key
            raise RuntimeError(f"execution row {key} could not be inserted, yet does not exist")
        _check_same_call(existing, tool=tool, args_digest=args_digest)
        return existing, False

    def _insert(self, row: dict[str, Any]) -> bool:
        """Insert ``row``; False if its key exists (the key is the primary key: one process wins)."""
        if self._driver is not None:
            with driver_cursor(self._driver) as cursor:
                return bool(cursor.execute(_INSERT_SQL, row).rowcount == 1)
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(executions).values(row))
        except IntegrityError:
            return False
        return True

    def _reclaim(self, failed: ExecutionRecord) -> tuple[ExecutionRecord, bool]:
        """Move a failed row back to ``started`` for one more attempt, unless someone else did first."""
        retry = replace(
            failed,
            status=ExecutionStatus.STARTED,
            error=None,
            error_type=None,
            attempts=failed.attempts + 1,
            started_at=self._now(),
        )
        if self._update(failed, retry):
            return retry, True
        current = self.get(failed.key)
        assert current is not None  # rows are never deleted
        return current, False

    def _finish(
        self,
        started: ExecutionRecord,
        status: ExecutionStatus,
        *,
        result: str | None = None,
        error: str | None = None,
        error_type: str | None = None,
    ) -> ExecutionRecord:
        done = replace(
            started, status=status, result=result, error=error, error_type=error_type, finished_at=self._now()
        )
        if not self._update(started, done):
            raise RuntimeError(f"execution row {started.key} changed while its handler ran; it is owned here")
        return done

    def _update(self, before: ExecutionRecord, after: ExecutionRecord) -> bool:
        """Write ``after`` only if the row is still exactly ``before`` (status and attempt)."""
        if self._driver is not None:
            params = {**_row(after), "before_status": before.status.value, "before_attempts": before.attempts}
            with driver_cursor(self._driver) as cursor:
                return bool(cursor.execute(_UPDATE_SQL, params).rowcount == 1)
        guard = update(executions).where(
            executions.c.key == before.key,
            executions.c.status == before.status.value,
            executions.c.attempts == before.attempts,
        )
        with self._engine.begin() as conn:
            return bool(conn.execute(guard.values(_row(after))).rowcount == 1)

    def _now(self) -> datetime:
        return _utc(self._clock())


def _check_same_call(record: ExecutionRecord, *, tool: str, args_digest: str) -> None:
    if record.tool != tool or record.args_digest != args_digest:
        raise ValueError(
            f"idempotency key {record.key} belongs to {record.tool} with args {record.args_digest[:12]}…, "
            f"not {tool} with args {args_digest[:12]}…; derive keys with idempotency_key()"
        )


def _row(record: ExecutionRecord) -> dict[str, Any]:
    row = record.to_dict()
    del row["replayed"]
    return row


def _record_from_row(row: dict[str, Any]) -> ExecutionRecord:
    finished_at = row["finished_at"]
    return ExecutionRecord(
        **{name: row[name] for name in _COLUMNS if name not in ("status", "started_at", "finished_at")},
        status=ExecutionStatus(row["status"]),
        started_at=datetime.fromisoformat(row["started_at"]),
        finished_at=None if finished_at is None else datetime.fromisoformat(finished_at),
    )


_COLUMNS = tuple(column.name for column in executions.columns)
_SELECT_SQL = f"SELECT {', '.join(_COLUMNS)} FROM executions WHERE key = ?"
_INSERT_SQL = (
    f"INSERT INTO executions ({', '.join(_COLUMNS)}) VALUES ({', '.join(':' + c for c in _COLUMNS)}) "
    "ON CONFLICT (key) DO NOTHING"
)
_UPDATE_SQL = (
    f"UPDATE executions SET {', '.join(f'{c} = :{c}' for c in _COLUMNS if c != 'key')} "
    "WHERE key = :key AND status = :before_status AND attempts = :before_attempts"
)


def _name(exc: Exception) -> str:
    kind = type(exc)
    return f"{kind.__module__}.{kind.__qualname__}"


def _create_schema(engine: Engine) -> None:
    # IF NOT EXISTS: processes starting together must not race on a check-then-create.
    with engine.begin() as conn:
        conn.execute(CreateTable(executions, if_not_exists=True))
        for index in executions.indexes:
            conn.execute(CreateIndex(index, if_not_exists=True))


def _iso(moment: datetime) -> str:
    return _utc(moment).isoformat(timespec="microseconds")


def _utc(moment: datetime) -> datetime:
    if moment.utcoffset() is None:
        raise ValueError(f"execution times must be timezone-aware, got {moment.isoformat()}")
    return moment.astimezone(UTC)
