"""The audit trail: append-only, hash-chained events keyed by thread id.

Each event stores the hash of the event before it, so editing, deleting or reordering stored rows
breaks the chain and :meth:`AuditLog.verify` names the first broken event. The hash of an event is
``sha256`` of the UTF-8 bytes of the compact JSON array (ASCII escapes)::

    [seq, event_id, at, thread_id, kind, actor, payload, prev_hash]

where ``payload`` is the stored canonical JSON *text*, so a verifier hashes the column as stored and
never re-serialises it. The first event links to :data:`GENESIS_HASH`.

A chain only proves integrity up to its newest event: deleting the newest events, or rewriting the
newest one with its hash recomputed, leaves a shorter chain that is intact. :meth:`AuditLog.head` is
the newest event's seq and hash (a :class:`ChainHead`, written ``SEQ:HASH``); a head kept where the
database's writers cannot change it lets ``verify(head=...)`` notice that the chain no longer holds
that event with that hash.

Appends read the head of the chain and insert inside one write transaction (``BEGIN IMMEDIATE`` on
SQLite, a table lock on PostgreSQL), so several processes can append to one database. Should two
writers ever race anyway, the primary key on ``seq`` makes the second insert fail rather than fork
the chain.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeAlias

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    MetaData,
    Row,
    Select,
    String,
    Table,
    Text,
    func,
    insert,
    select,
)
from sqlalchemy.sql.elements import ColumnElement

from governance.canonical import canonical_json as _canonical
from governance.store import autocommit, create_tables, driver_cursor, immediate, one_writer

GENESIS_HASH = "0" * 64
_log = logging.getLogger("opslayer.audit")
_BATCH = 2000


class EventKind(StrEnum):
    """The kinds of event the project records (any string is accepted; these are the shared ones)."""

    REQUEST = "request"
    RETRIEVAL = "retrieval"
    DECISION = "decision"
    APPROVAL_REQUESTED = "approval_requested"
    APPROVAL_VOTE = "approval_vote"
    APPROVAL_FINAL = "approval_final"
    EXECUTION = "execution"
    EXECUTION_SETTLED = "execution_settled"
    NOTIFICATION = "notification"
    RESPONSE = "response"
    POLICY_LOADED = "policy_loaded"
    ERROR = "error"
    ACCESS_DENIED = "access_denied"
    TOKEN_CREATED = "token_created"
    TOKEN_REVOKED = "token_revoked"
    # oversight over time: veto windows, escalation, monitors, the autonomy kill switch
    VETO_WINDOW = "veto_window"  # a notify-tier call waits its veto window (payload: request_id, ends_at)
    VETO = "veto"  # someone entitled stopped it (payload: request_id, reason)
    APPROVAL_REMINDER = "approval_reminder"
    APPROVAL_ESCALATED = "approval_escalated"
    MONITOR_TRIPPED = "monitor_tripped"
    MONITOR_CLEARED = "monitor_cleared"
    AUTONOMY_PAUSED = "autonomy_paused"
    AUTONOMY_RESUMED = "autonomy_resumed"


class Problem(StrEnum):
    """What :meth:`AuditLog.verify` found wrong with the first broken event."""

    EDITED = "payload or fields edited"
    OUT_OF_ORDER = "event out of order (rows reordered?) or its link to the previous event edited"
    MISSING_BEFORE = "previous event missing (deleted?)"
    REWRITTEN = "event rewritten: its hash no longer matches the next event's link"
    NOT_FROM_GENESIS = "first event does not link to the genesis hash"
    HEAD_MISSING = "the chain ends before the recorded head (newest events deleted?)"
    HEAD_CHANGED = "event does not have the recorded head's hash (rewritten, or deleted and replaced?)"


metadata = MetaData()

audit_events = Table(
    "audit_events",
    metadata,
    # SQLite only aliases the rowid for a column typed exactly INTEGER.
    Column("seq", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("event_id", String(32), nullable=False, unique=True),
    Column("at", Text, nullable=False),
    Column("thread_id", Text, nullable=True, index=True),
    Column("kind", Text, nullable=False),
    Column("actor", Text, nullable=True),
    Column("payload", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    # what one person did, by kind and time: the send rate limit, "my threads", audit queries by person
    Index("ix_audit_events_actor", "actor", "kind", "at"),
    sqlite_autoincrement=True,
)

_c = audit_events.c
_ALL_COLUMNS = (
    _c.seq,
    _c.event_id,
    _c.at,
    _c.thread_id,
    _c.kind,
    _c.actor,
    _c.payload,
    _c.prev_hash,
    _c.hash,
)
_AnyRow: TypeAlias = Row[*tuple[Any, ...]]
_HEAD = select(_c.seq, _c.hash).order_by(_c.seq.desc()).limit(1)
_HASH_ENCODER = json.JSONEncoder(separators=(",", ":"))


@dataclass(frozen=True, kw_only=True, slots=True)
class AuditEvent:
    """One stored event, as written."""

    seq: int
    event_id: str
    at: str
    thread_id: str | None
    kind: str
    actor: str | None
    payload: dict[str, Any]
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, kw_only=True, slots=True)
class NewEvent:
    """An event to append with :meth:`AuditLog.append_many`."""

    kind: str
    payload: Mapping[str, Any]
    thread_id: str | None = None
    actor: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ChainHead:
    """The newest event of a chain: its seq and hash; ``seq=0`` with :data:`GENESIS_HASH` when empty.

    Written and parsed as ``SEQ:HASH`` (``str(head)``, :meth:`parse`).
    """

    seq: int
    hash: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"

    @classmethod
    def parse(cls, text: str) -> ChainHead:
        """``SEQ:HASH`` as printed by ``str(head)``; ValueError naming what is wrong."""
        seq, sep, digest = text.strip().partition(":")
        if not sep:
            raise ValueError(f"{text!r} is not SEQ:HASH (no ':')")
        if not seq.isascii() or not seq.isdigit():
            raise ValueError(f"{seq!r} is not a sequence number (a whole number, 0 or more)")
        digest = digest.lower()
        if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
            raise ValueError("the hash after ':' must be 64 hexadecimal characters (sha256)")
        head = cls(seq=int(seq), hash=digest)
        if head.seq == 0 and head.hash != GENESIS_HASH:
            raise ValueError("sequence number 0 is the empty chain; its hash is 64 zeros")
        return head


EMPTY_HEAD = ChainHead(seq=0, hash=GENESIS_HASH)
"""The head of a chain with no events."""


@dataclass(frozen=True, kw_only=True, slots=True)
class VerifyResult:
    """Outcome of :meth:`AuditLog.verify`; ``checked`` counts the events read.

    ``head`` is the newest intact event read (the empty chain's head if none). When the
    chain lacks the recorded head, ``first_broken_seq`` is the head's seq and ``event_id`` is None.
    """

    ok: bool
    checked: int
    head: ChainHead
    first_broken_seq: int | None = None
    event_id: str | None = None
    problem: str | None = None


def event_hash(
    *,
    seq: int,
    event_id: str,
    at: str,
    thread_id: str | None,
    kind: str,
    actor: str | None,
    payload: str,
    prev_hash: str,
) -> str:
    """The chain hash of an event, ``payload`` being its stored canonical JSON text."""
    return _chain_hash((seq, event_id, at, thread_id, kind, actor, payload, prev_hash))


def _chain_hash(values: tuple[Any, ...]) -> str:
    return hashlib.sha256(_HASH_ENCODER.encode(values).encode()).hexdigest()


def canonical_json(kind: str, payload: Mapping[str, Any]) -> str:
    """The stored form of a payload; TypeError naming ``kind`` when it is not JSON."""
    try:
        text = _canonical(payload)  # lone surrogates fail here, not inside the write transaction
    except (TypeError, ValueError) as exc:
        raise TypeError(f"audit payload for event kind {kind!r} is not JSON-serialisable: {exc}") from exc
    return text


def _utc_now() -> datetime:
    return datetime.now(UTC)


AuditListener: TypeAlias = Callable[[AuditEvent], None]


@dataclass(slots=True)
class _Recording:
    events: list[AuditEvent]
    listener: AuditListener | None
    outer: _Recording | None


_RECORDING: ContextVar[_Recording | None] = ContextVar("opslayer_audit_recording", default=None)


@contextmanager
def recording(listener: AuditListener | None = None) -> Iterator[list[AuditEvent]]:
    """Collect every event appended in this context (by any :class:`AuditLog`), e.g. during one turn.

    Context variables follow LangGraph's nodes into its worker threads, so a turn sees what its
    nodes appended without reading the trail back. The list is in commit order once sorted by ``seq``.
    Recordings nest: an event appended inside an inner recording is collected by the outer ones too.

    ``listener`` is called with each event once it is committed, in the appending thread. An exception
    it raises is logged and ends its calls for this recording; the append and its caller carry on.
    """
    current = _Recording(events=[], listener=listener, outer=_RECORDING.get())
    token = _RECORDING.set(current)
    try:
        yield current.events
    finally:
        _RECORDING.reset(token)


def _record(events: list[AuditEvent]) -> list[AuditEvent]:
    sink = _RECORDING.get()
    while sink is not None:
        sink.events.extend(events)
        if sink.listener is not None:
            _tell(sink, events)
        sink = sink.outer
    return events


def _tell(sink: _Recording, events: list[AuditEvent]) -> None:
    for event in events:
        if sink.listener is None:
            return
        try:
            sink.listener(event)
        except Exception:  # a listener (a closed stream, say) must never fail the append
            _log.exception("audit listener failed on event %s; it gets no further events", event.seq)
            sink.listener = None


class AuditLog:
    """The audit trail stored in ``engine`` (table ``audit_events``, created if missing).

    On SQLite, appends run on the driver's cursor (``driver=False`` forces SQLAlchemy Core, the
    path every other database takes): every agent step appends.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], datetime] = _utc_now,
        driver: bool = True,
        create: bool = True,
    ) -> None:
        """``create=False`` for a trail only read and verified (the engine may be read-only)."""
        self._engine = engine
        self._clock = clock
        # Built once: deriving an option engine costs more than the append itself.
        self._autocommit = autocommit(engine)
        self._driver = driver and engine.dialect.name == "sqlite"
        if create:
            create_tables(engine, audit_events)

    def append(
        self,
        kind: str,
        payload: Mapping[str, Any],
        *,
        thread_id: str | None = None,
        actor: str | None = None,
    ) -> AuditEvent:
        """Append one event in its own transaction."""
        new = NewEvent(kind=kind, payload=payload, thread_id=thread_id, actor=actor)
        return self.append_many([new])[0]

    def append_many(self, events: Iterable[NewEvent]) -> list[AuditEvent]:
        """Append events in order in one transaction; nothing is written if any payload is not JSON."""
        drafts = [(new, canonical_json(new.kind, new.payload)) for new in events]
        if not drafts:
            return []
        if self._driver:
            return self._append_sqlite(drafts)
        with self._write_transaction() as conn:
            head = conn.execute(_HEAD).first()
            sealed = self._seal_all(drafts, head=None if head is None else (head.seq, head.hash))
            conn.execute(insert(audit_events), sealed)
        return _record([_event_from_mapping(row) for row in sealed])

    def head(self) -> ChainHead:
        """The newest event's seq and hash: keep it elsewhere to check the chain against later."""
        with self._engine.connect() as conn:
            row = conn.execute(_HEAD).first()
        return EMPTY_HEAD if row is None else ChainHead(seq=row.seq, hash=row.hash)

    def verify(self, *, head: ChainHead | None = None) -> VerifyResult:
        """Walk the whole chain in seq order; name the first broken event, if any.

        With ``head`` (one :meth:`head` returned earlier), also fail when the chain no longer holds
        that event with that hash: the newest events were deleted, or rewritten. Without it, a
        chain cut short after any event verifies as intact.
        """
        checked, prev, held = 0, None, None
        with self._engine.connect() as conn:
            rows = conn.execution_options(yield_per=_BATCH).execute(select(*_ALL_COLUMNS).order_by(_c.seq))
            for row in rows:
                checked += 1
                broken = _check_link(row, prev)
                if broken is not None:
                    seq, event_id, problem = broken
                    return VerifyResult(
                        ok=False,
                        checked=checked,
                        head=_head_of(prev),
                        first_broken_seq=seq,
                        event_id=event_id,
                        problem=problem,
                    )
                if head is not None and row.seq == head.seq:
                    held = row
                prev = row
        return _against_head(head, held, checked=checked, newest=_head_of(prev))

    def tail(
        self, n: int = 20, *, thread_id: str | None = None, kinds: Collection[str] | None = None
    ) -> list[AuditEvent]:
        """The last ``n`` (at least 1) matching events, oldest first."""
        if n < 1:
            raise ValueError(f"tail needs at least 1 event, got n={n}")
        query = _filtered(select(*_ALL_COLUMNS), thread_id, kinds).order_by(_c.seq.desc()).limit(n)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [_event_from_mapping(row._asdict()) for row in reversed(rows)]

    def events(
        self, *, thread_id: str | None = None, kinds: Collection[str] | None = None, since_seq: int = 0
    ) -> Iterator[AuditEvent]:
        """Matching events with ``seq > since_seq``, oldest first, read in batches."""
        query = _filtered(select(*_ALL_COLUMNS), thread_id, kinds).order_by(_c.seq).limit(_BATCH)
        after = since_seq
        while True:
            # A short read per batch: no connection stays open while the caller consumes events.
            with self._engine.connect() as conn:
                rows = conn.execute(query.where(_c.seq > after)).all()
            yield from (_event_from_mapping(row._asdict()) for row in rows)
            if len(rows) < _BATCH:
                return
            after = rows[-1].seq

    def query(
        self,
        *,
        thread_id: str | None = None,
        kinds: Collection[str] | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after_seq: int = 0,
        limit: int = 50,
    ) -> tuple[list[AuditEvent], int | None]:
        """Up to ``limit`` matching events with ``seq > after_seq``, oldest first, and the ``seq`` to page
        on from (None on the last page); ``since`` included, ``until`` excluded."""
        query = _filtered(select(*_ALL_COLUMNS), thread_id, kinds).where(_c.seq > after_seq)
        query = query.where(*_by(actor, since, until)).order_by(_c.seq).limit(limit + 1)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        events = [_event_from_mapping(row._asdict()) for row in rows[:limit]]
        return events, (events[-1].seq if len(rows) > limit else None)

    def count_recent(self, *, actor: str, kind: str, since: datetime, nth_newest: int) -> datetime | None:
        """When ``actor`` recorded the ``nth_newest`` of their ``kind`` events since ``since``; None when
        there are fewer (what a rate limit needs: one count, at most one single-row read)."""
        recent = [*_by(actor, since, None), _c.kind == kind]
        with self._engine.connect() as conn:
            if conn.execute(select(func.count()).where(*recent)).scalar_one() < nth_newest:
                return None
            at = conn.execute(
                select(_c.at).where(*recent).order_by(_c.seq.desc()).offset(nth_newest - 1).limit(1)
            ).scalar_one()
        return datetime.fromisoformat(at)

    def _append_sqlite(self, drafts: list[tuple[NewEvent, str]]) -> list[AuditEvent]:
        """The SQLite hot path: the same transaction as :meth:`_write_transaction`, on the driver cursor.

        Every agent step appends; SQLAlchemy's statement machinery cost more than the write itself.
        """
        with one_writer(self._autocommit), driver_cursor(self._autocommit) as cursor:
            cursor.execute("BEGIN IMMEDIATE")
            try:
                sealed = self._seal_all(drafts, head=cursor.execute(_HEAD_SQL).fetchone())
                cursor.executemany(_INSERT_SQL, [tuple(row[c] for c in _COLUMN_NAMES) for row in sealed])
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            cursor.execute("COMMIT")
        return _record([_event_from_mapping(row) for row in sealed])

    def _seal_all(
        self, drafts: list[tuple[NewEvent, str]], *, head: tuple[int, str] | None
    ) -> list[dict[str, Any]]:
        """The rows for ``drafts``, chained onto ``head`` (seq, hash of the newest event; None: empty)."""
        seq, prev_hash = head if head is not None else (0, GENESIS_HASH)
        sealed = []
        for new, text in drafts:
            seq += 1
            sealed.append(self._seal(new, text, seq=seq, prev_hash=prev_hash))
            prev_hash = sealed[-1]["hash"]
        return sealed

    def _seal(self, new: NewEvent, payload: str, *, seq: int, prev_hash: str) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "seq": seq,
            "event_id": uuid.uuid4().hex,
            "at": self._timestamp(),
            "thread_id": new.thread_id,
            "kind": str(new.kind),
            "actor": new.actor,
            "payload": payload,
            "prev_hash": prev_hash,
        }
        return {**fields, "hash": event_hash(**fields)}

    def _timestamp(self) -> str:
        now = self._clock()
        if now.utcoffset() is None:
            raise ValueError("the audit clock must return timezone-aware datetimes")
        return _stored_time(now)

    @contextmanager
    def _write_transaction(self) -> Iterator[Connection]:
        if self._engine.dialect.name == "sqlite":
            with immediate(self._autocommit) as conn:
                yield conn
            return
        with self._engine.begin() as conn:
            if self._engine.dialect.name == "postgresql":
                # Blocks other appenders (not readers) until commit, so the head read stays the head.
                conn.exec_driver_sql("LOCK TABLE audit_events IN SHARE ROW EXCLUSIVE MODE")
            yield conn


