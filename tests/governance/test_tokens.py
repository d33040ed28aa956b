"""API tokens on SQLite and PostgreSQL: shown once, stored as a hash, expiring, revocable.

Pins: the database holds no usable token; a wrong secret for a real id reads as an unknown token;
expiry and revocation are enforced (and told apart only to the holder of the secret); a token
survives a new engine on the same database (another process); lifetimes parse as 90d/12h/30m/2w.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from governance.tokens import (
    ExpiredToken,
    MalformedToken,
    NoSuchToken,
    RevokedToken,
    TokenStore,
    UnknownToken,
    api_tokens,
    parse_lifetime,
)
from tests.pg.engines import OpenEngine


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_a_token_authenticates_its_person_from_another_engine(open_engine: OpenEngine) -> None:
    issued = TokenStore(open_engine()).create("alice.requester", expires_in=timedelta(days=90))

    record = TokenStore(open_engine()).authenticate(issued.token)

    assert issued.token.startswith(f"opl_{issued.record.id}_")
    assert record.person == "alice.requester" and record.id == issued.record.id


def test_only_a_hash_of_the_secret_is_stored(open_engine: OpenEngine) -> None:
    engine = open_engine()
    issued = TokenStore(engine).create("alice.requester", expires_in=None)
    secret = issued.token.split("_", 2)[2]

    with engine.connect() as conn:
        stored = [tuple(str(v) for v in row) for row in conn.execute(select(api_tokens))]

    assert not any(secret in value or issued.token in value for row in stored for value in row)


def test_a_wrong_secret_for_a_real_id_is_an_unknown_token(open_engine: OpenEngine) -> None:
    store = TokenStore(open_engine())
    issued = store.create("alice.requester", expires_in=None)
    forged = f"opl_{issued.record.id}_{'A' * 43}"

    with pytest.raises(UnknownToken) as wrong:
        store.authenticate(forged)
    with pytest.raises(UnknownToken) as missing:
        store.authenticate(f"opl_{'0' * 16}_{'A' * 43}")
    assert str(wrong.value) == str(missing.value)
    for malformed in ("", "Bearer x", "opl_xyz_abc", issued.token + "!"):
        with pytest.raises(MalformedToken):
            store.authenticate(malformed)


def test_expiry_is_enforced(open_engine: OpenEngine) -> None:
    clock = Clock()
    store = TokenStore(open_engine(), clock=clock)
    issued = store.create("alice.requester", expires_in=timedelta(hours=1))

    clock.now += timedelta(minutes=59)
    assert store.authenticate(issued.token).person == "alice.requester"
    clock.now += timedelta(minutes=1)
    with pytest.raises(ExpiredToken):
        store.authenticate(issued.token)


def test_a_revoked_token_never_authenticates_again(open_engine: OpenEngine) -> None:
    store = TokenStore(open_engine())
    issued = store.create("alice.requester", expires_in=None)
    other = store.create("bob.requester", expires_in=None)

    with pytest.raises(NoSuchToken):  # not hers to revoke: as if it did not exist
        store.revoke(other.record.id, by="alice.requester", person="alice.requester")
    revoked, first = store.revoke(issued.record.id, by="alice.requester", person="alice.requester")
    again, second = store.revoke(issued.record.id, by="someone.else")
    assert first and not second

    assert revoked.revoked_by == "alice.requester" and again.revoked_at == revoked.revoked_at
    with pytest.raises(RevokedToken):
        store.authenticate(issued.token)
    assert store.authenticate(other.token).person == "bob.requester"
    assert [r.id for r in store.list(person="alice.requester")] == [issued.record.id]
    with pytest.raises(NoSuchToken):
        store.revoke("0" * 16, by="alice.requester")


@pytest.mark.parametrize(
    ("text", "lifetime"),
    [
        ("90d", timedelta(days=90)),
        ("12h", timedelta(hours=12)),
        ("30m", timedelta(minutes=30)),
        ("2w", timedelta(weeks=2)),
    ],
)
def test_lifetimes(text: str, lifetime: timedelta) -> None:
    assert parse_lifetime(text) == lifetime


@pytest.mark.parametrize("text", ["", "0d", "90", "d", "1y", "-1d", "9999999d"])
def test_bad_lifetimes_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_lifetime(text)
