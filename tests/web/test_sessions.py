"""A browser session lives no longer than the API token it was signed in with (revoked or expired: the
next request gets the sign-in page, saying why), sessions stored by an older opslayer count as signed
out, and the navigation offers the audit trail to auditors only."""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Column, Engine, MetaData, String, Table, Text, inspect

from agent.api import create_app
from agent.operations import Operations
from agent.settings import Settings
from agent.web.sessions import SessionStore
from tests.oversight.conftest import Clock
from tests.pg.engines import OpenEngine
from tests.web.conftest import SignIn, csrf_of, sign_in

MONITORS = "order 25 monitors for the Berlin office"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ops(settings: Settings, clock: Clock) -> Operations:
    return Operations(settings, clock=clock)


@pytest.fixture
def app(settings: Settings, ops: Operations, clock: Clock) -> FastAPI:
    """The API and its pages, the sessions on the service's clock (tokens expire by it)."""
    app = create_app(settings, operations=ops, worker=False)
    web = app.state.web
    app.state.web = dataclasses.replace(
        web, sessions=SessionStore(ops.stores.engine, clock=clock), clock=clock
    )
    return app


@pytest.fixture
def browser(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


def _signed_in_with(ops: Operations, browser: TestClient, person: str, **lifetime: float) -> str:
    """Sign ``browser`` in as ``person`` with a new token (``lifetime``: its expiry); the token's id."""
    issued = ops.create_token(person, expires_in=timedelta(**lifetime) if lifetime else None)
    sign_in(browser, issued.token)
    return issued.record.id


def _session_rows(ops: Operations) -> list[tuple[Any, ...]]:
    with ops.stores.engine.connect() as conn:
        return [tuple(row) for row in conn.exec_driver_sql("SELECT person, via, token_id FROM web_sessions")]


def _sent_to_sign_in(browser: TestClient) -> str:
    """The page a GET of the queue ends on, which must be the sign-in form; its text."""
    page = browser.get("/")
    assert page.status_code == 200 and page.url.path == "/login", page.text
    return page.text


# --- #6: the session ends with its token ---------------------------------------------------------


def test_revoking_the_token_signs_its_browser_out_and_its_votes_are_refused(
    ops: Operations, browser: TestClient
) -> None:
    request_id = ops.send(MONITORS, actor="alice.requester", channel="api").pending[0].id
    token_id = _signed_in_with(ops, browser, "grace.procure")
    csrf = csrf_of(browser.get(f"/approvals/{request_id}").text)

    ops.revoke_token(token_id, by="grace.procure")  # as the CLI or the API would: sessions are not told

    page = _sent_to_sign_in(browser)
    assert f"You were signed out: token {token_id} was revoked." in page
    vote = browser.post(f"/approvals/{request_id}/approve", data={"csrf": csrf})
    assert vote.status_code == 401
    assert ops.approval(request_id).request.votes == ()
    assert _session_rows(ops) == [("grace.procure", "token", token_id)]  # kept to say why, never live


def test_a_session_ends_when_its_token_expires(ops: Operations, browser: TestClient, clock: Clock) -> None:
    token_id = _signed_in_with(ops, browser, "frank.warehouse", minutes=1)
    clock.advance(seconds=59)
    assert browser.get("/").url.path == "/"

    clock.advance(seconds=1)

    page = _sent_to_sign_in(browser)
    assert f"You were signed out: token {token_id} expired at" in page


def test_signing_in_again_with_a_live_token_replaces_the_ended_session(
    ops: Operations, browser: TestClient
) -> None:
    old = _signed_in_with(ops, browser, "grace.procure")
    ops.revoke_token(old, by="grace.procure")
    new = _signed_in_with(ops, browser, "grace.procure")
    queue = browser.get("/")
    assert queue.url.path == "/" and "You were signed out" not in queue.text
    assert _session_rows(ops) == [("grace.procure", "token", new)]


def test_a_session_of_another_token_is_not_ended_by_revoking_this_one(
    ops: Operations, browser: TestClient, signed_in: SignIn
) -> None:
    kept = signed_in("grace.procure")
    token_id = _signed_in_with(ops, browser, "grace.procure")
    ops.revoke_token(token_id, by="grace.procure")
    assert kept.get("/").url.path == "/"
    _sent_to_sign_in(browser)


def test_a_session_stored_before_sessions_named_their_token_is_signed_out(
    ops: Operations, browser: TestClient, clock: Clock
) -> None:
    cookie = "an-older-opslayers-cookie"
    later = (clock() + timedelta(hours=1)).isoformat()
    with ops.stores.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO web_sessions (id_sha256, person, csrf, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (
                hashlib.sha256(cookie.encode()).hexdigest(),
                "grace.procure",
                "c" * 43,
                clock().isoformat(),
                later,
            ),
        )
    browser.cookies.set("opslayer_session", cookie)

    page = _sent_to_sign_in(browser)
    assert "You were signed out" in page and "predates" in page
    assert browser.post("/logout", data={"csrf": "c" * 43}, follow_redirects=False).status_code == 303


def test_a_proxy_sign_in_has_no_token_and_stays_signed_in(settings: Settings, ops: Operations) -> None:
    proxied = settings.model_copy(update={"trusted_header": "X-User", "trusted_proxies": ("10.0.0.0/8",)})
    with TestClient(create_app(proxied, operations=ops, worker=False), client=("10.1.2.3", 4000)) as client:
        client.get("/login", headers={"X-User": "heidi.finance"})
        assert client.get("/executions").url.path == "/executions"
    assert _session_rows(ops) == [("heidi.finance", "proxy", None)]


# --- the table: an older one gains the columns, on each engine -----------------------------------


def _older_table(engine: Engine) -> None:
    """``web_sessions`` as the release before token ids made it, with one row."""
    older = Table(
        "web_sessions",
        MetaData(),
        Column("id_sha256", String(64), primary_key=True),
        Column("person", String(64), nullable=False, index=True),
        Column("csrf", String(64), nullable=False),
        Column("created_at", Text, nullable=False),
        Column("expires_at", Text, nullable=False),
    )
    older.create(engine)
    with engine.begin() as conn:
        conn.execute(
            older.insert().values(
                id_sha256=hashlib.sha256(b"older-cookie").hexdigest(),
                person="grace.procure",
                csrf="c" * 43,
                created_at="2026-12-01T09:00:00.000000+00:00",
                expires_at="2026-12-01T21:00:00.000000+00:00",
            )
        )


def test_an_older_sessions_table_gains_the_columns_and_its_rows_count_as_signed_out(
    open_engine: OpenEngine,
) -> None:
    """Several processes starting together on the older table: each opens it, none fails."""
    first = open_engine()
    _older_table(first)
    engines = [first, *(open_engine() for _ in range(4))]
    start = threading.Barrier(len(engines))
    errors: list[Exception] = []
    stores: list[SessionStore] = []
    now = datetime(2026, 12, 1, 10, tzinfo=UTC)

    def open_store(engine: Engine) -> None:
        start.wait(timeout=60)
        try:
            stores.append(SessionStore(engine, clock=lambda: now))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_store, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert {"via", "token_id"} <= {column["name"] for column in inspect(first).get_columns("web_sessions")}
    store = stores[0]
    assert store.get("older-cookie") is None
    assert "predates" in (store.ended("older-cookie") or "")
    cookie, session = store.create("heidi.finance", lifetime=timedelta(hours=1))  # no token: a proxy's
    assert stores[-1].get(cookie) == session and store.ended(cookie) is None


# --- #11: the audit trail is in the navigation of auditors only ----------------------------------


def test_only_auditors_are_offered_the_audit_trail(ops: Operations, signed_in: SignIn) -> None:
    for person in ("grace.procure", "heidi.finance", "alice.requester"):
        queue = signed_in(person).get("/")
        assert queue.status_code == 200 and 'href="/audit"' not in queue.text, person
    assert 'href="/audit"' in signed_in("mia.audit").get("/").text
    assert list(ops.audit_query(kinds=["access_denied"], limit=50).events) == []
