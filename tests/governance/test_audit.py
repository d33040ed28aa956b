"""The audit trail: chain round trip, tamper detection in SQL, queries, concurrency.

Tests run on a new database of each engine: those taking ``db`` (or ``log``) on SQLite through the
driver's fast path, on SQLite through the SQLAlchemy Core path other databases take, and on
PostgreSQL; those taking ``open_engine`` on SQLite and PostgreSQL. The PostgreSQL runs are skipped,
naming what is missing, where no server can run.
"""

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
from functools import cached_property
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

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
from tests.pg.engines import Engines, OpenEngine

_COLUMNS = "seq, event_id, at, thread_id, kind, actor, payload, prev_hash, hash"


def _ticking_clock(start: datetime = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)) -> Callable[[], datetime]:
    ticks = iter(range(10**9))
    return lambda: start + timedelta(milliseconds=next(ticks))


class Database:
    """A new audit database: logs on engines of their own, and SQL on another, as a tamperer's."""

    def __init__(self, open_engine: OpenEngine, *, driver: bool) -> None:
        self.open_engine = open_engine
        self._driver = driver

    def log(self, clock: Callable[[], datetime] | None = None) -> AuditLog:
        return AuditLog(self.open_engine(), clock=clock or _ticking_clock(), driver=self._driver)

    @cached_property
    def _tamperer(self) -> Engine:
        return self.open_engine()

    def sql(self, statement: str, **params: Any) -> list[tuple[Any, ...]]:
        """Run SQL on a connection of its own, the way someone tampering with the table would."""
        with self._tamperer.begin() as conn:
            result = conn.execute(text(statement), params)
            return [tuple(row) for row in result] if result.returns_rows else []

    def row(self, seq: int) -> tuple[Any, ...]:
        return self.sql(f"SELECT {_COLUMNS} FROM audit_events WHERE seq = :seq", seq=seq)[0]

    def event_id_at(self, seq: int) -> str:
        return str(self.row(seq)[1])


@pytest.fixture(
    params=[("sqlite", True), ("sqlite", False), ("postgresql", True)],
    ids=["sqlite-driver", "sqlite-core", "postgresql"],
)
def db(request: pytest.FixtureRequest, engines: Engines) -> Database:
    """SQLite's driver fast path, the Core path other databases take (on SQLite), and PostgreSQL."""
    kind, driver = request.param
    return Database(engines.opener(kind), driver=driver)


@pytest.fixture
def log(db: Database) -> AuditLog:
    return db.log()


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


def test_append_returns_what_was_stored(log: AuditLog, db: Database) -> None:
    event = log.append(
        EventKind.DECISION,
        {"z": 1, "a": "Zürich — ok", "nested": {"b": [1, 2]}},
        thread_id="t-1",
        actor="bob",
    )

    stored = db.row(event.seq)
    assert stored == (
        event.seq,
        event.event_id,
        event.at,
        "t-1",
        "decision",
        "bob",
        '{"a":"Zürich — ok","nested":{"b":[1,2]},"z":1}',
        event.prev_hash,
        event.hash,
    )
    assert event.kind == "decision" and type(event.kind) is str
    assert event.payload == {"a": "Zürich — ok", "nested": {"b": [1, 2]}, "z": 1}
    assert re.fullmatch(r"[0-9a-f]{32}", event.event_id)
    assert event.to_dict()["payload"] == event.payload and event.to_dict()["hash"] == event.hash
    assert log.verify().ok


def test_timestamps_are_utc_iso_with_microseconds(open_engine: OpenEngine) -> None:
    paris = datetime(2026, 11, 2, 11, 30, 0, 5, tzinfo=timezone(timedelta(hours=1)))
    log = AuditLog(open_engine(), clock=lambda: paris)

    event = log.append(EventKind.REQUEST, {})

    assert event.at == "2026-11-02T10:30:00.000005+00:00"
    assert [e.at for e in log.events()] == [event.at]


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


def test_a_new_log_on_an_existing_database_continues_the_chain(log: AuditLog, db: Database) -> None:
    first = _fill(log, 3)

    later = db.log(clock=lambda: datetime.now(UTC)).append(EventKind.RESPONSE, {"text": "done"})

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
        ("thread_id", None),
    ],
)
def test_an_edited_field_is_named_as_the_first_broken_event(
    log: AuditLog, db: Database, column: str, value: str | None
) -> None:
    _fill(log, 10)
    db.sql(f"UPDATE audit_events SET {column} = :value WHERE seq = 5", value=value)

    result = log.verify()

    assert not result.ok
    assert (result.first_broken_seq, result.event_id) == (5, db.event_id_at(5))
    assert result.problem == Problem.EDITED
    assert result.checked == 5


