"""The usage ledger: memory and SQL agree; recording is idempotent; a window includes its start."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from governance.store import sqlite_engine
from governance.usage import InMemoryUsage, SqlUsageLedger, UsageCharge

T0 = datetime(2026, 11, 20, 12, tzinfo=UTC)


@pytest.fixture(params=["memory", "sqlite"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[InMemoryUsage | SqlUsageLedger]:
    if request.param == "memory":
        yield InMemoryUsage()
    else:
        engine = sqlite_engine(tmp_path / "usage.db")
        yield SqlUsageLedger(engine)
        engine.dispose()


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


def test_sql_ledger_survives_a_new_engine(tmp_path: Path) -> None:
    engine = sqlite_engine(tmp_path / "usage.db")
    SqlUsageLedger(engine).record(charge(42.0), T0, "a")
    engine.dispose()
    reopened = sqlite_engine(tmp_path / "usage.db")
    assert SqlUsageLedger(reopened).total("po-budget", "alice.requester", T0 - timedelta(hours=1)) == 42.0
    reopened.dispose()