_COLUMN_NAMES = ("seq", "event_id", "at", "thread_id", "kind", "actor", "payload", "prev_hash", "hash")
_HEAD_SQL = "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1"
_INSERT_SQL = (
    f"INSERT INTO audit_events ({', '.join(_COLUMN_NAMES)}) VALUES ({', '.join('?' * len(_COLUMN_NAMES))})"
)


def _head_of(row: _AnyRow | None) -> ChainHead:
    return EMPTY_HEAD if row is None else ChainHead(seq=row.seq, hash=row.hash)


def _against_head(
    head: ChainHead | None, held: _AnyRow | None, *, checked: int, newest: ChainHead
) -> VerifyResult:
    """The result for an intact chain whose row at ``head.seq`` is ``held`` (None: no such row)."""
    if (
        head is None
        or (head.seq == 0 and head.hash == GENESIS_HASH)
        or (held is not None and held.hash == head.hash)
    ):
        return VerifyResult(ok=True, checked=checked, head=newest)
    return VerifyResult(
        ok=False,
        checked=checked,
        head=newest,
        first_broken_seq=head.seq,
        event_id=None if held is None else held.event_id,
        problem=Problem.HEAD_MISSING if held is None else Problem.HEAD_CHANGED,
    )


def _by(actor: str | None, since: datetime | None, until: datetime | None) -> list[ColumnElement[bool]]:
    conditions = [] if actor is None else [_c.actor == actor]
    if since is not None:
        conditions.append(_c.at >= _stored_time(since))
    if until is not None:
        conditions.append(_c.at < _stored_time(until))
    return conditions


