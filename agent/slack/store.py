"""What the Slack app keeps in the governance database, so any number of processes share it.

- ``slack_events``: ids of the events and commands handled (Slack sends an event again when it was
  acknowledged late; the unique key makes the second delivery a no-op in every process).
- ``slack_requests``: digests of the signed requests seen in the last minutes (a request sent again
  with the same signature is a replay).
- ``slack_threads``: one Slack thread (channel, thread ts) is one agent thread.
- ``slack_cards``: every approval card posted (approval id, channel, ts), so all of them are updated.
- ``slack_outbox``: the poster's cursor over the audit trail, its lease, and one row per event it
  posted (claimed before posting: an event is never posted twice, even by two processes; a claim row's
  ``lease_until`` is when it was claimed).
- ``slack_step_up``: single-use links to the review page, stored as sha256 of their secret.
- ``slack_asks``: every message asked of the agent (a mention, a direct message, ``/opslayer``), kept
  until a worker has run its turn: the request process only records it and answers Slack, so nothing
  asked is lost when a process dies, and turns run in whichever worker process leases them.

Event ids, finished asks, spent step-up links and the claims of events the cursor has passed are
forgotten after a retention period (:meth:`SlackStore.forget`, run by the worker): the tables do not grow
with every message, and the text of a message is not kept twice (the audit trail holds what was asked).

SQLAlchemy Core on the engine of the governance stores: SQLite by default, PostgreSQL when configured.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Delete,
    Engine,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Select,
    String,
    Table,
    UniqueConstraint,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from governance.store import create_tables

_metadata = MetaData()

slack_events = Table(
    "slack_events",
    _metadata,
    Column("event_id", String(128), primary_key=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
)

slack_requests = Table(
    "slack_requests",
    _metadata,
    Column("digest", String(64), primary_key=True),
    Column("received_at", DateTime(timezone=True), nullable=False, index=True),
)

slack_threads = Table(
    "slack_threads",
    _metadata,
    Column("thread_id", String(255), primary_key=True),
    Column("channel", String(64), nullable=False),
    Column("thread_ts", String(32), nullable=False),
    UniqueConstraint("channel", "thread_ts", name="uq_slack_threads_place"),
)

slack_cards = Table(
    "slack_cards",
    _metadata,
    Column("approval_id", String(64), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("ts", String(32), nullable=False),
    Column("recipient", String(64), nullable=True),  # the person a direct message went to
    PrimaryKeyConstraint("approval_id", "channel", "ts", name="pk_slack_cards"),
)

slack_outbox = Table(
    "slack_outbox",
    _metadata,
    Column("name", String(32), primary_key=True),  # "cursor", or "seq:<n>" for each event posted
    Column("seq", BigInteger().with_variant(Integer(), "sqlite"), nullable=False),
    Column("leased_by", String(128), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
)

slack_step_up = Table(
    "slack_step_up",
    _metadata,
    Column("secret_sha256", String(64), primary_key=True),
    Column("approval_id", String(64), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=True),
)

slack_asks = Table(
    "slack_asks",
    _metadata,
    Column("ask_id", String(160), primary_key=True),  # the event id ("command:<trigger id>" for commands)
    Column("slack_user", String(64), nullable=False),
    Column("text", String(), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("thread_ts", String(32), nullable=False),
    Column("message_ts", String(32), nullable=True),  # the message to react to (none for a command)
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("thread_id", String(255), nullable=True),  # set when the turn starts
    Column("requests_before", Integer(), nullable=True),  # the thread's requests audited before it
    Column("done_at", DateTime(timezone=True), nullable=True, index=True),
)

_CURSOR = "cursor"
_CLAIM = "seq:"  # the name of an event's claim row: seq:<n>
_FORGET_EVERY = 100  # requests between two clean-ups of the replay table


@dataclass(frozen=True, kw_only=True)
class Card:
    approval_id: str
    channel: str
    ts: str
    recipient: str | None


@dataclass(frozen=True, kw_only=True)
class Place:
    """Where an agent thread lives in Slack."""

    channel: str
    thread_ts: str


@dataclass(frozen=True, kw_only=True)
class Ask:
    """A message asked of the agent in Slack, as recorded when it arrived."""

    ask_id: str
    slack_user: str
    text: str
    place: Place
    message_ts: str | None
    thread_id: str | None = None
    requests_before: int | None = None
    done: bool = False


class StepUpRefused(Exception):
    """A step-up link that leads nowhere: unknown, used already, or expired (the message says which)."""


class SlackStore:
    """The Slack app's tables on ``engine`` (created if missing); times from ``clock``."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self._clock = clock
        self._requests_seen = 0
        create_tables(
            engine,
            slack_events,
            slack_requests,
            slack_threads,
            slack_cards,
            slack_outbox,
            slack_step_up,
            slack_asks,
        )

    # --- deliveries ---------------------------------------------------------------------------------

    def first_delivery(self, event_id: str) -> bool:
        """True the first time ``event_id`` is seen (in any process), False for every later delivery."""
        return self._insert_once(slack_events, event_id=event_id[:128], received_at=self._clock())

    def admit(
        self, timestamp: str, signature: str, *, event_id: str | None, window: timedelta
    ) -> tuple[bool, bool]:
        """One transaction per verified request: (it was never seen before, and its event — if it carries
        one — was never delivered before). A request seen before is a replay; an event seen before is
        a retry Slack sent because the first delivery was acknowledged late. Requests older than
        ``window`` are forgotten now and then (one that old is refused as stale anyway)."""
        now = self._clock()
        digest = hashlib.sha256(f"{timestamp}:{signature}".encode()).hexdigest()
        self._requests_seen += 1
        with self._engine.begin() as conn:
            if self._requests_seen % _FORGET_EVERY == 1:  # not on every request: acknowledging is quick
                conn.execute(delete(slack_requests).where(slack_requests.c.received_at < now - 2 * window))
            if not _insert_ignoring(conn, slack_requests, {"digest": digest, "received_at": now}):
                return False, False
            if event_id is None:
                return True, True
            return True, _insert_ignoring(
                conn, slack_events, {"event_id": event_id[:128], "received_at": now}
            )

    # --- asks ---------------------------------------------------------------------------------------

    def record_ask(self, ask: Ask) -> bool:
        """Keep ``ask`` until its turn is done; False when it was recorded already (a second delivery)."""
        return self._insert_once(
            slack_asks,
            ask_id=ask.ask_id[:160],
            slack_user=ask.slack_user,
            text=ask.text,
            channel=ask.place.channel,
            thread_ts=ask.place.thread_ts,
            message_ts=ask.message_ts,
            received_at=self._clock(),
        )

    def ask(self, ask_id: str) -> Ask | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(slack_asks).where(slack_asks.c.ask_id == ask_id)).first()
        if row is None:
            return None
        return Ask(
            ask_id=row.ask_id,
            slack_user=row.slack_user,
            text=row.text,
            place=Place(channel=row.channel, thread_ts=row.thread_ts),
            message_ts=row.message_ts,
            thread_id=row.thread_id,
            requests_before=row.requests_before,
            done=row.done_at is not None,
        )

    def start_ask(self, ask_id: str, *, thread_id: str, requests_before: int) -> None:
        """Note that the turn of ``ask_id`` is starting in ``thread_id``, which had ``requests_before``
        requests audited: a worker taking the ask over later tells from them whether it got in."""
        self._set_ask(ask_id, thread_id=thread_id, requests_before=requests_before)

    def finish_ask(self, ask_id: str) -> None:
        self._set_ask(ask_id, done_at=self._clock())

    def open_asks(self) -> int:
        """How many asks still wait for their turn (or are in one)."""
        with self._engine.connect() as conn:
            count = conn.execute(
                select(func.count()).select_from(slack_asks).where(slack_asks.c.done_at.is_(None))
            ).scalar()
        return int(count or 0)

    def _set_ask(self, ask_id: str, **values: object) -> None:
        with self._engine.begin() as conn:
            conn.execute(update(slack_asks).where(slack_asks.c.ask_id == ask_id).values(**values))

    def forget(self, before: datetime) -> int:
        """Delete event ids received, asks finished, step-up links expired and event claims made before
        ``before``; how many rows went. Asks still waiting for their turn are kept, however old, and so
        is every claim the cursor has not passed."""
        columns = (
            (slack_events, slack_events.c.received_at),
            (slack_asks, slack_asks.c.done_at),
            (slack_step_up, slack_step_up.c.expires_at),
        )
        with self._engine.begin() as conn:
            gone = sum(
                int(conn.execute(delete(table).where(column < before)).rowcount) for table, column in columns
            )
            return gone + int(conn.execute(_claims_passed(before)).rowcount)

    # --- threads ------------------------------------------------------------------------------------

    def thread_for(self, place: Place, new_id: str) -> str:
        """The agent thread of a Slack thread: the one recorded, else ``new_id`` (recorded now)."""
        if self._insert_once(
            slack_threads, thread_id=new_id, channel=place.channel, thread_ts=place.thread_ts
        ):
            return new_id
        found = self._scalar(
            select(slack_threads.c.thread_id).where(
                slack_threads.c.channel == place.channel, slack_threads.c.thread_ts == place.thread_ts
            )
        )
        assert isinstance(found, str)  # the insert lost to a row with this place
        return found

    def place_of(self, thread_id: str) -> Place | None:
        """The Slack thread an agent thread lives in; None for threads started elsewhere."""
        query = select(slack_threads).where(slack_threads.c.thread_id == thread_id)
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else Place(channel=row.channel, thread_ts=row.thread_ts)

    # --- cards --------------------------------------------------------------------------------------

    def add_card(self, card: Card) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                insert(slack_cards).values(
                    approval_id=card.approval_id, channel=card.channel, ts=card.ts, recipient=card.recipient
                )
            )

    def cards(self, approval_id: str) -> list[Card]:
        query = select(slack_cards).where(slack_cards.c.approval_id == approval_id)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            Card(approval_id=r.approval_id, channel=r.channel, ts=r.ts, recipient=r.recipient) for r in rows
        ]

    # --- the poster's cursor ------------------------------------------------------------------------

    def lease_cursor(self, holder: str, *, start_at: int, lease_for: timedelta) -> int | None:
        """Take (or renew) the poster's lease: the seq to post after, or None while another holds it.

        The first poster ever starts at ``start_at`` (the chain's head: history is not posted)."""
        now = self._clock()
        self._insert_once(slack_outbox, name=_CURSOR, seq=start_at, leased_by=None, lease_until=None)
        free = or_(
            slack_outbox.c.leased_by.is_(None),
            slack_outbox.c.leased_by == holder,
            slack_outbox.c.lease_until <= now,
        )
        with self._engine.begin() as conn:
            taken = conn.execute(
                update(slack_outbox)
                .where(slack_outbox.c.name == _CURSOR, free)
                .values(leased_by=holder, lease_until=now + lease_for)
            ).rowcount
            if not taken:
                return None
            return int(conn.execute(_cursor_seq()).scalar_one())

    def cursor(self) -> int | None:
        """The seq the poster posted up to (None before any poster ran); a read, no lease."""
        with self._engine.connect() as conn:
            found = conn.execute(_cursor_seq()).scalar()
        return None if found is None else int(found)

    def advance_cursor(self, holder: str, seq: int) -> bool:
        """Move the cursor to ``seq``; False when the lease is no longer ``holder``'s."""
        with self._engine.begin() as conn:
            moved = conn.execute(
                update(slack_outbox)
                .where(slack_outbox.c.name == _CURSOR, slack_outbox.c.leased_by == holder)
                .values(seq=seq)
            ).rowcount
        return bool(moved)

    def release_cursor(self, holder: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                update(slack_outbox)
                .where(slack_outbox.c.name == _CURSOR, slack_outbox.c.leased_by == holder)
                .values(leased_by=None, lease_until=None)
            )

    def claim_event(self, seq: int) -> bool:
        """True once per audit event: whoever gets True posts it. The claim outlives the retention
        period, so a poster that lost its lease mid-event cannot post that event again."""
        return self._insert_once(
            slack_outbox, name=f"{_CLAIM}{seq}", seq=seq, leased_by=None, lease_until=self._clock()
        )

    # --- step-up links ------------------------------------------------------------------------------

    def issue_step_up(self, approval_id: str, *, valid_for: timedelta) -> str:
        """A new secret for a single-use link to ``approval_id``; only its hash is stored."""
        secret = secrets.token_urlsafe(32)
        with self._engine.begin() as conn:
            conn.execute(
                insert(slack_step_up).values(
                    secret_sha256=_sha256(secret),
                    approval_id=approval_id,
                    expires_at=self._clock() + valid_for,
                    used_at=None,
                )
            )
        return secret

    def redeem_step_up(self, secret: str) -> str:
        """The approval id of a link, used up by this call; ``StepUpRefused`` naming why otherwise."""
        now = self._clock()
        digest = _sha256(secret)
        with self._engine.begin() as conn:
            row = conn.execute(select(slack_step_up).where(slack_step_up.c.secret_sha256 == digest)).first()
            if row is None:
                raise StepUpRefused("this link is not one opslayer issued")
            if row.used_at is not None:
                raise StepUpRefused("this link was used already: each link opens the review page once")
            if _aware(row.expires_at) <= now:
                raise StepUpRefused("this link has expired")
            used = conn.execute(
                update(slack_step_up)
                .where(slack_step_up.c.secret_sha256 == digest, slack_step_up.c.used_at.is_(None))
                .values(used_at=now)
            ).rowcount
        if not used:  # another request used it between the read and the update
            raise StepUpRefused("this link was used already: each link opens the review page once")
        return str(row.approval_id)

    # --- internals ----------------------------------------------------------------------------------

    def _insert_once(self, table: Table, **values: object) -> bool:
        """Insert a row; False (nothing changed) when its key is there already."""
        with self._engine.begin() as conn:
            return _insert_ignoring(conn, table, values)

    def _scalar(self, query: Select[tuple[str]]) -> object:
        with self._engine.connect() as conn:
            return conn.execute(query).scalar()


def _insert_ignoring(conn: Connection, table: Table, values: dict[str, object]) -> bool:
    """Without a conflict target, DO NOTHING covers every unique key (SQLite and PostgreSQL alike).
    RETURNING tells whether a row went in (psycopg reports no row count for this statement)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    key = next(iter(table.primary_key.columns))
    statement = dialect.insert(table).values(**values).on_conflict_do_nothing().returning(key)
    return conn.execute(statement).first() is not None


def _cursor_seq() -> Select[Any]:
    return select(slack_outbox.c.seq).where(slack_outbox.c.name == _CURSOR)


def _claims_passed(before: datetime) -> Delete:
    """Claims made before ``before`` (or, made before claims had a time, with none) of events at or
    behind the cursor: no poster goes back to those."""
    claimed_before = or_(slack_outbox.c.lease_until < before, slack_outbox.c.lease_until.is_(None))
    passed = slack_outbox.c.seq <= _cursor_seq().scalar_subquery()
    return delete(slack_outbox).where(slack_outbox.c.name.startswith(_CLAIM), claimed_before, passed)


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
