"""The review page through the ASGI app (no browser): sign-in and its cookie, CSRF, who sees what (URL
guessing gets the 404 of an unknown id), escaping, decisions and their refusals, the records pages."""

from __future__ import annotations

import hashlib
import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from agent.operations import Operations
from agent.web.sessions import SessionStore
from governance.approvals import ApprovalStatus, Nudge
from tests.pg.engines import OpenEngine
from tests.web.conftest import SignIn, csrf_of

HOSTILE = "order 22 laptops for the Berlin office <script>alert('pwned')</script> & <b>bold</b> \u202e"
MONITORS = "order 25 monitors for the Berlin office"


def ask(ops: Operations, text: str, person: str = "alice.requester") -> tuple[str, str]:
    """``person`` asks; the thread and the approval request it waits for."""
    turn = ops.send(text, actor=person, channel="api")
    assert turn.pending, turn.answer
    return turn.thread_id, turn.pending[0].id


def audited(ops: Operations, kind: str, actor: str | None = None) -> list[Any]:
    return list(ops.audit_query(kinds=[kind], actor=actor, limit=500).events)


# --- signing in and out ---------------------------------------------------------------------------


def test_pages_send_a_stranger_to_sign_in_and_back(app: FastAPI, ops: Operations) -> None:
    _, request_id = ask(ops, MONITORS)
    with TestClient(app) as client:
        first = client.get(f"/approvals/{request_id}", follow_redirects=False)
        assert first.status_code == 303
        assert first.headers["location"] == f"/login?next=%2Fapprovals%2F{request_id}"
        form = client.get(first.headers["location"])
        token = ops.create_token("grace.procure", expires_in=None).token
        data = {"token": token, "csrf": csrf_of(form.text), "next": f"/approvals/{request_id}"}
        done = client.post("/login", data=data)
    assert done.url.path == f"/approvals/{request_id}" and request_id in done.text


def test_the_session_cookie_is_httponly_strict_expiring_and_secure_over_https(
    app: FastAPI, ops: Operations
) -> None:
    token = ops.create_token("grace.procure", expires_in=None).token
    for base, secure in (("http://testserver", False), ("https://testserver", True)):
        with TestClient(app, base_url=base) as client:
            form = client.get("/login")
            done = client.post(
                "/login", data={"token": token, "csrf": csrf_of(form.text)}, follow_redirects=False
            )
        cookie = next(c for c in done.headers.get_list("set-cookie") if c.startswith("opslayer_session="))
        attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
        assert done.status_code == 303
        assert {"httponly", "max-age", "path"} <= attributes
        assert "samesite=strict" in cookie.lower()
        assert ("secure" in attributes) is secure
        assert "max-age=43200" in cookie.lower()  # OPSLAYER_WEB_SESSION_HOURS, 12 by default


def test_a_bad_token_is_refused_naming_why_and_audited(app: FastAPI, ops: Operations) -> None:
    with TestClient(app) as client:
        form = client.get("/login")
        refused = client.post("/login", data={"token": "opl_nope", "csrf": csrf_of(form.text)})
    assert refused.status_code == 401
    assert "not an opslayer API token" in refused.text
    assert any("sign-in refused" in e.payload["reason"] for e in audited(ops, "access_denied"))


def test_the_sign_in_form_needs_its_csrf_token(app: FastAPI, ops: Operations) -> None:
    token = ops.create_token("grace.procure", expires_in=None).token
    with TestClient(app) as client:
        client.get("/login")
        refused = client.post("/login", data={"token": token})
        again = client.get("/", follow_redirects=False)
    assert refused.status_code == 403 and "CSRF" in refused.text
    assert again.status_code == 303  # not signed in


