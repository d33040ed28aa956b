"""Holding usage before a call runs: checked and held in one step per limit key, across processes.

A bounded hold is refused when the window has no room left (charges and other holds count); holds of
one call are all taken or none; a call's own earlier hold is replaced, not added to; a hold becomes the
charge when the call ran and is dropped when it failed. Processes racing for the last of a budget
never hold more than the budget between them. Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from governance.usage import Hold, SqlUsageLedger, UsageCharge
from tests.pg.engines import OpenEngine

T0 = datetime(2026, 11, 20, 12, tzinfo=UTC)
DAY = timedelta(hours=24)
BUDGET = 10_000.0


@pytest.fixture
def ledger(open_engine: OpenEngine) -> SqlUsageLedger:
    return SqlUsageLedger(open_engine())


def hold(amount: float, row_key: str, *, limit_id: str = "po-budget", bounded: bool = True) -> Hold:
    charge = UsageCharge(limit_id=limit_id, key="alice.requester", amount=amount)
    return Hold(charge=charge, since=T0 - DAY, max=BUDGET if bounded else None, row_key=row_key)


def used(ledger: SqlUsageLedger, limit_id: str = "po-budget") -> float:
    return ledger.total(limit_id, "alice.requester", T0 - DAY)


def test_a_hold_counts_like_a_charge_and_a_full_window_refuses_the_next(ledger: SqlUsageLedger) -> None:
    ledger.record(UsageCharge(limit_id="po-budget", key="alice.requester", amount=9_000.0), T0, "earlier")

    assert ledger.reserve([hold(1_000.0, "a:po-budget")], T0) is None  # exactly the budget is fine
    assert used(ledger) == 10_000.0
    assert ledger.reserve([hold(0.01, "b:po-budget")], T0) == "po-budget"
    assert used(ledger) == 10_000.0


def test_an_escalated_limit_is_held_without_a_bound(ledger: SqlUsageLedger) -> None:
    ledger.record(UsageCharge(limit_id="po-budget", key="alice.requester", amount=9_000.0), T0, "earlier")

    assert ledger.reserve([hold(5_000.0, "a:po-budget", bounded=False)], T0) is None
    assert used(ledger) == 14_000.0


def test_the_holds_of_one_call_are_all_taken_or_none(ledger: SqlUsageLedger) -> None:
    ledger.record(UsageCharge(limit_id="po-count", key="alice.requester", amount=10_000.0), T0, "earlier")
    holds = [hold(500.0, "a:po-budget"), hold(1.0, "a:po-count", limit_id="po-count")]

    assert ledger.reserve(holds, T0) == "po-count"
    assert used(ledger) == 0.0  # the budget hold that fitted was not kept either


def test_a_calls_own_hold_is_replaced_not_added_to(ledger: SqlUsageLedger) -> None:
    assert ledger.reserve([hold(6_000.0, "a:po-budget")], T0) is None
    # Decided again (a resume): the same row key holds the new amount, and its old one is not counted.
    assert ledger.reserve([hold(7_000.0, "a:po-budget")], T0 + timedelta(minutes=1)) is None
    assert used(ledger) == 7_000.0


def test_a_hold_becomes_the_charge_once_and_release_leaves_charges_alone(ledger: SqlUsageLedger) -> None:
    ledger.reserve([hold(2_000.0, "a:po-budget"), hold(3_000.0, "b:po-budget")], T0)

    assert ledger.record(
        UsageCharge(limit_id="po-budget", key="alice.requester", amount=2_000.0), T0, "a:po-budget"
    )
    assert not ledger.record(
        UsageCharge(limit_id="po-budget", key="alice.requester", amount=2_000.0), T0, "a:po-budget"
    )
    assert ledger.release(["a:po-budget", "b:po-budget"]) == 1  # b's hold; a is charged now
    assert used(ledger) == 2_000.0
    # A charged row is never turned back into a hold.
    assert ledger.reserve([hold(2_000.0, "a:po-budget")], T0) is None
    assert ledger.release(["a:po-budget"]) == 0
    assert used(ledger) == 2_000.0


def _race(
    open_engine: OpenEngine,
    worker: int,
    rounds: int,
    start: Any,
    results: multiprocessing.Queue[int],
) -> None:
    ledger = SqlUsageLedger(open_engine())
    held = 0
    for n in range(rounds):
        start.wait(timeout=60)  # every process asks for the same last 1,000 at the same moment
        held += ledger.reserve([hold(1_000.0, f"w{worker}:round-{n}", limit_id=f"round-{n}")], T0) is None
    results.put(held)


def race(open_engine: OpenEngine, workers: int = 4, rounds: int = 12) -> int:
    """Each round, ``workers`` processes race for the last 1,000 of a 10,000 budget; holds taken."""
    ledger = SqlUsageLedger(open_engine())  # tables created before the race
    for n in range(rounds):
        ledger.record(UsageCharge(limit_id=f"round-{n}", key="alice.requester", amount=9_000.0), T0, f"r{n}")
    context = multiprocessing.get_context("fork")
    results: multiprocessing.Queue[int] = context.Queue()
    start = context.Barrier(workers)
    processes = [
        context.Process(target=_race, args=(open_engine, worker, rounds, start, results))
        for worker in range(workers)
    ]
    for process in processes:
        process.start()
    taken = sum(results.get(timeout=120) for _ in processes)
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    return taken


def test_processes_racing_for_a_budget_never_hold_more_than_it(
    open_engine: OpenEngine, ledger: SqlUsageLedger
) -> None:
    assert race(open_engine, rounds=12) == 12  # one winner a round
    assert all(used(ledger, f"round-{n}") == BUDGET for n in range(12))
