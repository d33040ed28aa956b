"""Connection settings every opslayer SQLite file gets: WAL, ``synchronous=NORMAL``, foreign keys.

Switching a file to WAL needs its exclusive lock, and SQLite reports "database is locked" at once,
without waiting out the busy timeout, when another process holds a lock on a file that is not in WAL
mode yet. That happens when processes open a new ``OPSLAYER_HOME`` together (two CLI commands, a
worker pool), so the switch is retried until the timeout instead.
"""

from __future__ import annotations

import sqlite3
import time

LOCK_TIMEOUT_S = 30.0
_RETRY_S = 0.01


def configure(connection: sqlite3.Connection, *, timeout: float = LOCK_TIMEOUT_S) -> None:
    """Put ``connection``'s file in WAL mode (retrying while it is locked) and set the pragmas."""
    cursor = connection.cursor()
    try:
        _enable_wal(cursor, deadline=time.monotonic() + timeout)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _enable_wal(cursor: sqlite3.Cursor, *, deadline: float) -> None:
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(_RETRY_S)
