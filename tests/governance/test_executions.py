"""The executions ledger: a key runs its handler at most once, across retries, ledgers and threads.

Every test runs on SQLite (the driver fast path and the SQLAlchemy Core path) and on PostgreSQL; each
ledger has its own engine, as in separate processes.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from governance.executions import (
    SETTLED_BY_OPERATOR,
    AmbiguousKey,
    ExecutionChanged,
    ExecutionInProgress,
    ExecutionLedger,
    ExecutionRecord,
    ExecutionStatus,
    NotStarted,
    OutcomeRequired,
    UnknownExecution,
    idempotency_key,
)
from tests.pg.engines import Engines, OpenEngine

START = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
TOOL = "inventory_transfer_stock"
DIGEST = "d" * 64


def _clock() -> Callable[[], datetime]:
    ticks = iter(range(10**9))
    return lambda: START + timedelta(seconds=next(ticks))


class Ledgers:
    """Makes ledgers on one database, each on its own engine as another process would."""

    def __init__(self, open_engine: OpenEngine, *, driver: bool) -> None:
        self._open_engine = open_engine
        self._driver = driver

    def __call__(self, clock: Callable[[], datetime] | None = None) -> ExecutionLedger:
        return ExecutionLedger(self._open_engine(), clock=clock or _clock(), driver=self._driver)

    def sql(self, statement: str) -> None:
        """Run SQL on a connection of its own, as an operator or another process would."""
        with self._open_engine().begin() as conn:
            conn.execute(text(statement))


class _Handler:
    """Counts calls; returns ``result`` or raises ``error``."""

    def __init__(self, result: str = '{"transfer": "TRF-0001"}', error: BaseException | None = None) -> None:
        self.calls = 0
        self.result = result
        self.error = error

    def __call__(self) -> str:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return self.result


@pytest.fixture(
    params=[("sqlite", True), ("sqlite", False), ("postgresql", True)],
    ids=["sqlite-driver", "sqlite-core", "postgresql"],
)
def make_ledger(request: pytest.FixtureRequest, engines: Engines) -> Ledgers:
    """SQLite's driver fast path, the Core path other databases take (on SQLite), and PostgreSQL."""
    kind, driver = request.param
    return Ledgers(engines.opener(kind), driver=driver)


def _run(ledger: ExecutionLedger, handler: Callable[[], str], key: str = "k1", **kw: bool) -> ExecutionRecord:
    return ledger.run_once(key, tool=TOOL, args_digest=DIGEST, thread_id="t-1", handler=handler, **kw)


def test_idempotency_key_is_stable_and_separates_its_parts() -> None:
    key = idempotency_key("t-1", "call-1", DIGEST)

    assert key == idempotency_key("t-1", "call-1", DIGEST)
    assert len(key) == 64 and int(key, 16) >= 0
    assert key != idempotency_key("t-1", "call-2", DIGEST)
    assert key != idempotency_key("t-2", "call-1", DIGEST)
    assert key != idempotency_key("t-1", "call-1", "e" * 64)
    assert idempotency_key("a", "bc", DIGEST) != idempotency_key("ab", "c", DIGEST)


def test_first_run_calls_the_handler_and_records_the_result(make_ledger: Ledgers) -> None:
    ledger, handler = make_ledger(), _Handler()

    record = _run(ledger, handler)

    assert handler.calls == 1
    assert record.status is ExecutionStatus.COMPLETED and not record.replayed
    assert record.result == '{"transfer": "TRF-0001"}'
    assert (record.tool, record.args_digest, record.thread_id, record.attempts) == (TOOL, DIGEST, "t-1", 1)
    assert record.finished_at is not None and record.finished_at > record.started_at
    assert ledger.get("k1") == record
    assert ledger.get("unknown") is None


def test_second_run_replays_the_result_without_calling_the_handler(make_ledger: Ledgers) -> None:
    ledger, handler = make_ledger(), _Handler()
    first = _run(ledger, handler)
    again = _Handler(result="must not run")

    replay = _run(ledger, again)
    from_another_ledger = _run(make_ledger(), again)

    assert again.calls == 0 and handler.calls == 1
    assert replay.replayed and from_another_ledger.replayed
    assert replay.result == from_another_ledger.result == first.result
    assert replay.to_dict() == {**first.to_dict(), "replayed": True}


def test_a_failed_handler_is_recorded_and_not_re_run_by_default(make_ledger: Ledgers) -> None:
    ledger = make_ledger()
    failing = _Handler(error=LookupError("warehouse BER-9 does not exist"))

    record = _run(ledger, failing)
    replay = _run(ledger, _Handler())

    assert record.status is ExecutionStatus.FAILED and not record.replayed
    assert record.error == "warehouse BER-9 does not exist"
    assert record.error_type == "builtins.LookupError"
    assert record.result is None
    assert replay.replayed and replay.status is ExecutionStatus.FAILED
    assert failing.calls == 1


