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
automatically: a person checks the backend for the key and records what they found with
:meth:`ExecutionLedger.settle` (through
:func:`governance.executions.settlement.settle_execution`, which checks who they are and audits
it). A ``failed`` row is replayed too: the write may have half-happened, so re-running it is the
caller's decision (``retry_failed=True``).

The record, its status, keys and errors are in :mod:`governance.executions._values`.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Collection
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from governance.executions._values import (
    MIN_KEY_PREFIX,
    SETTLED_BY_OPERATOR,
    AmbiguousKey,
    ExecutionChanged,
    ExecutionError,
    ExecutionInProgress,
    ExecutionRecord,
    ExecutionStatus,
    NotStarted,
    OutcomeRequired,
    UnknownExecution,
    _utc,
    idempotency_key,
    usage_charge_key,
)
from governance.store import autocommit, create_tables, driver_cursor, one_writer

__all__ = [
    "MIN_KEY_PREFIX",
    "SETTLED_BY_OPERATOR",
    "AmbiguousKey",
    "ExecutionChanged",
    "ExecutionError",
    "ExecutionInProgress",
    "ExecutionLedger",
    "ExecutionRecord",
    "ExecutionStatus",
    "NotStarted",
    "OutcomeRequired",
    "UnknownExecution",
    "executions",
    "idempotency_key",
    "usage_charge_key",
]

_metadata = MetaData()
# Thread ids in one IN list: well under every database's limit on a statement's parameters
# (SQLite's is 32,766, PostgreSQL's 65,535).
_IN_BATCH = 10_000

executions = Table(
    "executions",
    _metadata,
    # An idempotency_key() (64 hex), or one with a prefix such as the executor's "notify:<key>".
    Column("key", String(128), primary_key=True),
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


class ExecutionLedger:
    """Execution records in ``engine`` (table ``executions``, created if missing).

    On SQLite each read and write is one statement on the driver's cursor (``driver=False`` forces
    SQLAlchemy Core, the path every other database takes): the ledger is on every tool call's path.
    """

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime], driver: bool = True) -> None:
        self._engine = engine
        self._clock = clock
        self._driver = autocommit(engine) if driver and engine.dialect.name == "sqlite" else None
        create_tables(engine, executions)

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

    # The reads below serve operators, off the tool-call path: SQLAlchemy Core on every database.

    def list(
        self,
        *,
        status: ExecutionStatus | None = None,
        thread_id: str | None = None,
        thread_ids: Collection[str] | None = None,
        limit: int = 50,
    ) -> builtins.list[ExecutionRecord]:
        """Records with this status and/or thread, the most recently claimed first.

        ``thread_ids``: only records of those threads (none for an empty collection), read in one query
        rather than one per thread; a collection longer than :data:`_IN_BATCH` takes one per batch,
        since databases bound the parameters of one statement.
        """
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        query = select(executions).order_by(executions.c.started_at.desc(), executions.c.key).limit(limit)
        if status is not None:
            query = query.where(executions.c.status == status.value)
        if thread_id is not None:
            query = query.where(executions.c.thread_id == thread_id)
        if thread_ids is None:
            return self._read(query)
        ids = sorted(set(thread_ids))
        batches = [ids[start : start + _IN_BATCH] for start in range(0, len(ids), _IN_BATCH)]
        found = [r for batch in batches for r in self._read(query.where(executions.c.thread_id.in_(batch)))]
        if len(batches) > 1:  # merged as the query orders: ties stay in key order
            found.sort(key=lambda r: r.key)
            found.sort(key=lambda r: r.started_at, reverse=True)
        return found[:limit]

    def _read(self, query: Select[Any]) -> builtins.list[ExecutionRecord]:
        with self._engine.connect() as conn:
            return [_record_from_row(row._asdict()) for row in conn.execute(query)]

    def resolve(self, key_or_prefix: str) -> ExecutionRecord:
        """The record with this key, else the one record whose key starts with it.

        Raises :class:`UnknownExecution` (also for a prefix shorter than :data:`MIN_KEY_PREFIX`) or
        :class:`AmbiguousKey`: operators type keys by hand, and settling the wrong one cannot be undone.
        """
        exact = self.get(key_or_prefix)
        if exact is not None:
            return exact
        if len(key_or_prefix) < MIN_KEY_PREFIX:
            raise UnknownExecution(key_or_prefix)
        matches = self._with_prefix(key_or_prefix, limit=5)
        if not matches:
            raise UnknownExecution(key_or_prefix)
        if len(matches) > 1:
            raise AmbiguousKey(key_or_prefix, [record.key for record in matches])
        return matches[0]

    def settle(self, key: str, status: ExecutionStatus, *, text: str) -> ExecutionRecord:
        """Give a ``started`` row the outcome a person found in the backend; return the settled row.

        For the row a crash left between the backend's commit and the ledger's, which otherwise
        blocks its thread for good. ``text`` is the result (``completed``: later attempts replay it
        to the model as the tool's result) or the reason (``failed``). Like every write here, the
        update only applies if the row is still ``started`` with the attempt read, so it cannot
        overwrite an outcome the handler's own runner recorded meanwhile (that runner then fails
        loudly instead: see :meth:`run_once`). Call it through
        :func:`governance.executions.settlement.settle_execution`, which checks the person and audits it.
        """
        if status is ExecutionStatus.STARTED:
            raise ValueError("a row can be settled as completed or failed, not started")
        if not text.strip():
            raise OutcomeRequired(key, status)
        current = self._require(key)
        if current.status is not ExecutionStatus.STARTED:
            raise NotStarted(current)
        settled = _settled(current, status, text, self._now())
        if self._update(current, settled):
            return settled
        meanwhile = self._require(key)  # the runner finished it, or it was claimed again
        if meanwhile.status is ExecutionStatus.STARTED:
            raise ExecutionChanged(meanwhile)
        raise NotStarted(meanwhile)

    def _require(self, key: str) -> ExecutionRecord:
        record = self.get(key)
        if record is None:
            raise UnknownExecution(key)
        return record

    def _with_prefix(self, prefix: str, *, limit: int) -> builtins.list[ExecutionRecord]:
        # substr, not LIKE: exact and case-sensitive on every database, with no wildcards to escape.
        query = (
            select(executions)
            .where(func.substr(executions.c.key, 1, len(prefix)) == prefix)
            .order_by(executions.c.key)
            .limit(limit)
        )
        return self._read(query)

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
            with one_writer(self._driver), driver_cursor(self._driver) as cursor:
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
            # Only a settlement can change an owned row: someone took this call for crashed. Their
            # outcome stands; this one must not be lost, so it goes into the error.
            outcome = result if status is ExecutionStatus.COMPLETED else f"{error_type}: {error}"
            raise RuntimeError(
                f"execution row {started.key} was settled by someone else while its handler ran; "
                f"the handler's own outcome was {status.value}: {str(outcome)[:500]}"
            )
        return done

    def _update(self, before: ExecutionRecord, after: ExecutionRecord) -> bool:
        """Write ``after`` only if the row is still exactly ``before`` (status and attempt)."""
        if self._driver is not None:
            params = {**_row(after), "before_status": before.status.value, "before_attempts": before.attempts}
            with one_writer(self._driver), driver_cursor(self._driver) as cursor:
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


def _settled(started: ExecutionRecord, status: ExecutionStatus, text: str, now: datetime) -> ExecutionRecord:
    if status is ExecutionStatus.COMPLETED:
        return replace(started, status=status, result=text, finished_at=now)
    return replace(started, status=status, error=text, error_type=SETTLED_BY_OPERATOR, finished_at=now)


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
