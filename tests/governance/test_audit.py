"""The audit trail: chain round trip, tamper detection on the raw SQLite file, queries, concurrency."""

from __future__ import annotations

import contextvars
import hashlib
import json
import multiprocessing
import re
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from governance.audit import (
    EMPTY_HEAD,
    GENESIS_HASH,
    AuditEvent,
    AuditLog,
    ChainHead,
    EventKind,
    NewEvent,
    Problem,
    event_hash,
    recording,
)
from governance.store import sqlite_engine

_COLUMNS = "seq, event_id, at, thread_id, kind, actor, payload, prev_hash, hash"


def _ticking_clock(start: datetime = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)) -> Callable[[], datetime]:
    ticks = iter(range(10**9))
    return lambda: start + timedelta(milliseconds=next(ticks))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "audit.db"


@pytest.fixture(params=[True, False], ids=["sqlite-driver", "sqlalchemy-core"])
def log(db_path: Path, request: pytest.FixtureRequest) -> AuditLog:
    """Both append paths: SQLite's driver fast path, and the Core path other databases take."""
    return AuditLog(sqlite_engine(db_path), clock=_ticking_clock(), driver=request.param)


# A fixed cycle of kinds, not ``list(EventKind)``: the seq numbers the tests expect depend on it.
_FILL_KINDS = (
    EventKind.REQUEST,
    EventKind.RETRIEVAL,
    EventKind.DECISION,
    EventKind.APPROVAL_REQUESTED,
    EventKind.APPROVAL_VOTE,
    EventKind.APPROVAL_FINAL,
    EventKind.EXECUTION,
    EventKind.NOTIFICATION,
    EventKind.RESPONSE,
    EventKind.POLICY_LOADED,
    EventKind.ERROR,
)


def _fill(log: AuditLog, n: int = 10) -> list[AuditEvent]:
    kinds = _FILL_KINDS
    return [
        log.append(
            kinds[i % len(kinds)],
            {"step": i, "note": f"event {i}", "amount": i * 12.5},
            thread_id=f"thread-{i % 3}",
            actor="alice.requester" if i % 2 else None,
        )
        for i in range(n)
    ]