def _stored_time(moment: datetime) -> str:
    """As events store ``at`` (UTC, microseconds), so comparing the text compares the times.

    A bound whose UTC time falls outside the years 1-9999 (``0001-01-01T00:00+14:00``) is before or
    after every event: it is compared as the first or last time there is."""
    try:
        return moment.astimezone(UTC).isoformat(timespec="microseconds")
    except OverflowError:
        early = moment.replace(tzinfo=None) < datetime(2, 1, 1)
        edge = (datetime.min if early else datetime.max).replace(tzinfo=UTC)
        return edge.isoformat(timespec="microseconds")


def _filtered(query: Select[Any], thread_id: str | None, kinds: Collection[str] | None) -> Select[Any]:
    if thread_id is not None:
        query = query.where(_c.thread_id == thread_id)
    if kinds is not None:
        wanted = [kinds] if isinstance(kinds, str) else [str(kind) for kind in kinds]
        query = query.where(_c.kind.in_(wanted))
    return query


def _check_link(row: _AnyRow, prev: _AnyRow | None) -> tuple[int, str, Problem] | None:
    """The first broken event (seq, event_id, problem) visible at ``row``, given the row before it."""
    expected_seq, expected_prev = (1, GENESIS_HASH) if prev is None else (prev.seq + 1, prev.hash)
    seq, event_id, *_, prev_hash, stored_hash = row
    if _chain_hash(tuple(row[:-1])) != stored_hash:
        return seq, event_id, Problem.EDITED if prev_hash == expected_prev else Problem.OUT_OF_ORDER
    if seq != expected_seq:
        return seq, event_id, Problem.MISSING_BEFORE
    if prev_hash == expected_prev:
        return None
    # This row is intact and follows on, so the row before it was rewritten with a fresh hash.
    if prev is None:
        return seq, event_id, Problem.NOT_FROM_GENESIS
    return prev.seq, prev.event_id, Problem.REWRITTEN


def _event_from_mapping(row: Mapping[str, Any]) -> AuditEvent:
    fields = {**row}
    fields["payload"] = json.loads(fields["payload"])
    return AuditEvent(**fields)