def test_retry_failed_runs_a_failed_key_again_once(make_ledger: Ledgers) -> None:
    ledger = make_ledger()
    _run(ledger, _Handler(error=ConnectionError("backend down")))
    retry = _Handler()

    record = _run(ledger, retry, retry_failed=True)
    after = _run(ledger, _Handler(), retry_failed=True)

    assert retry.calls == 1
    assert record.status is ExecutionStatus.COMPLETED and record.attempts == 2
    assert record.error is None and record.error_type is None
    assert after.replayed and after.attempts == 2


def test_a_key_started_elsewhere_is_not_run_again(make_ledger: Ledgers) -> None:
    """While one ledger's handler runs, another ledger on the same file sees the claim and backs off."""
    first, second = make_ledger(), make_ledger()
    inner = _Handler()
    seen: list[ExecutionInProgress] = []

    def handler_that_meets_a_second_attempt() -> str:
        with pytest.raises(ExecutionInProgress) as caught:
            _run(second, inner)
        seen.append(caught.value)
        return "done"

    record = _run(first, handler_that_meets_a_second_attempt)

    assert inner.calls == 0
    assert record.status is ExecutionStatus.COMPLETED
    [error] = seen
    assert error.record.status is ExecutionStatus.STARTED
    assert "has not finished" in str(error)


def test_a_crash_inside_the_handler_leaves_the_key_claimed(make_ledger: Ledgers) -> None:
    """A process killed mid-call (here: KeyboardInterrupt) may have written: later attempts must not run."""
    ledger = make_ledger()
    with pytest.raises(KeyboardInterrupt):
        _run(ledger, _Handler(error=KeyboardInterrupt()))
    after_restart = make_ledger()
    retry = _Handler()

    with pytest.raises(ExecutionInProgress):
        _run(after_restart, retry)
    with pytest.raises(ExecutionInProgress):
        _run(after_restart, retry, retry_failed=True)

    assert retry.calls == 0
    assert after_restart.get("k1").status is ExecutionStatus.STARTED  # type: ignore[union-attr]


def test_a_key_reused_for_another_call_is_refused(make_ledger: Ledgers) -> None:
    ledger = make_ledger()
    _run(ledger, _Handler())

    with pytest.raises(ValueError, match="belongs to inventory_transfer_stock"):
        ledger.run_once(
            "k1", tool="inventory_adjust_stock", args_digest=DIGEST, thread_id="t-1", handler=_Handler()
        )


