"""The usage ledger: memory, SQLite and PostgreSQL agree; recording is idempotent, also when
processes race; a window includes its start."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest

from governance.usage import InMemoryUsage, SqlUsageLedger, UsageCharge
from tests.pg.engines import ENGINES, Engines, OpenEngine

T0 = datetime(2026, 11, 20, 12, tzinfo=UTC)


@pytest.fixture(params=["memory", *ENGINES])
def ledger(request: pytest.FixtureRequest, engines: Engines) -> InMemoryUsage | SqlUsageLedger:
    if request.param == "memory":
        return InMemoryUsage()
    return SqlUsageLedger(engines.opener(request.param)())


def charge(amount: float, key: str = "alice.requester", limit_id: str = "po-budget") -> UsageCharge:
    return UsageCharge(limit_id=limit_id, key=key, amount=amount)


def test_total_sums_charges_at_or_after_since(ledger: InMemoryUsage | SqlUsageLedger) -> None:
    ledger.record(charge(100.0), T0 - timedelta(hours=30), "a")
    ledger.record(charge(250.5), T0 - timedelta(hours=2), "b")
    ledger.record(charge(50.0), T0 - timedelta(hours=1), "c")
    ledger.record(charge(7.0, key="bob.requester"), T0, "d")
    ledger.record(charge(9.0, limit_id="other"), T0, "e")
    assert ledger.total("po-budget", "alice.requester", T0 - timedelta(hours=24)) == 300.5
    assert ledger.total("po-budget", "alice.requester", T0 - timedelta(hours=2)) == 300.5
    assert (
        ledger.total("po-budget", "alice.requester", T0 - timedelta(hours=2) + timedelta(microseconds=1))
        == 50.0
    )
    assert ledger.total("po-budget", "alice.requester", T0) == 0.0
    assert ledger.total("po-budget", "nobody", T0 - timedelta(days=9)) == 0.0


def test_recording_is_idempotent(ledger: InMemoryUsage | SqlUsageLedger) -> None:
    assert ledger.record(charge(100.0), T0, "exec-1/po-budget") is True
    assert ledger.record(charge(100.0), T0, "exec-1/po-budget") is False
    assert ledger.total("po-budget", "alice.requester", T0 - timedelta(days=1)) == 100.0


def test_out_of_order_recording_and_other_timezones(ledger: InMemoryUsage | SqlUsageLedger) -> None:
    cet = timezone(timedelta(hours=1))
    ledger.record(charge(1.0), T0, "a")
    ledger.record(charge(2.0), (T0 - timedelta(hours=5)).astimezone(cet), "b")
    ledger.record(charge(4.0), T0 - timedelta(hours=1), "c")
    assert ledger.total("po-budget", "alice.requester", (T0 - timedelta(hours=5)).astimezone(cet)) == 7.0
    assert ledger.total("po-budget", "alice.requester", T0 - timedelta(hours=3)) == 5.0


def test_naive_times_are_refused(ledger: InMemoryUsage | SqlUsageLedger) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ledger.record(charge(1.0), datetime(2026, 11, 20), "a")


def test_sql_ledger_survives_a_new_engine(open_engine: OpenEngine) -> None:
    engine = open_engine()
    SqlUsageLedger(engine).record(charge(42.0), T0, "a")
    engine.dispose()

    assert (
        SqlUsageLedger(open_engine()).total("po-budget", "alice.requester", T0 - timedelta(hours=1)) == 42.0
    )


def test_recorders_racing_on_one_key_charge_once(open_engine: OpenEngine) -> None:
    """Processes charging the same execution (a double resume): one row, whoever commits first."""
    ledgers = [SqlUsageLedger(open_engine()) for _ in range(4)]
    start = threading.Barrier(len(ledgers), timeout=60)
    recorded: list[bool] = []

    def record(ledger: SqlUsageLedger) -> None:
        start.wait()
        for n in range(10):
            recorded.append(ledger.record(charge(100.0), T0, f"exec-{n}:po-budget"))

    threads = [threading.Thread(target=record, args=(ledger,)) for ledger in ledgers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(recorded) == [False] * 30 + [True] * 10
    assert ledgers[0].total("po-budget", "alice.requester", T0) == 1000.0