@pytest.mark.parametrize(("deleted", "named"), [(1, 2), (5, 6), (9, 10)])
def test_a_deleted_event_is_reported_at_the_event_after_the_gap(
    log: AuditLog, db: Database, deleted: int, named: int
) -> None:
    _fill(log, 10)
    db.sql("DELETE FROM audit_events WHERE seq = :seq", seq=deleted)

    result = log.verify()

    assert not result.ok
    assert (result.first_broken_seq, result.event_id) == (named, db.event_id_at(named))
    assert result.problem == Problem.MISSING_BEFORE


@pytest.mark.parametrize(("a", "b"), [(4, 7), (4, 5), (1, 10)])
def test_swapped_rows_are_reported_at_the_first_moved_event(
    log: AuditLog, db: Database, a: int, b: int
) -> None:
    _fill(log, 10)
    moved = db.event_id_at(b)
    # Renumbering through a free seq: seq and event_id are unique, so the rows cannot swap in one step.
    db.sql("UPDATE audit_events SET seq = 0 WHERE seq = :a", a=a)
    db.sql("UPDATE audit_events SET seq = :a WHERE seq = :b", a=a, b=b)
    db.sql("UPDATE audit_events SET seq = :b WHERE seq = 0", b=b)

    result = log.verify()

    assert not result.ok
    assert (result.first_broken_seq, result.event_id) == (a, moved)
    assert result.problem == Problem.OUT_OF_ORDER


@pytest.mark.parametrize("forged", [1, 5, 9])
def test_a_row_rewritten_with_its_own_hash_recomputed_is_named(
    log: AuditLog, db: Database, forged: int
) -> None:
    _fill(log, 10)
    seq, event_id, at, thread_id, kind, actor, _, prev_hash, _ = db.row(forged)
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
    db.sql(
        "UPDATE audit_events SET payload = :payload, hash = :hash WHERE seq = :seq",
        payload=payload,
        hash=new_hash,
        seq=forged,
    )

    result = log.verify()

    assert not result.ok
    assert (result.first_broken_seq, result.event_id) == (forged, event_id)
    assert result.problem == Problem.REWRITTEN


def test_a_first_event_not_linked_to_genesis_is_named(log: AuditLog, db: Database) -> None:
    log.append(EventKind.REQUEST, {"text": "hello"})
    seq, event_id, at, thread_id, kind, actor, payload, _, _ = db.row(1)
    fake_prev = "f" * 64
    fields = {"thread_id": thread_id, "kind": kind, "actor": actor, "payload": payload}
    new_hash = event_hash(seq=seq, event_id=event_id, at=at, prev_hash=fake_prev, **fields)
    db.sql(
        "UPDATE audit_events SET prev_hash = :prev, hash = :hash WHERE seq = 1", prev=fake_prev, hash=new_hash
    )

    result = log.verify()

    assert (result.ok, result.first_broken_seq, result.problem) == (False, 1, Problem.NOT_FROM_GENESIS)


def test_tamper_detection_survives_batch_boundaries(log: AuditLog, db: Database) -> None:
    """``verify`` streams the table in batches (through a server-side cursor on PostgreSQL)."""
    log.append_many(NewEvent(kind=EventKind.RETRIEVAL, payload={"i": i}) for i in range(4500))
    db.sql("UPDATE audit_events SET payload = :text WHERE seq = 4321", text='{"i":0}')

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
    log: AuditLog, db: Database
) -> None:
    _fill(log, 10)
    kept = log.head()
    db.sql("DELETE FROM audit_events WHERE seq >= 8")

    assert log.verify().ok  # what the chain alone cannot tell
    result = log.verify(head=kept)

    assert (result.ok, result.first_broken_seq, result.event_id) == (False, 10, None)
    assert result.problem == Problem.HEAD_MISSING
    assert (result.checked, result.head.seq) == (7, 7)


def test_deleted_newest_events_replaced_by_new_ones_do_not_match_the_kept_head(
    log: AuditLog, db: Database
) -> None:
    _fill(log, 10)
    kept = log.head()
    db.sql("DELETE FROM audit_events WHERE seq >= 9")
    replaced = _fill(log, 2)[-1]

    assert log.verify().ok and replaced.seq == 10
    result = log.verify(head=kept)

    assert (result.ok, result.first_broken_seq, result.event_id) == (False, 10, replaced.event_id)
    assert result.problem == Problem.HEAD_CHANGED