def test_two_ledgers_racing_on_one_key_run_the_handler_once(make_ledger: Ledgers) -> None:
    """Both claim at once; the handler holds the claim open until the other attempt is over."""
    ledgers = [make_ledger(), make_ledger()]
    barrier = threading.Barrier(2, timeout=60)
    other_attempt_over = threading.Event()
    calls: list[str] = []
    outcomes: list[str] = []

    def handler() -> str:
        calls.append(threading.current_thread().name)
        if not other_attempt_over.wait(timeout=60):
            raise TimeoutError("the other attempt never finished: it waited for this claim")
        return "ok"

    def attempt(ledger: ExecutionLedger) -> None:
        barrier.wait()
        try:
            record = _run(ledger, handler)
            outcomes.append("replayed" if record.replayed else "ran")
        except ExecutionInProgress:
            outcomes.append("in progress")
            other_attempt_over.set()

    threads = [threading.Thread(target=attempt, args=(ledger,)) for ledger in ledgers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(calls) == 1
    assert sorted(outcomes) == ["in progress", "ran"]
    assert ledgers[0].get("k1").result == "ok"  # type: ignore[union-attr]


def test_ledgers_racing_from_threads_run_each_key_once(make_ledger: Ledgers) -> None:
    """Four ledgers (own engines, as four processes) run the same twelve calls, each at the same moment."""
    keys = [f"key-{n:02d}" for n in range(12)]
    ledgers = [make_ledger() for _ in range(4)]
    each_key = threading.Barrier(len(ledgers), timeout=60)
    ran: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def handler_for(key: str) -> Callable[[], str]:
        def handler() -> str:
            with lock:
                ran[key] += 1
            return f"done {key}"

        return handler

    def attempt(ledger: ExecutionLedger) -> None:
        for key in keys:
            each_key.wait()
            try:
                record = _run(ledger, handler_for(key), key=key)
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
        assert record is not None
        assert (record.status, record.result) == (ExecutionStatus.COMPLETED, f"done {key}")


def test_two_ledgers_retrying_one_failed_key_run_it_once(make_ledger: Ledgers) -> None:
    first, second = make_ledger(), make_ledger()
    _run(first, _Handler(error=ConnectionError("backend down")))
    retry = _Handler()
    start = threading.Barrier(2, timeout=60)
    records: list[ExecutionRecord] = []

    def attempt(ledger: ExecutionLedger) -> None:
        start.wait()
        try:
            records.append(_run(ledger, retry, retry_failed=True))
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


def test_a_notification_key_is_stored_and_replayed(make_ledger: Ledgers) -> None:
    """The executor claims ``notify:<key>`` before a call that notifies: 71 characters, not 64."""
    key = "notify:" + idempotency_key("t-1", "call-1", DIGEST)

    first = _run(make_ledger(), lambda: "sent", key=key)
    again = _run(make_ledger(), lambda: "sent twice", key=key)

    assert (first.status, first.key) == (ExecutionStatus.COMPLETED, key)
    assert again.replayed and again.result == "sent"


# --- listing and settling: what operators do with a row a crash left started ----------------------


def _crash(ledger: ExecutionLedger, key: str = "k1", thread_id: str = "t-1") -> ExecutionRecord:
    """Claim ``key`` and die inside the handler, as a process killed mid-call would; return the row."""
    with pytest.raises(KeyboardInterrupt):
        ledger.run_once(
            key,
            tool=TOOL,
            args_digest=DIGEST,
            thread_id=thread_id,
            handler=_Handler(error=KeyboardInterrupt()),
        )
    record = ledger.get(key)
    assert record is not None and record.status is ExecutionStatus.STARTED
    return record


def _clock_with(meanwhile: Callable[[], object]) -> Callable[[], datetime]:
    """A clock that lets ``meanwhile`` run the first time it is read: another process acting in between.

    ``settle`` reads the clock once, after it read the row and before its guarded update.
    """
    ticks = _clock()
    pending = [meanwhile]

    def read() -> datetime:
        if pending:
            pending.pop()()
        return ticks()

    return read


def test_list_filters_by_status_and_thread_newest_first(make_ledger: Ledgers) -> None:
    ledger = make_ledger()
    _run(ledger, _Handler(), key="a")
    _run(ledger, _Handler(error=LookupError("no such SKU")), key="b")
    _crash(ledger, key="c", thread_id="t-2")
    _crash(ledger, key="d", thread_id="t-1")

    assert [r.key for r in ledger.list()] == ["d", "c", "b", "a"]
    assert [r.key for r in ledger.list(status=ExecutionStatus.STARTED)] == ["d", "c"]
    assert [r.key for r in ledger.list(thread_id="t-1")] == ["d", "b", "a"]
    assert [r.key for r in ledger.list(status=ExecutionStatus.STARTED, thread_id="t-2")] == ["c"]
    assert [r.key for r in ledger.list(limit=2)] == ["d", "c"]
    assert ledger.list(status=ExecutionStatus.COMPLETED) == [ledger.get("a")]
    with pytest.raises(ValueError, match="limit"):
        ledger.list(limit=0)


def test_resolve_takes_a_key_or_a_unique_prefix_of_eight_characters(make_ledger: Ledgers) -> None:
    ledger = make_ledger()
    key = idempotency_key("t-1", "call-1", DIGEST)
    _run(ledger, _Handler(), key=key)
    _run(ledger, _Handler(), key="abcdef12-one")
    _run(ledger, _Handler(), key="abcdef12-two")

    assert ledger.resolve(key).key == key
    assert ledger.resolve(key[:8]).key == key
    assert ledger.resolve("abcdef12-t").key == "abcdef12-two"
    with pytest.raises(AmbiguousKey, match="'abcdef12' matches more than one") as ambiguous:
        ledger.resolve("abcdef12")
    assert ambiguous.value.keys == ("abcdef12-one", "abcdef12-two")
    with pytest.raises(UnknownExecution, match="at least 8 characters"):
        ledger.resolve(key[:7])
    with pytest.raises(UnknownExecution, match="'ffffffffffff'"):
        ledger.resolve("ffffffffffff")
    with pytest.raises(UnknownExecution):
        ledger.resolve("ABCDEF12-t")  # matched exactly, case included


def test_a_row_settled_completed_is_replayed_and_the_handler_never_runs(make_ledger: Ledgers) -> None:
    started = _crash(make_ledger())
    operator_side = make_ledger()

    settled = operator_side.settle("k1", ExecutionStatus.COMPLETED, text='{"transfer": "TRF-0042"}')
    handler = _Handler()
    replay = _run(make_ledger(), handler)

    assert handler.calls == 0
    assert settled.status is ExecutionStatus.COMPLETED and settled.result == '{"transfer": "TRF-0042"}'
    assert (settled.attempts, settled.started_at) == (started.attempts, started.started_at)
    assert settled.finished_at is not None and settled.error is None
    assert operator_side.get("k1") == settled
    assert replay.replayed and replay.result == '{"transfer": "TRF-0042"}'


def test_a_row_settled_failed_carries_the_reason_and_may_be_retried_on_request(make_ledger: Ledgers) -> None:
    ledger = make_ledger()
    _crash(ledger)

    settled = ledger.settle("k1", ExecutionStatus.FAILED, text="no transfer TRF-… in the WMS for this key")
    replay = _run(ledger, _Handler())
    retry = _Handler()
    rerun = _run(ledger, retry, retry_failed=True)

    assert (settled.status, settled.error_type) == (ExecutionStatus.FAILED, SETTLED_BY_OPERATOR)
    assert settled.error == "no transfer TRF-… in the WMS for this key" and settled.result is None
    assert replay.replayed and replay.status is ExecutionStatus.FAILED
    assert retry.calls == 1 and (rerun.status, rerun.attempts) == (ExecutionStatus.COMPLETED, 2)


def test_settling_refuses_unknown_keys_rows_with_an_outcome_and_empty_text(make_ledger: Ledgers) -> None:
    ledger = make_ledger()
    _run(ledger, _Handler(), key="done")
    _crash(ledger)

    with pytest.raises(UnknownExecution, match="'nope'"):
        ledger.settle("nope", ExecutionStatus.COMPLETED, text="x")
    with pytest.raises(NotStarted, match="is completed, not started") as not_started:
        ledger.settle("done", ExecutionStatus.FAILED, text="never happened")
    assert not_started.value.record.result == '{"transfer": "TRF-0001"}'
    with pytest.raises(OutcomeRequired, match="needs a reason"):
        ledger.settle("k1", ExecutionStatus.FAILED, text="  ")
    with pytest.raises(OutcomeRequired, match="needs the result found in the backend"):
        ledger.settle("k1", ExecutionStatus.COMPLETED, text="")
    with pytest.raises(ValueError, match="not started"):
        ledger.settle("k1", ExecutionStatus.STARTED, text="x")

    assert ledger.get("done").status is ExecutionStatus.COMPLETED  # type: ignore[union-attr]
    assert ledger.get("k1").status is ExecutionStatus.STARTED  # type: ignore[union-attr]


def test_of_two_operators_settling_at_once_the_first_wins(make_ledger: Ledgers) -> None:
    _crash(make_ledger())
    other = make_ledger()
    slow = make_ledger(_clock_with(lambda: other.settle("k1", ExecutionStatus.FAILED, text="not in the WMS")))

    with pytest.raises(NotStarted, match="is failed, not started"):
        slow.settle("k1", ExecutionStatus.COMPLETED, text='{"transfer": "TRF-0042"}')

    assert other.get("k1").error == "not in the WMS"  # type: ignore[union-attr]


def test_a_row_claimed_again_while_it_is_settled_is_not_overwritten(make_ledger: Ledgers) -> None:
    """The guard compares the attempt too: a row retried meanwhile is a different execution."""
    _crash(make_ledger())
    retried = "UPDATE executions SET attempts = attempts + 1 WHERE key = 'k1'"
    slow = make_ledger(_clock_with(lambda: make_ledger.sql(retried)))

    with pytest.raises(ExecutionChanged, match="now started, attempt 2"):
        slow.settle("k1", ExecutionStatus.COMPLETED, text="{}")

    assert slow.get("k1").status is ExecutionStatus.STARTED  # type: ignore[union-attr]


def test_a_runner_that_finishes_after_a_settlement_fails_loudly_and_the_settlement_stands(
    make_ledger: Ledgers,
) -> None:
    """Settling a call that was still running is the operator's mistake; it must not pass silently."""
    runner, operator_side = make_ledger(), make_ledger()

    def handler_outlived_by_a_settlement() -> str:
        operator_side.settle("k1", ExecutionStatus.FAILED, text="looked stuck")
        return '{"transfer": "TRF-0007"}'

    with pytest.raises(RuntimeError, match=r"settled by someone else.*TRF-0007"):
        _run(runner, handler_outlived_by_a_settlement)

    assert operator_side.get("k1").error == "looked stuck"  # type: ignore[union-attr]
