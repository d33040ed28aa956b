"""The executions ledger on PostgreSQL: the SQLite suite's scenarios, and ledgers racing from threads."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime

import pytest
from sqlalchemy import Engine, text

from governance.executions import (
    ExecutionChanged,
    ExecutionInProgress,
    ExecutionLedger,
    ExecutionStatus,
    idempotency_key,
)
from tests.governance import test_executions as on_sqlite

OpenEngine = Callable[[], Engine]
LedgerFactory = Callable[..., ExecutionLedger]  # the SQLite suite's, whose database argument is ignored here


@pytest.fixture
def db(pg_url: str) -> str:
    """The database the SQLite scenarios pass to ``make_ledger``: a file there, this test's database here."""
    return pg_url


@pytest.fixture
def make_ledger(new_engine: OpenEngine) -> LedgerFactory:
    """Ledgers on the test's database, each on its own engine as in separate processes."""

    def make(_db: object = None, clock: Callable[[], datetime] | None = None) -> ExecutionLedger:
        return ExecutionLedger(new_engine(), clock=clock or on_sqlite._clock())

    return make


# The SQLite suite's scenarios that reach the database only through ledgers, run again on PostgreSQL.
test_first_run_calls_the_handler_and_records_the_result = (
    on_sqlite.test_first_run_calls_the_handler_and_records_the_result
)
test_second_run_replays_the_result_without_calling_the_handler = (
    on_sqlite.test_second_run_replays_the_result_without_calling_the_handler
)
test_a_failed_handler_is_recorded_and_not_re_run_by_default = (
    on_sqlite.test_a_failed_handler_is_recorded_and_not_re_run_by_default
)
test_retry_failed_runs_a_failed_key_again_once = on_sqlite.test_retry_failed_runs_a_failed_key_again_once
test_a_key_started_elsewhere_is_not_run_again = on_sqlite.test_a_key_started_elsewhere_is_not_run_again
test_a_crash_inside_the_handler_leaves_the_key_claimed = (
    on_sqlite.test_a_crash_inside_the_handler_leaves_the_key_claimed
)
test_a_key_reused_for_another_call_is_refused = on_sqlite.test_a_key_reused_for_another_call_is_refused
test_two_ledgers_racing_on_one_key_run_the_handler_once = (
    on_sqlite.test_two_ledgers_racing_on_one_key_run_the_handler_once
)
test_list_filters_by_status_and_thread_newest_first = (
    on_sqlite.test_list_filters_by_status_and_thread_newest_first
)
test_resolve_takes_a_key_or_a_unique_prefix_of_eight_characters = (
    on_sqlite.test_resolve_takes_a_key_or_a_unique_prefix_of_eight_characters
)
test_a_row_settled_completed_is_replayed_and_the_handler_never_runs = (
    on_sqlite.test_a_row_settled_completed_is_replayed_and_the_handler_never_runs
)
test_a_row_settled_failed_carries_the_reason_and_may_be_retried_on_request = (
    on_sqlite.test_a_row_settled_failed_carries_the_reason_and_may_be_retried_on_request
)
test_settling_refuses_unknown_keys_rows_with_an_outcome_and_empty_text = (
    on_sqlite.test_settling_refuses_unknown_keys_rows_with_an_outcome_and_empty_text
)
test_of_two_operators_settling_at_once_the_first_wins = (
    on_sqlite.test_of_two_operators_settling_at_once_the_first_wins
)
test_a_runner_that_finishes_after_a_settlement_fails_loudly_and_the_settlement_stands = (
    on_sqlite.test_a_runner_that_finishes_after_a_settlement_fails_loudly_and_the_settlement_stands
)


def test_a_row_claimed_again_while_it_is_settled_is_not_overwritten(
    make_ledger: LedgerFactory, new_engine: OpenEngine
) -> None:
    on_sqlite._crash(make_ledger())
    retried = new_engine()

    def retry_meanwhile() -> None:
        with retried.begin() as conn:
            conn.execute(text("UPDATE executions SET attempts = attempts + 1 WHERE key = 'k1'"))

    slow = make_ledger(clock=on_sqlite._clock_with(retry_meanwhile))

    with pytest.raises(ExecutionChanged, match="now started, attempt 2"):
        slow.settle("k1", ExecutionStatus.COMPLETED, text="{}")


def test_a_notification_key_is_stored_and_replayed(make_ledger: LedgerFactory) -> None:
    """The executor claims ``notify:<key>`` before a call that notifies: 71 characters, not 64."""
    key = "notify:" + idempotency_key("t-1", "call-1", on_sqlite.DIGEST)
    ledger = make_ledger()

    first = on_sqlite._run(ledger, lambda: "sent", key=key)
    again = on_sqlite._run(make_ledger(), lambda: "sent twice", key=key)

    assert (first.status, first.key) == (ExecutionStatus.COMPLETED, key)
    assert again.replayed and again.result == "sent"


def test_ledgers_racing_from_threads_run_each_key_once(make_ledger: LedgerFactory) -> None:
    """Four ledgers (own engines, as four processes) run the same twelve calls at once."""
    keys = [f"key-{n:02d}" for n in range(12)]
    ledgers = [make_ledger() for _ in range(4)]
    start = threading.Barrier(len(ledgers))
    ran: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def handler_for(key: str) -> Callable[[], str]:
        def handler() -> str:
            with lock:
                ran[key] += 1
            time.sleep(0.005)  # keeps the claim open while the others arrive
            return f"done {key}"

        return handler

    def attempt(ledger: ExecutionLedger) -> None:
        start.wait(timeout=60)
        for key in keys:
            try:
                record = on_sqlite._run(ledger, handler_for(key), key=key)
                outcome = "replayed" if record.replayed else "ran"
            except ExecutionInProgress:
                outcome = "in progress"
            with lock:
                outcomes[outcome] += 1

    threads = [threading.Thread(target=attempt, args=(ledger,)) for ledger in ledgers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert ran == dict.fromkeys(keys, 1)
    assert outcomes["ran"] == len(keys) and sum(outcomes.values()) == len(keys) * len(ledgers)
    for key in keys:
        record = ledgers[0].get(key)
        assert record is not None and (record.status, record.result) == (
            ExecutionStatus.COMPLETED,
            f"done {key}",
        )


def test_two_ledgers_retrying_one_failed_key_run_it_once(make_ledger: LedgerFactory) -> None:
    first, second = make_ledger(), make_ledger()
    on_sqlite._run(first, on_sqlite._Handler(error=ConnectionError("backend down")))
    retry = on_sqlite._Handler()
    start = threading.Barrier(2)
    records = []

    def attempt(ledger: ExecutionLedger) -> None:
        start.wait(timeout=60)
        try:
            records.append(on_sqlite._run(ledger, retry, retry_failed=True))
        except ExecutionInProgress as busy:
            records.append(busy.record)

    threads = [threading.Thread(target=attempt, args=(ledger,)) for ledger in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert retry.calls == 1 and len(records) == 2
    final = first.get("k1")
    assert final is not None and (final.status, final.attempts) == (ExecutionStatus.COMPLETED, 2)
