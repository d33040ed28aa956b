"""Opening a new SQLite file while another process holds a lock on it waits, instead of failing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tools import sqlite


def _locked_new_file(path: Path) -> sqlite3.Connection:
    """A connection holding the exclusive lock of a new file that is not in WAL mode yet."""
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO t VALUES (1)")
    return holder


def test_switching_to_wal_waits_for_a_lock_held_by_another_connection(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    holder = _locked_new_file(path)
    connection = sqlite3.connect(path, timeout=0.05)
    switches: list[str] = []

    def release_on_the_retry(action: int, name: str | None, *_: str | None) -> int:
        # Called as each statement is compiled, before it locks: the first switch to WAL meets the
        # lock, the second (a retry) finds it released.
        if action == sqlite3.SQLITE_PRAGMA and name == "journal_mode":
            switches.append(name)
            if len(switches) == 2:
                holder.execute("COMMIT")
        return sqlite3.SQLITE_OK

    connection.set_authorizer(release_on_the_retry)

    sqlite.configure(connection, timeout=10)
    connection.set_authorizer(None)

    assert len(switches) == 2  # it retried after meeting the lock instead of failing
    assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert connection.execute("PRAGMA foreign_keys").fetchone() == (1,)
    assert connection.execute("SELECT x FROM t").fetchall() == [(1,)]


def test_a_lock_held_past_the_timeout_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    holder = _locked_new_file(path)
    connection = sqlite3.connect(path, timeout=0.05)

    with pytest.raises(sqlite3.OperationalError, match="locked"):
        sqlite.configure(connection, timeout=0.2)

    holder.execute("ROLLBACK")
