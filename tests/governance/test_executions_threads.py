"""The executions ledger read over a set of threads: one query, the same records and order as reading
thread by thread and merging.

Pins: ``list(thread_ids=...)`` returns exactly what the per-thread reads merged newest first (ties in
key order) return, for every limit, status and subset of threads, in one statement; an empty set reads
nothing; a set longer than a statement's parameter limit still reads, in batches. On SQLite and on
PostgreSQL.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event

from governance.executions import ExecutionLedger, ExecutionRecord, ExecutionStatus
from tests.pg.engines import OpenEngine

START = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
THREADS = ("t-a", "t-b", "t-c", "t-d")


def _ticks_with_ties() -> Callable[[], datetime]:
    """Each moment four times: a call reads the clock twice (start, finish), so two calls in a row share
    their started_at and the ledger orders them by key."""
    moments = (START + timedelta(seconds=n // 4) for n in range(10**6))
    return lambda: next(moments)


def _fill(ledger: ExecutionLedger) -> None:
    """Records of every thread, interleaved in time; some failed, one of no thread."""
    for n in range(24):
        thread = THREADS[n % len(THREADS)] if n != 7 else None

        def handler(n: int = n) -> str:
            if n % 5 == 0:
                raise LookupError("refused by the backend")
            return "{}"

        key = f"k-{23 - n:02d}"  # later calls have smaller keys: ties are not in the order they ran
        ledger.run_once(key, tool="tool", args_digest="d" * 64, thread_id=thread, handler=handler)


def _per_thread(
    ledger: ExecutionLedger, threads: Collection[str], status: ExecutionStatus | None, limit: int
) -> list[ExecutionRecord]:
    """What Operations.executions did before: one read per thread, merged newest first, keys on ties."""
    found = [r for t in sorted(threads) for r in ledger.list(status=status, thread_id=t, limit=limit)]
    found.sort(key=lambda r: r.key)
    found.sort(key=lambda r: r.started_at, reverse=True)
    return found[:limit]


@contextmanager
def _statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


@pytest.fixture
def ledger_on(open_engine: OpenEngine) -> tuple[ExecutionLedger, Engine]:
    engine = open_engine()
    ledger = ExecutionLedger(engine, clock=_ticks_with_ties())
    _fill(ledger)
    return ledger, engine


def test_a_set_of_threads_reads_as_thread_by_thread_did_in_one_query(
    ledger_on: tuple[ExecutionLedger, Engine],
) -> None:
    ledger, engine = ledger_on
    subsets = [THREADS, ("t-b",), ("t-a", "t-c", "t-nobody")]
    statuses = [None, ExecutionStatus.COMPLETED, ExecutionStatus.FAILED]
    for threads, status, limit in itertools.product(subsets, statuses, (1, 3, 5, 50)):
        expected = _per_thread(ledger, threads, status, limit)

        with _statements(engine) as statements:
            found = ledger.list(status=status, thread_ids=set(threads), limit=limit)

        assert found == expected, (threads, status, limit)
        assert len(statements) == 1


def test_pages_of_a_set_of_threads_follow_on_as_before(ledger_on: tuple[ExecutionLedger, Engine]) -> None:
    # The API pages by reading a growing window and cutting it: each window is a prefix of the next.
    ledger, _engine = ledger_on
    windows = [ledger.list(thread_ids=THREADS[:3], limit=n) for n in (4, 8, 12, 40)]

    assert [r.key for r in windows[-1]] == [r.key for r in _per_thread(ledger, THREADS[:3], None, 40)]
    assert all(small == big[: len(small)] for small, big in itertools.pairwise(windows))
    assert len({r.key for r in windows[-1]}) == len(windows[-1]) == 18  # six calls in each thread


def test_no_threads_read_nothing(ledger_on: tuple[ExecutionLedger, Engine]) -> None:
    ledger, engine = ledger_on

    with _statements(engine) as statements:
        assert ledger.list(thread_ids=set(), limit=10) == []
    assert statements == []


def test_more_threads_than_a_statement_may_bind_still_read(ledger_on: tuple[ExecutionLedger, Engine]) -> None:
    # SQLite binds at most 32,766 parameters in one statement, PostgreSQL 65,535.
    ledger, _engine = ledger_on
    many = {f"t-other-{n}" for n in range(70_000)} | {"t-a", "t-d"}

    assert ledger.list(thread_ids=many, limit=50) == _per_thread(ledger, ("t-a", "t-d"), None, 50)
