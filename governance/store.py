"""SQL engines for governance state (audit, usage, approvals, executions).

SQLAlchemy Core keeps one code path for the embedded SQLite default and PostgreSQL.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, event, func, inspect, make_url, select
from sqlalchemy.schema import CreateIndex, CreateTable

from tools import sqlite

# Any fixed bigint will do: every process creating governance tables must take the same lock.
_SCHEMA_LOCK = 0x6F70_736C_6179_6572  # "opslayer"


def sqlite_engine(path: Path) -> Engine:
    """An engine on a SQLite file (created with its folder), in WAL mode for concurrent readers."""
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": sqlite.LOCK_TIMEOUT_S})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def sqlite_reader(path: Path, *, immutable: bool = False) -> Engine:
    """An engine that only reads a SQLite file and never writes it, nor creates files beside it.

    ``immutable``: the file is a snapshot nobody writes (a copy on read-only media, say): SQLite then
    takes no locks and needs no ``-shm`` file, which a read-only folder could not hold. Raises
    ``FileNotFoundError`` for a missing file (a reader never creates one).
    """
    if not path.is_file():
        raise FileNotFoundError(2, "no such database", str(path))
    flag = "immutable=1" if immutable else "mode=ro"
    return create_engine(
        f"sqlite:///file:{path.resolve()}?{flag}&uri=true",
        connect_args={"timeout": sqlite.LOCK_TIMEOUT_S, "uri": True},
    )


def engine_from_url(url: str, *, pool_size: int | None = None) -> Engine:
    """An engine for any SQLAlchemy URL (``postgresql+psycopg://...`` when one machine is not enough);
    ``pool_size``: the most connections it opens to a server (threads wait for one beyond that).

    A plain ``postgresql://`` URL, as libpq and most deployment tools write it, means psycopg 3 (the
    driver installed), not SQLAlchemy's default psycopg2.
    """
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if pool_size is not None and parsed.get_backend_name() != "sqlite":
        # At most pool_size connections, and a connection the server closed (a restart, a failover)
        # is noticed when taken from the pool rather than failing the request that took it.
        engine = create_engine(parsed, pool_size=pool_size, max_overflow=0, pool_pre_ping=True)
    else:
        engine = create_engine(parsed)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def autocommit(engine: Engine) -> Engine:
    """``engine`` with the driver in autocommit mode; build it once (deriving it costs a write)."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def create_tables(engine: Engine, *tables: Table) -> None:
    """Create ``tables`` and their indexes if missing; safe when several processes start at once.

    ``IF NOT EXISTS`` alone is not enough on PostgreSQL: two sessions can both find a table missing,
    and the second then fails on a unique index of the system catalogue. So creation there holds a
    transaction-scoped advisory lock. SQLite checks and creates under its write lock.

    A table left by an older opslayer that lacks a column raises :class:`SchemaOutdated` naming it,
    rather than failing later on the first write that needs it.
    """
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(select(func.pg_advisory_xact_lock(_SCHEMA_LOCK)))
        for table in tables:
            conn.execute(CreateTable(table, if_not_exists=True))
            _require_columns(conn, table)
            for index in table.indexes:
                conn.execute(CreateIndex(index, if_not_exists=True))


class SchemaOutdated(RuntimeError):
    """A governance table was created by an older version and lacks columns this one needs."""


def _require_columns(conn: Connection, table: Table) -> None:
    present = {column["name"] for column in inspect(conn).get_columns(table.name)}
    missing = [column.name for column in table.columns if column.name not in present]
    if missing:
        raise SchemaOutdated(
            f"table {table.name!r} in {conn.engine.url.render_as_string(hide_password=True)} lacks the "
            f"column(s) {', '.join(missing)}: it was made by an older opslayer. Move the database aside "
            "(for the embedded default: OPSLAYER_HOME/governance.db) and start again to create it afresh."
        )


@contextmanager
def driver_cursor(autocommit_engine: Engine) -> Iterator[Any]:
    """A DB-API cursor on a pooled autocommit connection, for the SQLite hot paths.

    Each statement is its own transaction unless the caller issues ``BEGIN``. Used where
    SQLAlchemy's statement machinery costs more than the statement itself (every agent step writes).
    """
    with autocommit_engine.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            yield cursor
        finally:
            cursor.close()


@contextmanager
def one_writer(engine: Engine) -> Iterator[None]:
    """This process's turn to write ``engine``'s SQLite file (no-op on other databases).

    SQLite lets one connection write at a time. A thread that finds the file busy sleeps in SQLite's
    busy handler — 1, 2, 5, 10 … 100 ms between tries, never woken when the writer commits — so under
    load an unlucky writer waits many times longer than the writes ahead of it took (the tail of the
    service bench). Threads of one process queue here instead, each woken as the one before it
    finishes; only writers of different processes still meet in the busy handler. Reentrant, so a
    nested write in one thread behaves as it would without this lock.
    """
    lock = writer_lock(engine)
    if lock is None:
        yield
        return
    with lock:
        yield


@contextmanager
def immediate(autocommit_engine: Engine) -> Iterator[Connection]:
    """A SQLite write transaction holding the write lock from its first statement, on an engine made
    by :func:`autocommit` (pysqlite's own BEGIN is deferred: a reader until the first write, so two
    transactions could both read what only one may then change). Committed at the end of the block,
    rolled back if it raises; taken in this process's turn (:func:`one_writer`)."""
    with one_writer(autocommit_engine), autocommit_engine.connect() as conn:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            if getattr(conn.connection.dbapi_connection, "in_transaction", True):
                conn.exec_driver_sql("ROLLBACK")
            raise
        conn.exec_driver_sql("COMMIT")


_writer_locks: dict[str, threading.RLock] = {}
_writer_locks_guard = threading.Lock()


def writer_lock(engine: Engine) -> threading.RLock | None:
    """The lock :func:`one_writer` takes for ``engine``'s file (one per file); None for other databases."""
    if engine.dialect.name != "sqlite":
        return None
    with _writer_locks_guard:
        return _writer_locks.setdefault(str(engine.url.database), threading.RLock())


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    sqlite.configure(dbapi_connection)
