"""The review page's oversight parts: a call waiting out its veto window (read plainly, vetoed with a
reason or approved early by an entitled person, refused to anyone else), the impact dashboard and the
oversight page (monitors' trips and autonomy pauses: clear, resume, pause), under a policy with a
veto window, monitors and an autonomy section, and a clock the test moves."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from agent.operations import Operations
from agent.settings import Settings
from agent.worker import Worker
from governance.approvals import ApprovalStatus
from governance.decision import Tier
from governance.executions import ExecutionStatus
from tests.oversight.conftest import NOTE, NOTE_ASKS, PAUSES, VETOES, Clock, KeptNotifier, oversight_policy
from tests.web.conftest import SignIn, csrf_of

HOSTILE = "<script>alert('x')</script> & <b>bold</b>\u202e"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(tmp_path: Path, systems_template: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPSLAYER_OPENAI_API_KEY", raising=False)
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(systems_template, home / "systems.db")
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump(oversight_policy()), encoding="utf-8")
    return Settings(home=home, grounding=False, policy_file=policy, serve_worker=False, _env_file=None)


@pytest.fixture
def ops(settings: Settings, clock: Clock) -> Operations:
    return Operations(settings, clock=clock, notifier=KeptNotifier())


@pytest.fixture
def worker(settings: Settings, ops: Operations, clock: Clock) -> Worker:
    return Worker(settings, operations=ops, worker_id="w1", clock=clock)


def _note(ops: Operations) -> str:
    [request] = ops.send(NOTE, actor=NOTE_ASKS).pending
    assert request.veto_window
    return request.id


def _denials(ops: Operations, person: str) -> list[str]:
    return [
        str(e.payload.get("reason")) for e in ops.audit_events(kinds=["access_denied"]) if e.actor == person
    ]


def _notes_run(ops: Operations, request_id: str) -> list[ExecutionStatus]:
    request = ops.stores.approvals.get(request_id)
    assert request is not None
    return [
        e.status
        for e in ops.executions(thread=request.thread_id)
        if e.tool == "itsm_add_work_note" and not e.key.startswith("notify:")  # not the notification
    ]


# --- veto windows -----------------------------------------------------------------------------------


def test_queue_and_request_page_say_when_the_call_runs_and_who_may_veto(
    ops: Operations, signed_in: SignIn, clock: Clock
) -> None:
    request_id = _note(ops)
    runs_at = ops.approval(request_id).request.expires_at.strftime("%H:%M UTC")
    dave = signed_in(VETOES)

    queue = dave.get("/")
    row = re.search(rf"<tr data-request=\"{request_id}\">.*?</tr>", queue.text, re.S)
    assert row is not None and f"runs at {runs_at} unless vetoed" in row.group(0)

    clock.advance(minutes=5)
    page = dave.get(f"/approvals/{request_id}")
    assert page.status_code == 200
    assert f"Runs at {runs_at} unless vetoed</strong> (in 10 min)" in page.text
    assert "May veto: incident_manager — dave.incident" in page.text
    assert f'action="/approvals/{request_id}/veto"' in page.text and ">Veto</button>" in page.text
    assert ">Approve now</button>" in page.text
    assert "Edit the arguments" not in page.text and ">Reject</button>" not in page.text


def test_an_entitled_person_vetoes_with_a_reason_and_the_call_never_runs(
    ops: Operations, signed_in: SignIn, worker: Worker, clock: Clock
) -> None:
    request_id = _note(ops)
    dave = signed_in(VETOES)
    page = dave.get(f"/approvals/{request_id}")

    vetoed = dave.post(
        f"/approvals/{request_id}/veto",
        data={"csrf": csrf_of(page.text), "reason": HOSTILE},
        follow_redirects=False,
    )
    assert vetoed.status_code == 303 and vetoed.headers["location"] == f"/approvals/{request_id}"
    request = ops.approval(request_id).request
    assert request.status is ApprovalStatus.REJECTED
    [veto] = ops.audit_events(thread=request.thread_id, kinds=["veto"])
    assert veto.actor == VETOES and veto.payload["reason"] == HOSTILE
    assert [v.channel for v in request.votes] == ["web"]

    worker.run_once()
    clock.advance(minutes=30)
    worker.run_once()
    assert _notes_run(ops, request_id) == []
    shown = dave.get(f"/approvals/{request_id}")  # the notice comes from dave's own vote
    assert "You vetoed this call" in shown.text and "✗ rejected" in shown.text
    assert (
        "<script>alert" not in shown.text and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in shown.text
    )
    assert 'data-testid="answer"' in shown.text  # the agent's answer, quoting the reason escaped


def test_a_veto_needs_a_reason_and_a_csrf_token(ops: Operations, signed_in: SignIn) -> None:
    request_id = _note(ops)
    dave = signed_in(VETOES)
    csrf = csrf_of(dave.get(f"/approvals/{request_id}").text)

    empty = dave.post(f"/approvals/{request_id}/veto", data={"csrf": csrf, "reason": "  "})
    assert empty.status_code == 422 and "A veto needs a reason" in empty.text
    forged = dave.post(f"/approvals/{request_id}/veto", data={"reason": "stop"})
    assert forged.status_code == 403 and "CSRF" in forged.text
    assert ops.approval(request_id).request.status is ApprovalStatus.PENDING


def test_nobody_else_sees_a_veto_button_and_a_forged_veto_is_refused(
    ops: Operations, signed_in: SignIn
) -> None:
    request_id = _note(ops)
    carol = signed_in(NOTE_ASKS)  # the requester: sees it, may not veto her own call
    page = carol.get(f"/approvals/{request_id}")
    assert "unless vetoed" in page.text and ">Veto</button>" not in page.text
    assert "This is your own call: it runs when its veto window ends" in page.text
    refused = carol.post(f"/approvals/{request_id}/veto", data={"csrf": csrf_of(page.text), "reason": "no"})
    assert refused.status_code == 403

    frank = signed_in("frank.warehouse")  # may not even see it: the same 404 as an unknown id
    assert frank.get(f"/approvals/{request_id}").status_code == 404
    csrf = csrf_of(frank.get("/").text)
    hidden = frank.post(f"/approvals/{request_id}/veto", data={"csrf": csrf, "reason": "no"})
    assert hidden.status_code == 404
    assert any(request_id in reason for reason in _denials(ops, "frank.warehouse"))
    request = ops.approval(request_id).request
    assert (
        request.status is ApprovalStatus.PENDING
        and ops.audit_events(thread=request.thread_id, kinds=["veto"]) == []
    )


def test_approve_now_ends_the_wait_and_the_page_shows_the_execution(
    ops: Operations, signed_in: SignIn, worker: Worker
) -> None:
    request_id = _note(ops)
    dave = signed_in(VETOES)
    csrf = csrf_of(dave.get(f"/approvals/{request_id}").text)

    approved = dave.post(f"/approvals/{request_id}/approve", data={"csrf": csrf}, follow_redirects=False)
    assert approved.status_code == 303
    assert "before its veto window ended" in ops.approval(request_id).request.status_reason
    worker.run_once()
    page = dave.get(f"/approvals/{request_id}")
    assert _notes_run(ops, request_id) == [ExecutionStatus.COMPLETED]
    assert 'data-testid="execution-status">✓ completed' in page.text and "unless vetoed" not in page.text


def test_a_veto_after_the_window_ended_shows_the_one_outcome(
    ops: Operations, signed_in: SignIn, worker: Worker, clock: Clock
) -> None:
    request_id = _note(ops)
    dave = signed_in(VETOES)
    csrf = csrf_of(dave.get(f"/approvals/{request_id}").text)  # read while the window was open
    clock.advance(minutes=16)
    worker.run_once()  # the window ends: approved, and it runs

    late = dave.post(f"/approvals/{request_id}/veto", data={"csrf": csrf, "reason": "stop"})
    assert late.status_code == 409
    assert 'data-testid="status">✓ approved' in late.text and 'data-testid="error"' in late.text
    assert 'data-testid="execution-status">✓ completed' in late.text  # like any approved request
    request = ops.approval(request_id).request
    assert request.status is ApprovalStatus.APPROVED
    assert ops.audit_events(thread=request.thread_id, kinds=["veto"]) == []
    assert _notes_run(ops, request_id) == [ExecutionStatus.COMPLETED]


# --- the impact dashboard ---------------------------------------------------------------------------


def test_the_dashboard_shows_charts_totals_and_tables_to_whoever_may_read_impact(
    ops: Operations, signed_in: SignIn, worker: Worker, clock: Clock
) -> None:
    _note(ops)
    clock.advance(minutes=16)
    worker.run_once()
    judy = signed_in("judy.cio")  # manages people

    assert 'href="/impact"' in judy.get("/").text
    page = judy.get("/impact?period=week")
    assert page.status_code == 200
    assert re.search(r'<img alt="Calls by tier" src="data:image/svg\+xml;base64,', page.text)
    assert 'id="fig-requests">1<' in page.text
    assert 'data-slice="system"' in page.text and 'data-slice="tool"' in page.text
    assert "itsm_add_work_note" in page.text
    csp = page.headers["content-security-policy"]
    assert "img-src 'self' data:" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "<style" not in page.text  # the report's inline style stays in the report


def test_the_dashboard_is_refused_to_others_and_names_bad_parameters(
    ops: Operations, signed_in: SignIn
) -> None:
    carol = signed_in(NOTE_ASKS)
    assert 'href="/impact"' not in carol.get("/").text
    refused = carol.get("/impact")
    assert refused.status_code == 403 and "impact figures" in refused.text
    assert any("impact" in reason for reason in _denials(ops, NOTE_ASKS))

    mia = signed_in("mia.audit")
    bad = mia.get("/impact", params={"since": "<b>yesterday</b>", "period": "month"})
    assert bad.status_code == 422
    assert "since: not a date or time" in bad.text and "period: one of day, week" in bad.text
    assert "<b>yesterday" not in bad.text
    backwards = mia.get("/impact", params={"since": "2026-12-02", "until": "2026-12-01"})
    assert backwards.status_code == 422 and "before it starts" in backwards.text


# --- the oversight page -----------------------------------------------------------------------------


def _trip(ops: Operations, reason: str) -> str:
    trip = ops.oversight.store.trip(
        monitor="confused-thread",
        scope="thread",
        subject="thread-<i>x</i>",
        tools=("*",),
        tier=Tier.APPROVE,
        approvals=(),
        reason=reason,
        figure=3,
        threshold=3,
    )
    assert trip is not None
    return trip.id


def test_a_pause_is_made_shown_escaped_and_resumed(ops: Operations, signed_in: SignIn) -> None:
    erin = signed_in(PAUSES)
    page = erin.get("/oversight")
    assert (
        page.status_code == 200
        and 'href="/oversight"' in page.text
        and 'data-testid="pause-form"' in page.text
    )

    paused = erin.post(
        "/oversight/pause",
        data={"csrf": csrf_of(page.text), "tool": "itsm_*", "reason": HOSTILE},
        follow_redirects=False,
    )
    assert paused.status_code == 303
    [pause] = ops.oversight.pauses()
    assert pause.tools == ("itsm_*",) and pause.reason == HOSTILE and pause.created_by == PAUSES
    shown = erin.get("/oversight?done=paused")
    assert "Autonomy is paused." in shown.text and "<script>alert" not in shown.text
    assert "&lt;script&gt;" in shown.text and f"Resume {pause.id}" in shown.text

    csrf = csrf_of(shown.text)
    no_reason = erin.post(f"/oversight/{pause.id}/resume", data={"csrf": csrf, "reason": ""})
    assert no_reason.status_code == 422 and "reason: required" in no_reason.text
    resumed = erin.post(f"/oversight/{pause.id}/resume", data={"csrf": csrf, "reason": "fixed"})
    assert resumed.status_code == 200 and "The pause has ended." in resumed.text
    assert ops.oversight.pauses() == []


def test_bad_pauses_are_named_and_nothing_is_paused(ops: Operations, signed_in: SignIn) -> None:
    erin = signed_in(PAUSES)
    csrf = csrf_of(erin.get("/oversight").text)
    for form, problem in (
        ({"tool": "<script>", "reason": "r"}, "tool: a tool name or pattern"),
        ({"tool": "nothing_matches_*", "reason": "r"}, "matches no tool in the catalogue"),
        ({"person": "nobody.here", "reason": "r"}, "person: nobody called"),
        ({"tool": "itsm_*", "reason": " "}, "reason: required"),
    ):
        refused = erin.post("/oversight/pause", data={"csrf": csrf, **form})
        assert refused.status_code == 422 and problem in refused.text, form
    assert ops.oversight.pauses() == []


def test_a_trip_is_shown_escaped_and_cleared_by_a_clear_role(ops: Operations, signed_in: SignIn) -> None:
    trip = _trip(ops, "3 refused calls <img src=x onerror=alert(1)>")
    dave = signed_in(VETOES)  # may clear monitors, may not pause
    page = dave.get("/oversight")
    assert "⚠ tripped × 1" in page.text and f"Clear {trip}" in page.text
    assert "<img src=x" not in page.text and "thread-&lt;i&gt;x&lt;/i&gt;" in page.text
    assert 'data-testid="pause-form"' not in page.text and "Resume " not in page.text

    refused = dave.post("/oversight/pause", data={"csrf": csrf_of(page.text), "reason": "r"})
    assert refused.status_code == 403 and ops.oversight.pauses() == []
    cleared = dave.post(f"/oversight/{trip}/clear", data={"csrf": csrf_of(page.text), "reason": "looked"})
    assert cleared.status_code == 200 and "The trip is cleared." in cleared.text
    assert all(view.trips == () for view in ops.oversight.monitors())
    again = dave.post(f"/oversight/{trip}/clear", data={"csrf": csrf_of(page.text), "reason": "looked"})
    assert again.status_code in (404, 409)


def test_the_oversight_page_is_refused_to_others(ops: Operations, signed_in: SignIn) -> None:
    trip = _trip(ops, "three refused calls")
    carol = signed_in(NOTE_ASKS)
    assert 'href="/oversight"' not in carol.get("/").text
    assert carol.get("/oversight").status_code == 403
    csrf = csrf_of(carol.get("/").text)
    assert carol.post("/oversight/pause", data={"csrf": csrf, "reason": "r"}).status_code == 403
    assert carol.post(f"/oversight/{trip}/clear", data={"csrf": csrf, "reason": "r"}).status_code == 403
    assert ops.oversight.pauses() == [] and ops.oversight.monitors()[0].trips != ()
    assert len(_denials(ops, NOTE_ASKS)) == 3

    erin = signed_in(PAUSES)
    assert erin.post("/oversight/pause", data={"reason": "r"}).status_code == 403  # no CSRF token
    assert (
        erin.post(
            "/oversight/RST-nothere/resume", data={"csrf": csrf_of(erin.get("/").text), "reason": "r"}
        ).status_code
        == 404
    )