def _raw(db_path: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run SQL straight on the file, the way someone tampering with it would."""
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute(sql, params).fetchall()
    conn.close()
    return rows


def _row(db_path: Path, seq: int) -> tuple[Any, ...]:
    return _raw(db_path, f"SELECT {_COLUMNS} FROM audit_events WHERE seq = ?", seq)[0]


def _event_id_at(db_path: Path, seq: int) -> str:
    return str(_row(db_path, seq)[1])


# --- round trip -------------------------------------------------------------------------------------


def test_empty_log_verifies_ok(log: AuditLog) -> None:
    result = log.verify()

    assert result.ok and result.checked == 0
    assert result.first_broken_seq is None and result.event_id is None and result.problem is None


def test_appended_events_form_a_chain_from_genesis_and_verify(log: AuditLog) -> None:
    events = _fill(log, 12)

    assert [e.seq for e in events] == list(range(1, 13))
    assert events[0].prev_hash == GENESIS_HASH
    assert all(later.prev_hash == earlier.hash for earlier, later in pairwise(events))
    assert len({e.event_id for e in events}) == 12
    assert log.verify().ok and log.verify().checked == 12


def test_append_returns_what_was_stored(log: AuditLog, db_path: Path) -> None:
    event = log.append(
        EventKind.DECISION, {"z": 1, "a": "Zürich", "nested": {"b": [1, 2]}}, thread_id="t-1", actor="bob"
    )

    stored = _row(db_path, event.seq)
    assert stored == (
        event.seq,
        event.event_id,
        event.at,
        "t-1",
        "decision",
        "bob",
        '{"a":"Zürich","nested":{"b":[1,2]},"z":1}',
        event.prev_hash,
        event.hash,
    )
    assert event.kind == "decision" and type(event.kind) is str
    assert event.payload == {"a": "Zürich", "nested": {"b": [1, 2]}, "z": 1}
    assert re.fullmatch(r"[0-9a-f]{32}", event.event_id)
    assert event.to_dict()["payload"] == event.payload and event.to_dict()["hash"] == event.hash


def test_timestamps_are_utc_iso_with_microseconds(db_path: Path) -> None:
    paris = datetime(2026, 11, 2, 11, 30, 0, 5, tzinfo=timezone(timedelta(hours=1)))
    log = AuditLog(sqlite_engine(db_path), clock=lambda: paris)

    event = log.append(EventKind.REQUEST, {})

    assert event.at == "2026-11-02T10:30:00.000005+00:00"


def test_hash_is_sha256_of_the_documented_json_array(log: AuditLog) -> None:
    event = log.append(EventKind.REQUEST, {"text": "move 10 SSDs to BER-2 — urgent"}, thread_id="t")
    payload_text = '{"text":"move 10 SSDs to BER-2 — urgent"}'
    fields = [event.seq, event.event_id, event.at, "t", "request", None, payload_text, GENESIS_HASH]

    expected = hashlib.sha256(json.dumps(fields, separators=(",", ":")).encode()).hexdigest()

    assert event.hash == expected
    assert (
        event_hash(
            seq=event.seq,
            event_id=event.event_id,
            at=event.at,
            thread_id="t",
            kind="request",
            actor=None,
            payload=payload_text,
            prev_hash=GENESIS_HASH,
        )
        == expected
    )


def test_a_new_log_on_an_existing_file_continues_the_chain(log: AuditLog, db_path: Path) -> None:
    first = _fill(log, 3)

    later = AuditLog(sqlite_engine(db_path)).append(EventKind.RESPONSE, {"text": "done"})

    assert later.seq == 4 and later.prev_hash == first[-1].hash
    assert log.verify().ok


# --- tamper detection ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("payload", '{"amount":1.0,"note":"event 4","step":4}'),
        ("kind", "approval_final"),
        ("actor", "mallory"),
        ("at", "2026-11-02T09:30:00.000001+00:00"),
        ("thread_id", "thread-9"),
    ],
)
def test_an_edited_field_is_named_as_the_first_broken_event(
    log: AuditLog, db_path: Path, column: str, value: str
) -> None:
    _fill(log, 10)
    _raw(db_path, f"UPDATE audit_events SET {column} = ? WHERE seq = 5", value)

    result = log.verify()

    assert not result.ok
    assert (result.first_broken_seq, result.event_id) == (5, _event_id_at(db_path, 5))
    assert result.problem == Problem.EDITED
    assert result.checked == 5


@pytest.mark.parametrize(("deleted", "named"), [(1, 2), (5, 6), (9, 10)])
def test_a_deleted_event_is_reported_at_the_event_after_the_gap(
    log: AuditLog, db_path: Path, deleted: int, named: int
) -> None:
    _fill(log, 10)
    _raw(db_path, "DELETE FROM audit_events WHERE seq = ?", deleted)

    result = log.verify()

    assert not result.ok
    assert (result.first_broken_seq, result.event_id) == (named, _event_id_at(db_path, named))
    assert result.problem == Problem.MISSING_BEFORE


@pytest.mark.parametrize(("a", "b"), [(4, 7), (4, 5), (1, 10)])
def test_swapped_rows_are_reported_at_the_first_moved_event(
    log: AuditLog, db_path: Path, a: int, b: int
) -> None:
    _fill(log, 10)
    row_a, row_b = _row(db_path, a), _row(db_path, b)
    _raw(db_path, "DELETE FROM audit_events WHERE seq IN (?, ?)", a, b)
    insert = f"INSERT INTO audit_events ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    _raw(db_path, insert, a, *row_b[1:])
    _raw(db_path, insert, b, *row_a[1:])

    result = log.verify()

    assert not result.ok
    assert (result.first_broken_seq, result.event_id) == (a, row_b[1])
    assert result.problem == Problem.OUT_OF_ORDER


@pytest.mark.parametrize("forged", [1, 5, 9])
def test_a_row_rewritten_with_its_own_hash_recomputed_is_named(
    log: AuditLog, db_path: Path, forged: int
) -> None:
    _fill(log, 10)
    seq, event_id, at, thread_id, kind, actor, _, prev_hash, _ = _row(db_path, forged)
    payload = '{"amount":0.0,"note":"nothing happened","step":0}'
    new_hash = event_hash(
        seq=seq,
        event_id=event_id,
        at=at,
        thread_id=thread_id,
        kind=kind,
        actor=actor,
        payload=payload,
        prev_hash=prev_hash,
    )
    _raw(db_path, "UPDATE audit_events SET payload = ?, hash = ? WHERE seq = ?", payload, new_hash, forged)

    result = log.verify()

    assert not result.ok
    assert (result.first_broken_seq, result.event_id) == (forged, event_id)
    assert result.problem == Problem.REWRITTEN


def test_a_first_event_not_linked_to_genesis_is_named(log: AuditLog, db_path: Path) -> None:
    log.append(EventKind.REQUEST, {"text": "hello"})
    seq, event_id, at, thread_id, kind, actor, payload, _, _ = _row(db_path, 1)
    fake_prev = "f" * 64
    fields = {"thread_id": thread_id, "kind": kind, "actor": actor, "payload": payload}
    new_hash = event_hash(seq=seq, event_id=event_id, at=at, prev_hash=fake_prev, **fields)
    _raw(db_path, "UPDATE audit_events SET prev_hash = ?, hash = ? WHERE seq = 1", fake_prev, new_hash)

    result = log.verify()

    assert (result.ok, result.first_broken_seq, result.problem) == (False, 1, Problem.NOT_FROM_GENESIS)


def test_tamper_detection_survives_batch_boundaries(log: AuditLog, db_path: Path) -> None:
    log.append_many(NewEvent(kind=EventKind.RETRIEVAL, payload={"i": i}) for i in range(4500))
    _raw(db_path, "UPDATE audit_events SET payload = ? WHERE seq = 4321", '{"i":0}')

    result = log.verify()

    assert (result.first_broken_seq, result.checked, result.problem) == (4321, 4321, Problem.EDITED)


# --- the head: deletion of the newest events ---------------------------------------------------------


def test_head_is_the_newest_events_seq_and_hash_written_seq_colon_hash(log: AuditLog) -> None:
    assert log.head() == EMPTY_HEAD == ChainHead(seq=0, hash=GENESIS_HASH)

    events = _fill(log, 4)

    assert log.head() == ChainHead(seq=4, hash=events[-1].hash)
    assert str(log.head()) == f"4:{events[-1].hash}"
    assert ChainHead.parse(str(log.head())) == log.head()
    assert ChainHead.parse(f" 4:{events[-1].hash.upper()}\n") == log.head()


def test_deleting_the_newest_events_passes_verify_but_not_verify_against_the_kept_head(
    log: AuditLog, db_path: Path
) -> None:
    _fill(log, 10)
    kept = log.head()
    _raw(db_path, "DELETE FROM audit_events WHERE seq >= 8")

    assert log.verify().ok  # what the chain alone cannot tell
    result = log.verify(head=kept)

    assert (result.ok, result.first_broken_seq, result.event_id) == (False, 10, None)
    assert result.problem == Problem.HEAD_MISSING
    assert (result.checked, result.head.seq) == (7, 7)


def test_deleted_newest_events_replaced_by_new_ones_do_not_match_the_kept_head(
    log: AuditLog, db_path: Path
) -> None:
    _fill(log, 10)
    kept = log.head()
    _raw(db_path, "DELETE FROM audit_events WHERE seq >= 9")
    replaced = _fill(log, 2)[-1]

    assert log.verify().ok and replaced.seq == 10
    result = log.verify(head=kept)

    assert (result.ok, result.first_broken_seq, result.event_id) == (False, 10, replaced.event_id)
    assert result.problem == Problem.HEAD_CHANGED


def test_the_newest_event_rewritten_with_its_hash_recomputed_does_not_match_the_kept_head(
    log: AuditLog, db_path: Path
) -> None:
    _fill(log, 5)
    kept = log.head()
    seq, event_id, at, thread_id, kind, actor, _, prev_hash, _ = _row(db_path, 5)
    payload = '{"amount":0.0}'
    fields = {"thread_id": thread_id, "kind": kind, "actor": actor, "payload": payload}
    new_hash = event_hash(seq=seq, event_id=event_id, at=at, prev_hash=prev_hash, **fields)
    _raw(db_path, "UPDATE audit_events SET payload = ?, hash = ? WHERE seq = 5", payload, new_hash)

    assert log.verify().ok
    result = log.verify(head=kept)

    assert (result.ok, result.first_broken_seq, result.problem) == (False, 5, Problem.HEAD_CHANGED)


def test_an_older_head_still_verifies_as_the_chain_grows(log: AuditLog) -> None:
    kept_empty = log.head()
    _fill(log, 3)
    kept = log.head()
    _fill(log, 4)

    assert log.verify(head=kept).ok and log.verify(head=kept_empty).ok
    assert log.verify(head=kept).head == log.head()


def test_a_broken_link_is_named_before_the_kept_head_is_checked(log: AuditLog, db_path: Path) -> None:
    _fill(log, 10)
    kept = log.head()
    _raw(db_path, "DELETE FROM audit_events WHERE seq = 4 OR seq >= 9")

    result = log.verify(head=kept)

    assert (result.first_broken_seq, result.problem) == (5, Problem.MISSING_BEFORE)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("12", "no ':'"),
        ("x:" + "a" * 64, "'x' is not a sequence number"),
        ("-1:" + "a" * 64, "'-1' is not a sequence number"),
        ("12:abc", "64 hexadecimal characters"),
        ("12:" + "g" * 64, "64 hexadecimal characters"),
        ("0:" + "a" * 64, "64 zeros"),
    ],
)
def test_a_malformed_head_is_refused_naming_the_problem(text: str, named: str) -> None:
    with pytest.raises(ValueError, match=re.escape(named)):
        ChainHead.parse(text)


# --- payload validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [{"when": datetime(2026, 1, 1, tzinfo=UTC)}, {"amount": float("nan")}, {"ids": {1, 2}}, {"s": "\ud800"}],
)
def test_a_payload_that_is_not_json_is_refused_and_nothing_is_written(
    log: AuditLog, payload: dict[str, Any]
) -> None:
    log.append(EventKind.REQUEST, {"ok": True})

    with pytest.raises(TypeError, match="'execution'"):
        log.append(EventKind.EXECUTION, payload, thread_id="t")

    assert [e.kind for e in log.events()] == ["request"]
    assert log.verify().ok


def test_append_many_writes_all_or_nothing(log: AuditLog) -> None:
    good = NewEvent(kind=EventKind.DECISION, payload={"tier": "auto"}, thread_id="t")
    bad = NewEvent(kind=EventKind.APPROVAL_VOTE, payload={"vote": object()}, thread_id="t")

    with pytest.raises(TypeError, match="'approval_vote'"):
        log.append_many([good, good, bad])
    written = log.append_many([good, good])

    assert [e.seq for e in written] == [1, 2] and written[1].prev_hash == written[0].hash
    assert log.append_many([]) == []
    assert log.verify().checked == 2


def test_a_naive_clock_is_refused_and_nothing_is_written(db_path: Path) -> None:
    log = AuditLog(sqlite_engine(db_path), clock=datetime.now)

    with pytest.raises(ValueError, match="timezone-aware"):
        log.append(EventKind.REQUEST, {})

    assert log.tail() == []


# --- queries ------------------------------------------------------------------------------------------


def test_tail_returns_the_last_n_oldest_first(log: AuditLog) -> None:
    events = _fill(log, 10)

    assert [e.seq for e in log.tail(3)] == [8, 9, 10]
    assert log.tail(3) == events[-3:]
    assert [e.seq for e in log.tail(50)] == list(range(1, 11))
    assert [e.seq for e in log.tail()] == list(range(1, 11))


@pytest.mark.parametrize("n", [0, -5])
def test_tail_refuses_a_count_below_one_rather_than_returning_everything(log: AuditLog, n: int) -> None:
    _fill(log, 3)

    with pytest.raises(ValueError, match=f"n={n}"):
        log.tail(n)


def test_tail_filters_by_thread_and_kinds(log: AuditLog) -> None:
    _fill(log, 30)

    by_thread = log.tail(4, thread_id="thread-1")
    by_kinds = log.tail(5, kinds=[EventKind.DECISION, EventKind.EXECUTION])
    both = log.tail(10, thread_id="thread-2", kinds={"request", "decision"})

    assert [e.seq for e in by_thread] == [20, 23, 26, 29]
    assert {e.kind for e in by_kinds} == {"decision", "execution"} and len(by_kinds) == 5
    assert [e.seq for e in by_kinds] == sorted(e.seq for e in by_kinds)
    assert both and all(e.thread_id == "thread-2" and e.kind in {"request", "decision"} for e in both)
    assert [e.seq for e in log.tail(10, kinds="response")] == [9, 20]


def test_events_streams_in_seq_order_with_filters(log: AuditLog) -> None:
    _fill(log, 30)

    assert [e.seq for e in log.events()] == list(range(1, 31))
    assert [e.seq for e in log.events(since_seq=27)] == [28, 29, 30]
    assert all(e.thread_id == "thread-0" for e in log.events(thread_id="thread-0"))
    assert len(list(log.events(thread_id="thread-0"))) == 10
    assert [e.seq for e in log.events(kinds=["policy_loaded"], since_seq=10)] == [21]
    assert list(log.events(thread_id="no-such-thread")) == []


def test_events_reads_past_batch_boundaries(log: AuditLog) -> None:
    log.append_many(NewEvent(kind=EventKind.RETRIEVAL, payload={"i": i}, thread_id="t") for i in range(4500))

    seqs = [e.seq for e in log.events(thread_id="t")]

    assert seqs == list(range(1, 4501))


# --- concurrency ------------------------------------------------------------------------------------


def test_recording_collects_what_any_log_appends_in_the_context(db_path: Path) -> None:
    first, second = AuditLog(sqlite_engine(db_path)), AuditLog(sqlite_engine(db_path))
    first.append(EventKind.REQUEST, {"text": "before"})
    with recording() as recorded:
        first.append(EventKind.REQUEST, {"text": "one"}, thread_id="t")
        second.append_many([NewEvent(kind=EventKind.DECISION, payload={"n": 2}, thread_id="t")])
        context = contextvars.copy_context()  # how LangGraph hands a node to a worker thread
        worker = threading.Thread(
            target=context.run, args=(first.append, EventKind.RESPONSE, {"text": "three"})
        )
        worker.start()
        worker.join()
    first.append(EventKind.REQUEST, {"text": "after"})
    assert [(e.seq, e.kind) for e in recorded] == [(2, "request"), (3, "decision"), (4, "response")]
    assert recorded == list(first.events(since_seq=1))[:3]


def test_two_logs_on_one_file_interleave_into_one_chain(db_path: Path) -> None:
    first, second = AuditLog(sqlite_engine(db_path)), AuditLog(sqlite_engine(db_path))

    for i in range(50):
        first.append(EventKind.DECISION, {"i": i}, actor="first")
        second.append(EventKind.EXECUTION, {"i": i}, actor="second")

    events = list(first.events())
    assert [e.seq for e in events] == list(range(1, 101))
    assert [e.actor for e in events[:4]] == ["first", "second", "first", "second"]
    assert first.verify().ok and second.verify().checked == 100


def test_append_holds_the_write_lock_while_it_reads_the_head(db_path: Path) -> None:
    AuditLog(sqlite_engine(db_path))
    outcomes: list[str] = []

    def clock_that_tries_to_write() -> datetime:
        # Runs inside the append's transaction: another writer must be locked out by now.
        other = sqlite3.connect(db_path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            outcomes.append("other writer got in")
        except sqlite3.OperationalError as exc:
            outcomes.append(str(exc))
        finally:
            other.close()
        return datetime.now(UTC)

    AuditLog(sqlite_engine(db_path), clock=clock_that_tries_to_write).append(EventKind.REQUEST, {})

    assert outcomes == ["database is locked"]


def test_threads_appending_through_separate_engines_keep_one_chain(db_path: Path) -> None:
    AuditLog(sqlite_engine(db_path))
    start = threading.Barrier(2)

    def worker(name: str) -> None:
        log = AuditLog(sqlite_engine(db_path))
        start.wait(timeout=60)
        for i in range(200):
            log.append(EventKind.NOTIFICATION, {"i": i}, actor=name)

    threads = [threading.Thread(target=worker, args=(name,)) for name in ("t1", "t2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    _assert_one_chain_of(AuditLog(sqlite_engine(db_path)), {"t1": 200, "t2": 200})


def _append_in_process(db_path: str, name: str, start: Any) -> None:
    log = AuditLog(sqlite_engine(Path(db_path)))
    start.wait(timeout=60)  # a sibling that died at start-up must not leave this one waiting for ever
    for i in range(200):
        log.append(EventKind.EXECUTION, {"i": i, "process": name}, thread_id=name, actor=name)


def test_processes_appending_to_one_file_keep_one_chain(db_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2)
    procs = [ctx.Process(target=_append_in_process, args=(str(db_path), n, start)) for n in ("p1", "p2")]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
    for proc in procs:
        if proc.is_alive():  # fail the test, do not hang the run
            proc.kill()
            proc.join()

    assert [proc.exitcode for proc in procs] == [0, 0]
    _assert_one_chain_of(AuditLog(sqlite_engine(db_path)), {"p1": 200, "p2": 200})


def _assert_one_chain_of(log: AuditLog, per_actor: dict[str, int]) -> None:
    events = list(log.events())
    counts = {actor: sum(e.actor == actor for e in events) for actor in per_actor}
    assert counts == per_actor
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    for actor in per_actor:
        assert [e.payload["i"] for e in events if e.actor == actor] == list(range(per_actor[actor]))
    result = log.verify()
    assert result.ok and result.checked == sum(per_actor.values())
