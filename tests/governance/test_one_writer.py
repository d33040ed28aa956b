"""Writers of one SQLite file take turns within a process (``governance.store.one_writer``), so they
queue on a lock that wakes them, not in SQLite's sleeping busy handler; other databases are untouched.

Pins: while one thread is in a write transaction of a file, no other thread of the process gets its
turn on that file, but it does on another file; the turn is reentrant in one thread; a transaction
that raises is rolled back and gives the turn up; PostgreSQL URLs take no lock.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from governance.store import autocommit, immediate, one_writer, sqlite_engine, writer_lock


def _other_thread_gets_turn(engine: Engine) -> bool:
    got: list[bool] = []

    def attempt() -> None:
        lock = writer_lock(engine)
        if lock is None:
            got.append(True)
            return
        acquired = lock.acquire(blocking=False)
        if acquired:
            lock.release()
        got.append(acquired)

    worker = threading.Thread(target=attempt)
    worker.start()
    worker.join()
    return got[0]


def test_a_write_transaction_holds_the_files_turn_until_it_ends(tmp_path: Path) -> None:
    engine = autocommit(sqlite_engine(tmp_path / "a.db"))
    other = autocommit(sqlite_engine(tmp_path / "b.db"))
    with immediate(engine) as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        assert not _other_thread_gets_turn(engine)
        assert _other_thread_gets_turn(other)
        with one_writer(engine):  # reentrant: a nested turn in the same thread does not deadlock
            pass
    assert _other_thread_gets_turn(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 0


def test_a_transaction_that_raises_is_rolled_back_and_gives_its_turn_up(tmp_path: Path) -> None:
    engine = autocommit(sqlite_engine(tmp_path / "a.db"))
    with immediate(engine) as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    with pytest.raises(RuntimeError, match="boom"), immediate(engine) as conn:
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        raise RuntimeError("boom")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 0
    assert _other_thread_gets_turn(engine)


def test_other_databases_take_no_turn() -> None:
    engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:9/none")  # never connected
    assert writer_lock(engine) is None
    with one_writer(engine):
        assert _other_thread_gets_turn(engine)