def test_signing_out_ends_the_session_everywhere(app: FastAPI, signed_in: SignIn) -> None:
    grace = signed_in("grace.procure")
    cookie = grace.cookies["opslayer_session"]
    out = grace.post("/logout", data={"csrf": csrf_of(grace.get("/").text)}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    with TestClient(app, cookies={"opslayer_session": cookie}) as replayed:
        assert replayed.get("/", follow_redirects=False).status_code == 303


def test_next_never_leads_to_another_site(app: FastAPI, ops: Operations) -> None:
    token = ops.create_token("grace.procure", expires_in=None).token
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"):
        with TestClient(app) as client:
            form = client.get("/login", params={"next": target})
            data = {"token": token, "csrf": csrf_of(form.text), "next": target}
            done = client.post("/login", data=data, follow_redirects=False)
        assert done.headers["location"] == "/", target


def test_sessions_live_in_the_database_and_expire(open_engine: OpenEngine) -> None:
    """On SQLite and PostgreSQL: another process (another engine on the database) sees the session."""
    now = [datetime(2026, 12, 1, 9, tzinfo=UTC)]
    engine = open_engine()
    store = SessionStore(engine, clock=lambda: now[0])
    cookie, session = store.create("grace.procure", lifetime=timedelta(hours=1))
    other_process = SessionStore(open_engine(), clock=lambda: now[0])
    with engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT id_sha256, person FROM web_sessions").all()
    assert stored == [(hashlib.sha256(cookie.encode()).hexdigest(), "grace.procure")]
    assert other_process.get(cookie) == session
    now[0] += timedelta(minutes=59)
    assert store.get(cookie) is not None
    now[0] += timedelta(minutes=1)
    assert store.get(cookie) is None and other_process.get(cookie) is None
    assert store.get("x" * 1000) is None and store.get("") is None
    store.create("heidi.finance", lifetime=timedelta(hours=1))
    now[0] += timedelta(hours=2)
    store.create("mia.audit", lifetime=timedelta(hours=1))  # signing in drops expired rows
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT person FROM web_sessions").scalars().all() == ["mia.audit"]


def test_the_trusted_header_signs_in_only_from_the_proxy(settings: Any, ops: Operations) -> None:
    from agent.api import create_app

    proxied = settings.model_copy(update={"trusted_header": "X-User", "trusted_proxies": ("10.0.0.0/8",)})
    app = create_app(proxied, operations=ops, worker=False)
    with TestClient(app, client=("10.1.2.3", 4000)) as via_proxy:
        done = via_proxy.get("/login", params={"next": "/executions"}, headers={"X-User": "grace.procure"})
        assert done.url.path == "/executions" and "grace.procure" in done.text
        switched = via_proxy.get("/executions", headers={"X-User": "carol.desk"})
        me = re.search(r'data-testid="signed-in-as">(.*?)</span>', switched.text, re.S)
        assert switched.url.path == "/executions" and me is not None and "(carol.desk)" in me.group(1)
    with TestClient(app, client=("192.0.2.7", 4000)) as stranger:
        forged = stranger.get("/login", headers={"X-User": "grace.procure"})
    assert forged.status_code == 401 and "configured proxies" in forged.text


# --- what a person may see ------------------------------------------------------------------------


def test_guessing_someone_elses_ids_gets_the_404_of_an_unknown_id(ops: Operations, signed_in: SignIn) -> None:
    thread, request_id = ask(ops, MONITORS)
    bob = signed_in("bob.requester")
    csrf = csrf_of(bob.get("/").text)
    fake_thread, fake_request = f"t-{'0' * 12}", "APR-00000000"
    guesses = [
        ("GET", "/approvals/{}", request_id, fake_request),
        ("GET", "/approvals/{}?live=1", request_id, fake_request),
        ("POST", "/approvals/{}/approve", request_id, fake_request),
        ("POST", "/approvals/{}/reject", request_id, fake_request),
        ("POST", "/approvals/{}/edit", request_id, fake_request),
        ("GET", "/threads/{}", thread, fake_thread),
    ]
    for method, url, real_id, fake_id in guesses:
        data = {"csrf": csrf, "reason": "no"} if method == "POST" else None
        real = bob.request(method, url.format(real_id), data=data)
        fake = bob.request(method, url.format(fake_id), data=data)
        assert real.status_code == fake.status_code == 404, url
        assert real.text.replace(real_id, "ID") == fake.text.replace(fake_id, "ID"), url
    assert request_id not in bob.get("/", params={"status": "all"}).text
    assert len(audited(ops, "access_denied", "bob.requester")) == 2 * len(guesses)
    assert ops.approval(request_id).request.votes == ()


def test_the_queue_puts_what_you_may_act_on_first_and_filters(ops: Operations, signed_in: SignIn) -> None:
    _, monitors = ask(ops, MONITORS)
    _, write_off = ask(ops, "write off 1 damaged MON-27-4K at AMS-1")
    grace = signed_in("grace.procure")
    page = grace.get("/").text
    mine, _ = page.split('id="others-h"')
    assert monitors in mine and write_off not in page  # a warehouse request grace may not see
    assert re.search(r'data-testid="mine-count">\s*1\s*<', page)
    frank = signed_in("frank.warehouse")
    assert write_off in frank.get("/").text and monitors not in frank.get("/").text
    assert monitors not in grace.get("/", params={"system": "inventory"}).text
    assert monitors in grace.get("/", params={"tool": "procurement_create_purchase_order"}).text
    assert monitors not in grace.get("/", params={"requester": "bob.requester"}).text
    bad = grace.get("/", params={"status": "everything"})
    assert bad.status_code == 422 and "status: one of" in bad.text


def test_a_request_escalated_to_someone_waits_for_them_and_they_may_approve_it(
    ops: Operations, signed_in: SignIn
) -> None:
    _, request_id = ask(ops, MONITORS)
    judy = signed_in("judy.cio")  # no procurement role of her own
    assert request_id not in judy.get("/").text
    at = datetime.now(UTC)
    grant = Nudge(
        request_id=request_id, step="escalate-1", at=at, people=("judy.cio",), grants=("procurement_manager",)
    )
    ops.stores.approvals.nudge(grant)  # what the worker records when it escalates with the right to approve

    mine, _ = judy.get("/").text.split('id="others-h"')
    page = judy.get(f"/approvals/{request_id}").text
    assert request_id in mine and 'id="approve"' in page
    done = judy.post(f"/approvals/{request_id}/approve", data={"csrf": csrf_of(page)})
    assert done.status_code == 200 and ops.approval(request_id).request.status is ApprovalStatus.APPROVED


def test_the_auditor_pages_are_for_auditors(ops: Operations, signed_in: SignIn) -> None:
    ask(ops, MONITORS)
    assert signed_in("grace.procure").get("/audit").status_code == 403
    mia = signed_in("mia.audit")
    page = mia.get("/audit", params={"verify": "1", "kind": "approval_requested"})
    assert page.status_code == 200 and "✓ chain intact" in page.text
    assert f'data-testid="head-seq">{ops.head().seq}<' in page.text
    assert "approval_requested" in page.text


# --- what a request shows -------------------------------------------------------------------------


def test_hostile_text_is_shown_literally(ops: Operations, signed_in: SignIn) -> None:
    thread, request_id = ask(ops, HOSTILE)
    grace = signed_in("grace.procure")
    for url in (f"/approvals/{request_id}", f"/threads/{thread}", "/"):
        page = grace.get(url).text
        assert "<script>alert" not in page and "<b>bold</b>" not in page, url
    page = grace.get(f"/approvals/{request_id}").text
    shown = re.search(r'data-testid="request-text">(.*?)</blockquote>', page, re.S)
    assert shown is not None and html.unescape(shown.group(1)) == HOSTILE.replace("\u202e", "<U+202E>")


def test_the_page_shows_exactly_the_arguments_that_run(ops: Operations, signed_in: SignIn) -> None:
    _, request_id = ask(ops, "order 22 laptops for the Berlin office")
    request = ops.approval(request_id).request
    page = signed_in("grace.procure").get(f"/approvals/{request_id}").text
    shown = re.search(r'data-testid="canonical-json">(.*?)</pre>', page, re.S)
    assert shown is not None
    canonical = html.unescape(shown.group(1))
    assert hashlib.sha256(canonical.encode()).hexdigest() == request.args_digest
    assert f'data-testid="digest">{request.args_digest}<' in page
    assert "30,305.00 EUR" in page and "big-po" in page and "huge-po" in page
    assert request.policy_version in page
    limits = re.search(r'data-testid="limits">(.*?)</table>', page, re.S)
    assert limits is not None and "po-daily-budget" in limits.group(1) and "exceeds it" in limits.group(1)
    assert '<td class="num">0</td><td class="num">10,000</td>' in limits.group(1)  # used now, max
    assert "heidi.finance" in page  # who may still give the finance controller's approval


def test_approving_records_the_vote_from_the_web(ops: Operations, signed_in: SignIn) -> None:
    _, request_id = ask(ops, MONITORS)
    grace = signed_in("grace.procure")
    page = grace.get(f"/approvals/{request_id}")
    done = grace.post(f"/approvals/{request_id}/approve", data={"csrf": csrf_of(page.text), "comment": "ok"})
    request = ops.approval(request_id).request
    assert done.status_code == 200 and "Your approval was recorded" in done.text
    assert request.status is ApprovalStatus.APPROVED
    assert [(v.approver, v.channel, v.comment) for v in request.votes] == [("grace.procure", "web", "ok")]


def test_a_post_without_its_csrf_token_is_refused(ops: Operations, signed_in: SignIn) -> None:
    _, request_id = ask(ops, MONITORS)
    grace = signed_in("grace.procure")
    missing = grace.post(f"/approvals/{request_id}/approve", data={})
    wrong = grace.post(f"/approvals/{request_id}/approve", data={"csrf": "x" * 43})
    assert missing.status_code == wrong.status_code == 403 and "CSRF" in missing.text
    assert ops.approval(request_id).request.votes == ()
    assert len(audited(ops, "access_denied", "grace.procure")) == 2


def test_state_changes_are_post_only(ops: Operations, signed_in: SignIn) -> None:
    _, request_id = ask(ops, MONITORS)
    grace = signed_in("grace.procure")
    assert grace.get(f"/approvals/{request_id}/approve").status_code == 405
    assert grace.get("/logout").status_code == 405


def test_the_requester_cannot_approve_their_own_request(ops: Operations, signed_in: SignIn) -> None:
    _, request_id = ask(ops, MONITORS)
    alice = signed_in("alice.requester")
    page = alice.get(f"/approvals/{request_id}").text
    assert 'id="approve"' not in page and "your own request" in page
    forged = alice.post(f"/approvals/{request_id}/approve", data={"csrf": csrf_of(page)})
    assert forged.status_code == 403
    assert ops.approval(request_id).request.votes == ()
    refused = audited(ops, "approval_vote", "alice.requester")
    assert [e.payload.get("accepted") for e in refused] == [False]


def test_a_rejection_needs_a_reason(ops: Operations, signed_in: SignIn) -> None:
    _, request_id = ask(ops, MONITORS)
    grace = signed_in("grace.procure")
    csrf = csrf_of(grace.get(f"/approvals/{request_id}").text)
    blank = grace.post(f"/approvals/{request_id}/reject", data={"csrf": csrf, "reason": "  "})
    assert blank.status_code == 422 and "A rejection needs a reason" in blank.text  # as a veto's
    assert ops.approval(request_id).request.votes == ()
    done = grace.post(
        f"/approvals/{request_id}/reject", data={"csrf": csrf, "reason": "use the framework deal"}
    )
    request = ops.approval(request_id).request
    assert done.status_code == 200 and request.status is ApprovalStatus.REJECTED
    assert request.votes[0].reason == "use the framework deal"


def test_an_edit_is_validated_by_the_tools_model(ops: Operations, signed_in: SignIn) -> None:
    _, request_id = ask(ops, MONITORS)
    grace = signed_in("grace.procure")
    form = _edit_form(grace, request_id)
    wrong_type = grace.post(f"/approvals/{request_id}/edit", data={**form, "lines.0.quantity": "many"})
    wrong_total = grace.post(f"/approvals/{request_id}/edit", data={**form, "lines.0.quantity": "30"})
    assert wrong_type.status_code == 422 and "lines.0.quantity: a whole number is needed" in wrong_type.text
    assert wrong_total.status_code == 422 and "is not the sum of the lines" in wrong_total.text
    assert 'value="30"' in wrong_total.text  # what was typed stays in the form
    assert ops.approval(request_id).request.votes == ()


def test_an_edit_needing_more_authority_stays_pending_and_says_so(ops: Operations, signed_in: SignIn) -> None:
    _, request_id = ask(ops, MONITORS)
    grace = signed_in("grace.procure")
    form = _edit_form(grace, request_id)
    unit = float(form["lines.0.unit_price"])
    edited = {**form, "lines.0.quantity": "100", "total_amount": f"{100 * unit:.2f}"}
    done = grace.post(f"/approvals/{request_id}/edit", data=edited)
    request = ops.approval(request_id).request
    assert done.status_code == 200
    assert request.status is ApprovalStatus.PENDING and request.args["lines"][0]["quantity"] == 100
    assert "needs more approval than you can give" in done.text and "finance_controller" in done.text
    assert 'data-testid="diff"' in done.text


def _edit_form(client: TestClient, request_id: str) -> dict[str, str]:
    page = client.get(f"/approvals/{request_id}").text
    edit = page[page.index(f'action="/approvals/{request_id}/edit"') :]
    edit = edit[: edit.index("</form>")]
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', edit))
    return {name: html.unescape(value) for name, value in fields.items()}


@pytest.mark.parametrize("path", ["/executions", "/"])
def test_pages_carry_a_content_security_policy_without_inline_scripts(signed_in: SignIn, path: str) -> None:
    page = signed_in("carol.desk").get(path)
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "<script>" not in page.text and "onclick" not in page.text


# --- the records pages ----------------------------------------------------------------------------


def test_a_stuck_execution_is_settled_by_a_settle_role_only(ops: Operations, signed_in: SignIn) -> None:
    thread, _ = ask(ops, MONITORS)

    def killed() -> str:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # a process killed inside the call leaves the row started
        ops.stores.executions.run_once(
            "k" * 64, tool="itsm_add_work_note", args_digest="d" * 64, thread_id=thread, handler=killed
        )
    key = "k" * 64
    assert key not in signed_in("bob.requester").get("/executions").text  # not his thread
    grace = signed_in("grace.procure")  # sees the thread (she may approve in it), may not settle
    page = grace.get("/executions").text
    assert key in page and 'action="/executions/' not in page
    carol = signed_in("carol.desk")
    page = carol.get("/executions").text
    assert key in page and f'action="/executions/{key}/settle"' in page
    refused = grace.post(
        f"/executions/{key}/settle",
        data={"csrf": csrf_of(grace.get("/").text), "status": "failed", "text": "not there"},
    )
    assert refused.status_code == 403 and "settling needs one of the roles" in refused.text
    done = carol.post(
        f"/executions/{key}/settle",
        data={"csrf": csrf_of(page), "status": "failed", "text": "no note in the ticket"},
    )
    assert done.status_code == 200 and "Nothing is stuck" in done.text
    assert ops.execution(key).record.status.value == "failed"


def test_the_queue_pages_through_what_else_you_may_see(
    ops: Operations, signed_in: SignIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.web import review

    monkeypatch.setattr(review, "PAGE", 2)
    monkeypatch.setattr(review, "_BATCH", 2)
    monkeypatch.setattr(review, "_SCAN", 2)
    asked = [ask(ops, MONITORS, person)[1] for person in ("alice.requester", "bob.requester")]
    asked += [ask(ops, "write off 1 damaged MON-27-4K at AMS-1", "carol.desk")[1] for _ in range(3)]
    mia = signed_in("mia.audit")  # an auditor sees everything and may vote on nothing
    seen: list[str] = []
    url = "/"
    for _ in range(10):
        page = mia.get(url).text
        seen += re.findall(r'<tr data-request="(APR-[0-9A-F]{8})"', page)
        following = re.search(r'rel="next" href="([^"]+)"', page)
        if following is None:
            break
        url = html.unescape(following.group(1))
    assert seen == asked


def test_the_limits_show_how_much_is_used(ops: Operations, signed_in: SignIn) -> None:
    thread, first = ask(ops, MONITORS)
    grace = signed_in("grace.procure")
    grace.post(f"/approvals/{first}/approve", data={"csrf": csrf_of(grace.get("/").text)})
    ops.resume(thread)  # what the worker does once the vote made the thread's approvals final
    _, second = ask(ops, "order 22 laptops for the Berlin office")
    limits = re.search(r'data-testid="limits">(.*?)</table>', grace.get(f"/approvals/{second}").text, re.S)
    assert limits is not None and '<td class="num">9,238.75</td><td class="num">10,000</td>' in limits.group(
        1
    )


def test_the_request_shows_what_grounded_it(ops: Operations, signed_in: SignIn) -> None:
    thread, request_id = ask(ops, MONITORS)
    cited = {
        "id": "rb:corpus/runbooks/procurement/urgent-purchase.md#when-to-use",
        "source": "runbooks/procurement/urgent-purchase.md",
        "section": "Urgent purchases > When to use <img src=x>",
        "snippet": "Buy from the framework supplier first.",
    }
    ops.stores.audit.append("retrieval", {"citations": [cited]}, thread_id=thread, actor="alice.requester")
    page = signed_in("grace.procure").get(f"/approvals/{request_id}").text
    assert cited["id"] in page and "Buy from the framework supplier first." in page
    assert "When to use &lt;img src=x&gt;" in page and "<img src=x>" not in page
