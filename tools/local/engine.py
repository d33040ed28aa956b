"""The SQLite engine of the local systems and the two kinds of transaction they use.

Writes take SQLite's write lock when they begin (``BEGIN IMMEDIATE``): a write that first reads
(an idempotency key, a budget, a state) then writes cannot interleave with another writer, and
no transaction ever has to upgrade a read lock, which is where WAL mode would fail fast with
"database is locked" instead of waiting.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import OperationalError

from tools import sqlite
from tools.errors import BackendUnavailable

_IMMEDIATE = "opslayer_immediate"


def local_engine(path: Path) -> Engine:
    """An engine on a SQLite file (created with its folder), WAL mode, foreign keys on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": sqlite.LOCK_TIMEOUT_S})
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "begin", _on_begin)
    return engine


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction; database failures become ``BackendUnavailable``."""
    with _translated(), engine.connect() as conn, conn.begin():
        yield conn


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A write transaction holding the write lock from its start; commits unless an error escapes."""
    with _translated(), engine.connect() as conn:
        conn.execution_options(**{_IMMEDIATE: True})
        with conn.begin():
            yield conn


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except OperationalError as exc:
        raise BackendUnavailable("local", str(exc.orig), retryable=True) from exc


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Autocommit at the driver level: transactions are begun by _on_begin, so their mode is ours.
    dbapi_connection.isolation_level = None
    sqlite.configure(dbapi_connection)


def _on_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get(_IMMEDIATE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