def test_the_newest_event_rewritten_with_its_hash_recomputed_does_not_match_the_kept_head(
    log: AuditLog, db: Database
) -> None:
    _fill(log, 5)
    kept = log.head()
    seq, event_id, at, thread_id, kind, actor, _, prev_hash, _ = db.row(5)
    payload = '{"amount":0.0}'
    fields = {"thread_id": thread_id, "kind": kind, "actor": actor, "payload": payload}
    new_hash = event_hash(seq=seq, event_id=event_id, at=at, prev_hash=prev_hash, **fields)
    db.sql(
        "UPDATE audit_events SET payload = :payload, hash = :hash WHERE seq = 5",
        payload=payload,
        hash=new_hash,
    )

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


def test_a_broken_link_is_named_before_the_kept_head_is_checked(log: AuditLog, db: Database) -> None:
    _fill(log, 10)
    kept = log.head()
    db.sql("DELETE FROM audit_events WHERE seq = 4 OR seq >= 9")

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


def test_a_naive_clock_is_refused_and_nothing_is_written(open_engine: OpenEngine) -> None:
    log = AuditLog(open_engine(), clock=datetime.now)

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


def test_recording_collects_what_any_log_appends_in_the_context(open_engine: OpenEngine) -> None:
    first, second = AuditLog(open_engine()), AuditLog(open_engine())
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


def test_two_logs_on_one_database_interleave_into_one_chain(open_engine: OpenEngine) -> None:
    first, second = AuditLog(open_engine()), AuditLog(open_engine())

    for i in range(50):
        first.append(EventKind.DECISION, {"i": i}, actor="first")
        second.append(EventKind.EXECUTION, {"i": i}, actor="second")

    events = list(first.events())
    assert [e.seq for e in events] == list(range(1, 101))
    assert [e.actor for e in events[:4]] == ["first", "second", "first", "second"]
    assert first.verify().ok and second.verify().checked == 100


def _try_to_take_the_append_lock(engine: Engine) -> str:
    """Try, without waiting, what an appender does first; return how it went."""
    if engine.dialect.name == "sqlite":
        assert engine.url.database is not None
        other = sqlite3.connect(engine.url.database, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            return "other appender got in"
        except sqlite3.OperationalError as exc:
            return str(exc)
        finally:
            other.close()
    try:
        with engine.begin() as conn:
            conn.execute(text("LOCK TABLE audit_events IN SHARE ROW EXCLUSIVE MODE NOWAIT"))
        return "other appender got in"
    except OperationalError as exc:
        return type(exc.orig).__name__


LOCKED_OUT = {"sqlite": "database is locked", "postgresql": "LockNotAvailable"}


def test_append_locks_out_other_appenders_but_not_readers(open_engine: OpenEngine) -> None:
    AuditLog(open_engine()).append(EventKind.REQUEST, {})
    other = open_engine()
    outcomes: list[str] = []

    def clock_that_tries_to_append() -> datetime:
        # Runs inside the append's transaction, between reading the head and inserting after it.
        with other.connect() as conn:
            outcomes.append(f"readers see {conn.execute(text('SELECT count(*) FROM audit_events')).scalar()}")
        outcomes.append(_try_to_take_the_append_lock(other))
        return datetime.now(UTC)

    AuditLog(open_engine(), clock=clock_that_tries_to_append).append(EventKind.REQUEST, {})

    assert outcomes == ["readers see 1", LOCKED_OUT[other.dialect.name]]


def test_threads_appending_through_separate_engines_keep_one_chain(open_engine: OpenEngine) -> None:
    AuditLog(open_engine())
    names = ("t1", "t2", "t3", "t4")
    start = threading.Barrier(len(names))
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            log = AuditLog(open_engine())
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
    _assert_one_chain_of(AuditLog(open_engine()), dict.fromkeys(names, 99))


def _append_in_process(db_path: str, name: str, start: Any) -> None:
    log = AuditLog(sqlite_engine(Path(db_path)))
    start.wait(timeout=60)  # a sibling that died at start-up must not leave this one waiting for ever
    for i in range(200):
        log.append(EventKind.EXECUTION, {"i": i, "process": name}, thread_id=name, actor=name)


def test_processes_appending_to_one_sqlite_file_keep_one_chain(tmp_path: Path) -> None:
    db_path = tmp_path / "audit.db"
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
