"""Veto windows in Slack, and oversight notifications through the Slack notifier, against the stand-in.

Pins: a notify-tier call waiting out its veto window is announced by a card (what will run, "runs at
HH:MM UTC unless vetoed", a Veto button carrying the request id only) to the people ``veto_by`` names,
and not also as a plain message; the entitled person's Veto opens a modal asking why, and the veto
lands with their verified identity: the call never runs, the cards say who vetoed, the requester's
thread hears the reason and then the agent's continuation. A Veto click by someone not entitled, by
the requester, or after the window ended is answered ephemerally and changes nothing; when the window
ends the call runs once and the cards say so. Reminders, escalations and monitor trips reach people
by direct message, and channels, through the Slack notifier.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.slack.cards import read_value
from agent.wiring import governance_engine
from agent.worker import Worker
from evals.slack_standin import Call, SlackStandIn, click, mention, submission
from governance.approvals import ApprovalStatus
from governance.audit import AuditLog, EventKind
from governance.executions import ExecutionRecord
from tests.oversight.conftest import WRITE_OFF, Clock, oversight_policy
from tests.slack.conftest import ALICE, World, make_world
from tests.slack.test_flows import cards_of, dm, replies_in

NOTE = "add a note to INC0010047 saying the fix is deployed"  # notify tier, 15-minute veto window
DAVE, BOB = "U0DAVE01", "U0BOB01"  # dave.incident holds incident_manager; bob.requester no role


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def veto_world(
    tmp_path: Path,
    systems_template: Path,
    standin: tuple[SlackStandIn, str],
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[World]:
    """The oversight test policy (a 15-minute veto window on work notes, escalating write-offs, a
    monitor that also tells #ops-alerts), the operations service on the test's clock and no notifier
    of its own (the settings' Slack one), no worker in the app: the test runs one."""
    policy = oversight_policy()
    policy["monitors"][0]["notify"].append("#ops-alerts")
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(yaml.safe_dump(policy), encoding="utf-8")
    yield from make_world(
        tmp_path, systems_template, standin, monkeypatch, worker=False, clock=clock, policy_file=policy_file
    )


def worker_pass(world: World, clock: Clock) -> None:
    Worker(world.settings, operations=world.ops, worker_id="w1", clock=clock).run_once()


def ask_note(world: World) -> tuple[str, Call]:
    """ALICE asks for the work note in #ops; (thread ts, the veto card dave gets)."""
    ts = world.next_ts()
    world.event(mention(ALICE, NOTE, ts=ts))
    Worker(world.settings, operations=world.ops, worker_id="w0", clock=world.ops.now).run_once()  # the turn
    [card] = world.slack.wait_for(lambda s: cards_of(s))
    return ts, card


def card_ts(world: World, card: Call) -> str:
    """The ts the stand-in gave the card when it was posted."""
    return f"1700000000.{world.slack.calls.index(card) + 1:06d}"


def buttons(call: Call) -> list[dict[str, Any]]:
    return [e for b in call.blocks if b.get("type") == "actions" for e in b["elements"]]


def notes(world: World) -> list[ExecutionRecord]:
    """Work notes executed (the ledger also keys each announcement, as ``notify:…``)."""
    return [
        e
        for e in world.ops.executions()
        if e.tool == "itsm_add_work_note" and not e.key.startswith("notify:")
    ]


def notes_in_itsm(world: World) -> list[str]:
    """The work notes the ITSM system holds on the incident that say what was asked."""
    incident = world.ops.systems.itsm.get_incident("INC0010047")
    return [n.text for n in incident.work_notes if "the fix is deployed" in n.text]


def ephemerals_to(slack: SlackStandIn, user: str) -> list[Call]:
    return [c for c in slack.of("chat.postEphemeral") if c.params["user"] == user]


def test_the_entitled_person_vetoes_from_the_card_and_the_call_never_runs(
    veto_world: World, clock: Clock
) -> None:
    world = veto_world
    ts, card = ask_note(world)
    [request] = world.ops.approvals(status=ApprovalStatus.PENDING)
    assert card.params["channel"] == DAVE  # the one incident manager, by direct message
    assert f"Runs at {request.expires_at:%H:%M} UTC unless vetoed" in card.text
    assert "INC0010047" in card.text and "the fix is deployed" in card.text
    assert [(b["text"]["text"], b["value"]) for b in buttons(card)][:2] == [
        ("Veto", request.id),
        ("Run now", f"{request.id}:{request.args_digest}"),
    ]
    worker_pass(world, clock)  # the oversight pass announces the window: in Slack, the card is it
    assert not [c for c in world.slack.of("chat.postMessage") if "is about to run" in c.text]

    world.interact(click(DAVE, "veto", request.id, channel=dm(DAVE)))
    [opened] = world.slack.wait_for(lambda s: s.of("views.open"))
    view = opened.params["view"]
    assert view["callback_id"] == "veto_reason" and request.id in str(view["blocks"][0])
    blank = world.interact(submission(DAVE, view, {"reason": " "}))
    done = world.interact(submission(DAVE, view, {"reason": "wait for the <!channel> change review"}))

    assert blank.json()["response_action"] == "errors" and "reason" in blank.json()["errors"]
    assert done.status_code == 200 and not done.content
    final = world.ops.approval(request.id).request
    assert final.status is ApprovalStatus.REJECTED and [v.approver for v in final.votes] == ["dave.incident"]
    [veto] = world.ops.audit_events(kinds=[EventKind.VETO])
    assert veto.actor == "dave.incident" and veto.payload["reason"] == "wait for the <!channel> change review"
    told = world.slack.wait_for(
        lambda s: [c for c in replies_in(s, ts) if "Vetoed by dave.incident" in c.text]
    )
    assert "wait for the <!channel> change review" in told[0].text
    assert "&lt;!channel&gt;" in told[0].params["text"]  # shown literally, no @channel
    [updated] = world.slack.wait_for(
        lambda s: [u for u in s.of("chat.update") if "Vetoed by dave.incident" in u.text]
    )
    assert (updated.params["channel"], updated.params["ts"]) == (dm(DAVE), card_ts(world, card))
    assert not buttons(updated)  # the outcome card has no buttons

    replies = len(replies_in(world.slack, ts))
    worker_pass(world, clock)  # resumes the thread: the agent is told of the veto
    world.slack.wait_for(lambda s: len(replies_in(s, ts)) > replies)
    clock.advance(minutes=30)
    worker_pass(world, clock)
    assert notes(world) == [] and notes_in_itsm(world) == []


def test_a_veto_click_by_someone_not_entitled_is_refused_and_nothing_changes(veto_world: World) -> None:
    world = veto_world
    _, card = ask_note(world)
    request_id = buttons(card)[0]["value"]

    world.interact(click(BOB, "veto", request_id, channel="C0OPS"))
    world.interact(click(ALICE, "veto", request_id, channel="C0OPS"))  # the requester
    world.interact(click("U0NOBODY99", "veto", request_id, channel="C0OPS"))

    [bob] = world.slack.wait_for(lambda s: ephemerals_to(s, BOB))
    [alice] = world.slack.wait_for(lambda s: ephemerals_to(s, ALICE))
    [stranger] = world.slack.wait_for(lambda s: ephemerals_to(s, "U0NOBODY99"))
    assert f"only people holding incident_manager may veto {request_id}" in bob.text
    assert "asked for this call and cannot veto it" in alice.text
    assert "not in opslayer's directory" in stranger.text
    world.settle()
    assert world.slack.of("views.open") == []
    request = world.ops.approval(request_id).request
    assert request.status is ApprovalStatus.PENDING and request.votes == ()
    refused = world.ops.audit_events(kinds=[EventKind.ACCESS_DENIED])
    assert {e.actor for e in refused if e.payload.get("action") == "veto"} == {
        "bob.requester",
        "alice.requester",
    }


def test_after_the_window_a_veto_is_refused_and_the_call_runs_once(veto_world: World, clock: Clock) -> None:
    world = veto_world
    ts, card = ask_note(world)
    request_id = buttons(card)[0]["value"]
    world.interact(click(DAVE, "veto", request_id, channel=dm(DAVE)))
    [opened] = world.slack.wait_for(lambda s: s.of("views.open"))

    clock.advance(minutes=15)  # the window is over; no worker has settled it yet
    late = world.interact(submission(DAVE, opened.params["view"], {"reason": "too late"}))
    world.interact(click(DAVE, "veto", request_id, channel="C0OPS"))  # another body: not a replay

    # refused whether or not reading it settled it first ("ended at …" or "is over: …")
    assert f"Not recorded: the veto window of {request_id}" in late.json()["errors"]["reason"]
    [refusal] = world.slack.wait_for(lambda s: ephemerals_to(s, DAVE))
    assert f"Not recorded: the veto window of {request_id}" in refusal.text
    assert world.ops.approval(request_id).request.votes == ()
    assert len(world.slack.of("views.open")) == 1

    worker_pass(world, clock)  # approves it as its window ended, and runs the call
    [note] = notes(world)
    assert note.status.value == "completed"
    world.slack.wait_for(lambda s: [u for u in s.of("chat.update") if "Nobody vetoed it" in u.text])
    world.slack.wait_for(lambda s: [c for c in replies_in(s, ts) if "Nobody vetoed it" in c.text])
    world.interact(click(DAVE, "veto", request_id, channel="C0INCIDENTS"))
    world.slack.wait_for(lambda s: [c for c in ephemerals_to(s, DAVE) if "is over" in c.text])
    worker_pass(world, clock)
    assert len(notes(world)) == 1 and len(notes_in_itsm(world)) == 1
    assert world.ops.approval(request_id).request.status is ApprovalStatus.APPROVED


def test_reminders_escalations_and_monitor_trips_reach_people_in_slack(
    veto_world: World, clock: Clock
) -> None:
    world = veto_world
    [request] = world.ops.send(WRITE_OFF, actor="carol.desk").pending  # ivan.ops may approve
    clock.advance(minutes=30)
    worker_pass(world, clock)  # reminds ivan.ops
    clock.advance(minutes=30)
    worker_pass(world, clock)  # escalates to dave.incident
    trail = AuditLog(governance_engine(world.settings), clock=clock)
    for _ in range(3):  # a confused thread: three refused calls in the monitor's window
        payload = {"stage": "plan", "tool": "itsm_add_work_note", "tier": "deny", "reasons": ["x"]}
        trail.append(EventKind.DECISION, payload, thread_id="t-confused", actor="bob.requester")
    worker_pass(world, clock)

    posts = world.slack.of("chat.postMessage")
    ivan = [c for c in posts if c.params["channel"] == "U0IVAN01" and "waiting for your decision" in c.text]
    dave = [c for c in posts if c.params["channel"] == DAVE]
    assert len(ivan) == 1 and request.id in ivan[0].text
    assert [c for c in dave if "was escalated to you" in c.text and request.id in c.text]
    alerts = [c for c in posts if c.params["channel"] == "#ops-alerts"]
    assert [c for c in dave if "monitor confused-thread tripped" in c.text]
    assert [c.text for c in alerts] == [c.text for c in dave if "monitor confused-thread tripped" in c.text]


def test_run_now_ends_the_wait_for_the_entitled_only(veto_world: World, clock: Clock) -> None:
    world = veto_world
    ts, card = ask_note(world)
    run_now = buttons(card)[1]["value"]
    request_id = read_value(run_now)[0]

    world.interact(click(BOB, "approve", run_now, channel="C0OPS"))
    [refusal] = world.slack.wait_for(lambda s: ephemerals_to(s, BOB))
    assert "may not end this veto window" in refusal.text
    assert world.ops.approval(request_id).request.status is ApprovalStatus.PENDING

    world.interact(click(DAVE, "approve", run_now, channel=dm(DAVE)))
    world.slack.wait_for(
        lambda s: [u for u in s.of("chat.update") if "Run now by dave.incident" in u.text and not buttons(u)]
    )
    worker_pass(world, clock)  # inside the window: it runs now, once
    assert [n.status.value for n in notes(world)] == ["completed"]
    world.slack.wait_for(lambda s: [c for c in replies_in(s, ts) if "Run now by dave.incident" in c.text])
