"""The review page's forms refuse text with a NUL character, as the HTTP API does, on every database.

PostgreSQL text cannot hold a NUL: stored, it would fail in the database and surface as a 500. Pins:
on SQLite and on PostgreSQL, a reason, a comment or an edited argument value with a NUL is refused
with a 422 page naming the field, and nothing is stored (no vote, no audit event of one, the request
still pending); a sign-in token with a NUL is refused like any malformed token (401), never a 500.
"""

from __future__ import annotations

import contextlib
import html
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from agent.api import create_app
from agent.operations import Operations
from governance.approvals import ApprovalStatus
from tests.api.conftest import world_settings
from tests.pg.engines import ENGINES
from tests.web.conftest import csrf_of, sign_in
from tests.web.test_review import form_of

WRITE_OFF = "write off 3 damaged MON-27-4K at AMS-1"  # carol asks, a warehouse manager decides


World = tuple[Operations, Callable[[str], TestClient]]


@pytest.fixture(params=ENGINES)
def world(
    request: pytest.FixtureRequest, tmp_path: Path, systems_template: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[World]:
    """The review page on SQLite, then with every store on PostgreSQL, and a browser per person."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    database = {}
    if request.param == "postgresql":
        database["database_url"] = request.getfixturevalue("pg_databases").create()
    settings = world_settings(tmp_path / "home", systems_template, **database)
    ops = Operations(settings)
    app = create_app(settings, operations=ops, worker=False)
    with contextlib.ExitStack() as browsers:

        def signed_in(person: str) -> TestClient:
            browser = browsers.enter_context(TestClient(app))
            sign_in(browser, ops.create_token(person, expires_in=None).token)
            return browser

        yield ops, signed_in
    ops.close()


def _stuck(ops: Operations, thread: str) -> str:
    """The key of a call a killed process left ``started`` in ``thread`` (what the settle form is for)."""

    def killed() -> str:
        raise KeyboardInterrupt

    key = "k" * 64
    with pytest.raises(KeyboardInterrupt):
        ops.stores.executions.run_once(
            key, tool="itsm_add_work_note", args_digest="d" * 64, thread_id=thread, handler=killed
        )
    return key


def _votes(ops: Operations) -> int:
    return len(ops.audit_query(kinds=["approval_vote"], limit=100).events)


@pytest.mark.parametrize(
    ("action", "changes", "field"),
    [
        ("reject", {"reason": "counted wrong\x00"}, "reason"),
        ("approve", {"comment": "fine\x00"}, "comment"),
        ("edit", {"comment": "\x00"}, "comment"),
        ("edit", {"reason": "dropped from the shelf\x00"}, "reason"),
    ],
)
def test_a_decision_with_a_nul_is_refused_naming_the_field_and_stores_nothing(
    world: World, action: str, changes: dict[str, str], field: str
) -> None:
    ops, signed_in = world
    frank = signed_in("frank.warehouse")
    [request] = ops.send(WRITE_OFF, actor="carol.desk", channel="api").pending
    page = frank.get(f"/approvals/{request.id}").text
    form = form_of(page, request.id, action) if action != "reject" else {"csrf": csrf_of(page)}

    refused = frank.post(f"/approvals/{request.id}/{action}", data={**form, **changes})

    assert refused.status_code == 422, refused.text
    assert f"{field}: a NUL character" in html.unescape(refused.text)
    after = ops.approval(request.id).request
    assert after.status is ApprovalStatus.PENDING and after.votes == () and after.args == request.args
    assert _votes(ops) == 0


@pytest.mark.parametrize(
    ("person", "path", "form", "field", "kinds"),
    [
        ("frank.warehouse", "/approvals/{request}/veto", {"reason": "no\x00"}, "reason", ["veto"]),
        ("dave.incident", "/oversight/pause", {"reason": "drill\x00"}, "reason", ["autonomy_paused"]),
        (
            "carol.desk",
            "/executions/{key}/settle",
            {"status": "failed", "text": "\x00"},
            "text",
            ["execution_settled"],
        ),
    ],
)
def test_every_other_form_refuses_a_nul_naming_the_field(
    world: World, person: str, path: str, form: dict[str, str], field: str, kinds: list[str]
) -> None:
    ops, signed_in = world
    [request] = ops.send(WRITE_OFF, actor="carol.desk", channel="api").pending
    key = _stuck(ops, request.thread_id)
    browser = signed_in(person)
    csrf = csrf_of(browser.get("/oversight" if "oversight" in path else "/").text)

    refused = browser.post(path.format(request=request.id, key=key), data={"csrf": csrf, **form})

    assert refused.status_code == 422 and f"{field}: a NUL character" in html.unescape(refused.text)
    assert ops.audit_query(kinds=kinds, limit=10).events == ()


def test_a_sign_in_token_with_a_nul_is_refused_as_malformed(world: World) -> None:
    ops, signed_in = world
    token = ops.create_token("grace.procure", expires_in=None).token
    browser = signed_in("frank.warehouse")
    browser.cookies.clear()

    form = browser.get("/login")
    refused = browser.post("/login", data={"token": f"{token}\x00", "csrf": csrf_of(form.text), "next": "/"})

    assert refused.status_code == 401 and "Sign-in refused: not an opslayer API token" in refused.text
    [denied] = ops.audit_query(kinds=["access_denied"], limit=10).events
    assert "\x00" not in str(denied.payload)
    assert browser.get("/", follow_redirects=False).status_code == 303  # still signed out
