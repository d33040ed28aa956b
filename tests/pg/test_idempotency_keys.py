"""The API's idempotency keys (``governance.idempotency``) on each engine, PostgreSQL included.

Pins: of sends claiming one key at once through their own engines (as processes would), exactly one
gets the claim and the others are told it is in use, naming its thread; the kept answer is what every
later claim gets; a released key and a key past its retention can be claimed anew; the key on another
request is refused; two people's keys never meet.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from governance.idempotency import Answer, Claim, IdempotencyKeys, KeyInUse, KeyReused
from tests.pg.engines import OpenEngine

RETENTION = timedelta(hours=24)
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def keys(engine: Engine, now: datetime = START) -> IdempotencyKeys:
    return IdempotencyKeys(
        engine, clock=lambda: now, retention=RETENTION, abandoned_after=timedelta(minutes=1)
    )


def test_of_sends_claiming_one_key_at_once_exactly_one_claims_it(open_engine: OpenEngine) -> None:
    stores = [keys(open_engine()) for _ in range(8)]
    start = threading.Barrier(len(stores))
    outcomes: list[Claim | Answer | Exception] = []

    def claim(store: IdempotencyKeys, n: int) -> None:
        start.wait(timeout=60)
        try:
            outcomes.append(
                store.claim("alice.requester", "k-1", fingerprint="f" * 64, thread_id=f"t-{n:012d}")
            )
        except Exception as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=claim, args=(store, n)) for n, store in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    [claimed] = [o for o in outcomes if isinstance(o, Claim)]
    in_use = [o for o in outcomes if isinstance(o, KeyInUse)]
    assert len(in_use) == len(stores) - 1, outcomes
    assert {o.thread_id for o in in_use} == {claimed.thread_id} and not any(o.abandoned for o in in_use)


def test_a_kept_answer_is_what_every_later_claim_gets(open_engine: OpenEngine) -> None:
    first, other = keys(open_engine()), keys(open_engine())
    claim = first.claim("alice.requester", "k-2", fingerprint="a" * 64, thread_id="t-000000000001")
    assert isinstance(claim, Claim)

    first.finish(claim, status=201, body='{"answer": "Done. \\u00e9"}')
    again = other.claim("alice.requester", "k-2", fingerprint="a" * 64, thread_id="t-000000000002")

    assert again == Answer(status=201, body='{"answer": "Done. \\u00e9"}', thread_id="t-000000000001")
    with pytest.raises(KeyReused, match="different request"):
        other.claim("alice.requester", "k-2", fingerprint="b" * 64, thread_id="t-000000000003")
    assert isinstance(other.claim("bob.requester", "k-2", fingerprint="b" * 64, thread_id="t-3"), Claim)


def test_a_released_key_and_one_past_its_retention_are_claimed_anew(open_engine: OpenEngine) -> None:
    engine = open_engine()
    store = keys(engine)
    released = store.claim("alice.requester", "k-3", fingerprint="a" * 64, thread_id="t-1")
    kept = store.claim("alice.requester", "k-4", fingerprint="a" * 64, thread_id="t-2")
    assert isinstance(released, Claim) and isinstance(kept, Claim)
    store.release(released)
    store.finish(kept, status=200, body="{}")

    anew = store.claim("alice.requester", "k-3", fingerprint="a" * 64, thread_id="t-3")
    within = keys(engine, START + RETENTION).claim(
        "alice.requester", "k-4", fingerprint="a" * 64, thread_id="t-4"
    )
    past = keys(engine, START + RETENTION + timedelta(seconds=1))
    expired = past.claim("alice.requester", "k-4", fingerprint="a" * 64, thread_id="t-5")

    assert isinstance(anew, Claim) and anew.thread_id == "t-3"
    assert isinstance(within, Answer) and within.thread_id == "t-2"
    assert isinstance(expired, Claim) and expired.thread_id == "t-5"


def test_a_claim_older_than_a_live_send_is_told_apart(open_engine: OpenEngine) -> None:
    engine = open_engine()
    keys(engine).claim("alice.requester", "k-5", fingerprint="a" * 64, thread_id="t-1")

    with pytest.raises(KeyInUse) as running:
        keys(engine, START + timedelta(seconds=59)).claim(
            "alice.requester", "k-5", fingerprint="a" * 64, thread_id="t-2"
        )
    with pytest.raises(KeyInUse) as abandoned:
        keys(engine, START + timedelta(minutes=2)).claim(
            "alice.requester", "k-5", fingerprint="a" * 64, thread_id="t-3"
        )

    assert not running.value.abandoned and running.value.since == START
    assert abandoned.value.abandoned and "may have stopped" in str(abandoned.value)
