"""The audit trail on PostgreSQL: the SQLite suite's scenarios, tampering in SQL, concurrent appenders."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from governance.audit import AuditLog, EventKind, NewEvent, Problem, event_hash
from tests.governance import test_audit as on_sqlite

OpenEngine = Callable[[], Engine]


@pytest.fixture
def log(new_engine: OpenEngine) -> AuditLog:
    """What the SQLite scenarios below take: a log, here on a fresh PostgreSQL database."""
    return AuditLog(new_engine(), clock=on_sqlite._ticking_clock())


# The SQLite suite's scenarios that need nothing but a log, run again on PostgreSQL.
test_empty_log_verifies_ok = on_sqlite.test_empty_log_verifies_ok
test_appended_events_form_a_chain_from_genesis_and_verify = (
    on_sqlite.test_appended_events_form_a_chain_from_genesis_and_verify
)
test_hash_is_sha256_of_the_documented_json_array = on_sqlite.test_hash_is_sha256_of_the_documented_json_array
test_a_payload_that_is_not_json_is_refused_and_nothing_is_written = (
    on_sqlite.test_a_payload_that_is_not_json_is_refused_and_nothing_is_written
)
test_append_many_writes_all_or_nothing = on_sqlite.test_append_many_writes_all_or_nothing
test_tail_returns_the_last_n_oldest_first = on_sqlite.test_tail_returns_the_last_n_oldest_first
test_tail_filters_by_thread_and_kinds = on_sqlite.test_tail_filters_by_thread_and_kinds
test_events_streams_in_seq_order_with_filters = on_sqlite.test_events_streams_in_seq_order_with_filters
test_events_reads_past_batch_boundaries = on_sqlite.test_events_reads_past_batch_boundaries


def _sql(engine: Engine, statement: str, **params: Any) -> list[Any]:
    """Run SQL on its own connection, the way someone tampering with the table would."""
    with engine.begin() as conn:
        result = conn.execute(text(statement), params)
        return list(result) if result.returns_rows else []


def _event_id_at(engine: Engine, seq: int) -> str:
    return str(_sql(engine, "SELECT event_id FROM audit_events WHERE seq = :seq", seq=seq)[0][0])


def test_append_returns_what_was_stored(log: AuditLog, new_engine: OpenEngine) -> None:
    event = log.append(EventKind.DECISION, {"z": 1, "a": "Zürich — ok"}, thread_id="t-1", actor="bob")

    [stored] = _sql(new_engine(), "SELECT * FROM audit_events")

    assert tuple(stored) == (
        *(event.seq, event.event_id, event.at, "t-1", "decision", "bob"),
        *('{"a":"Zürich — ok","z":1}', event.prev_hash, event.hash),
    )
    assert log.verify().ok


@pytest.mark.parametrize(
    ("column", "value"),
    [("payload", '{"amount":1.0,"note":"event 4","step":4}'), ("actor", "mallory"), ("thread_id", None)],
)
def test_an_edited_field_is_named_as_the_first_broken_event(
    log: AuditLog, new_engine: OpenEngine, column: str, value: str | None
) -> None:
    on_sqlite._fill(log, 10)
    engine = new_engine()
    _sql(engine, f"UPDATE audit_events SET {column} = :value WHERE seq = 5", value=value)

    result = log.verify()

    assert (result.ok, result.first_broken_seq, result.problem) == (False, 5, Problem.EDITED)
    assert (result.event_id, result.checked) == (_event_id_at(engine, 5), 5)


@pytest.mark.parametrize(("deleted", "named"), [(1, 2), (5, 6)])
def test_a_deleted_event_is_reported_at_the_event_after_the_gap(
    log: AuditLog, new_engine: OpenEngine, deleted: int, named: int
) -> None:
    on_sqlite._fill(log, 10)
    engine = new_engine()
    _sql(engine, "DELETE FROM audit_events WHERE seq = :seq", seq=deleted)

    result = log.verify()

    assert (result.first_broken_seq, result.event_id) == (named, _event_id_at(engine, named))
    assert result.problem == Problem.MISSING_BEFORE


def test_swapped_rows_are_reported_at_the_first_moved_event(log: AuditLog, new_engine: OpenEngine) -> None:
    on_sqlite._fill(log, 10)
    engine = new_engine()
    # Renumbering through a free seq: event_id is unique, so the rows cannot swap in one statement.
    _sql(engine, "UPDATE audit_events SET seq = 0 WHERE seq = 4")
    _sql(engine, "UPDATE audit_events SET seq = 4 WHERE seq = 7")
    _sql(engine, "UPDATE audit_events SET seq = 7 WHERE seq = 0")

    result = log.verify()

    assert (result.first_broken_seq, result.problem) == (4, Problem.OUT_OF_ORDER)


def test_a_row_rewritten_with_its_own_hash_recomputed_is_named(log: AuditLog, new_engine: OpenEngine) -> None:
    events = on_sqlite._fill(log, 10)
    forged = events[4]
    payload = '{"amount":0.0,"note":"nothing happened","step":0}'
    fields = {**forged.to_dict(), "payload": payload}
    del fields["hash"]
    _sql(
        new_engine(),
        "UPDATE audit_events SET payload = :payload, hash = :hash WHERE seq = :seq",
        payload=payload,
        hash=event_hash(**fields),
        seq=forged.seq,
    )

    result = log.verify()

    assert (result.first_broken_seq, result.event_id) == (forged.seq, forged.event_id)
    assert result.problem == Problem.REWRITTEN


def test_tamper_detection_survives_batch_boundaries(log: AuditLog, new_engine: OpenEngine) -> None:
    """``verify`` streams the table through a server-side cursor on PostgreSQL."""
    log.append_many(NewEvent(kind=EventKind.RETRIEVAL, payload={"i": i}) for i in range(4500))
    _sql(new_engine(), "UPDATE audit_events SET payload = :text WHERE seq = 4321", text='{"i":0}')

    result = log.verify()

    assert (result.first_broken_seq, result.checked, result.problem) == (4321, 4321, Problem.EDITED)


def test_append_locks_out_other_appenders_but_not_readers(new_engine: OpenEngine) -> None:
    AuditLog(new_engine()).append(EventKind.REQUEST, {})
    other = new_engine()
    outcomes: list[str] = []

    def clock_that_tries_to_append() -> datetime:
        # Runs inside the append's transaction, between reading the head and inserting after it.
        with other.connect() as conn:
            outcomes.append(f"readers see {conn.execute(text('SELECT count(*) FROM audit_events')).scalar()}")
        try:
            _sql(other, "LOCK TABLE audit_events IN SHARE ROW EXCLUSIVE MODE NOWAIT")
            outcomes.append("other appender got in")
        except OperationalError as exc:
            outcomes.append(type(exc.orig).__name__)
        return datetime.now(UTC)

    AuditLog(new_engine(), clock=clock_that_tries_to_append).append(EventKind.REQUEST, {})

    assert outcomes == ["readers see 1", "LockNotAvailable"]


def test_threads_appending_through_separate_engines_keep_one_chain(new_engine: OpenEngine) -> None:
    AuditLog(new_engine())
    names = ("t1", "t2", "t3", "t4")
    start = threading.Barrier(len(names))
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            log = AuditLog(new_engine())
            start.wait(timeout=60)
            for i in range(0, 99, 3):  # single appends and pairs, interleaved
                log.append(EventKind.NOTIFICATION, {"i": i}, actor=name)
                log.append_many(
                    NewEvent(kind=EventKind.EXECUTION, payload={"i": n}, actor=name) for n in (i + 1, i + 2)
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    on_sqlite._assert_one_chain_of(AuditLog(new_engine()), dict.fromkeys(names, 99))
