"""The usage ledger on PostgreSQL: the SQLite suite's scenarios, a new engine, racing recorders."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from governance.usage import SqlUsageLedger
from tests.governance import test_usage as on_sqlite

OpenEngine = Callable[[], Engine]
T0 = on_sqlite.T0


@pytest.fixture
def ledger(new_engine: OpenEngine) -> SqlUsageLedger:
    """What the SQLite scenarios take: a ledger, here on a fresh PostgreSQL database."""
    return SqlUsageLedger(new_engine())


# The SQLite suite's scenarios that take only a ledger, run again on PostgreSQL.
test_total_sums_charges_at_or_after_since = on_sqlite.test_total_sums_charges_at_or_after_since
test_recording_is_idempotent = on_sqlite.test_recording_is_idempotent
test_out_of_order_recording_and_other_timezones = on_sqlite.test_out_of_order_recording_and_other_timezones
test_naive_times_are_refused = on_sqlite.test_naive_times_are_refused


def test_sql_ledger_survives_a_new_engine(new_engine: OpenEngine) -> None:
    SqlUsageLedger(new_engine()).record(on_sqlite.charge(42.0), T0, "a")

    assert SqlUsageLedger(new_engine()).total("po-budget", "alice.requester", T0 - timedelta(hours=1)) == 42.0


def test_recorders_racing_on_one_key_charge_once(new_engine: OpenEngine) -> None:
    """Two processes charging the same execution (a double resume): one row, whoever commits first."""
    ledgers = [SqlUsageLedger(new_engine()) for _ in range(4)]
    start = threading.Barrier(len(ledgers))
    recorded: list[bool] = []

    def record(ledger: SqlUsageLedger) -> None:
        start.wait(timeout=60)
        for n in range(10):
            recorded.append(ledger.record(on_sqlite.charge(100.0), T0, f"exec-{n}:po-budget"))

    threads = [threading.Thread(target=record, args=(ledger,)) for ledger in ledgers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(recorded) == [False] * 30 + [True] * 10
    assert ledgers[0].total("po-budget", "alice.requester", T0) == 1000.0
