"""Step-up approvals, notify-tier announcements and the slash command, against the stand-in.

Pins: under a rule with ``step_up: true`` every card of the request lacks Approve and carries a signed,
single-use link that redirects once to the review page and then answers with a clear error; a forged
approve click is refused all the same. A notify-tier call is announced to its people by DM before it
runs; when that post fails the call does not run (the thread hears why) and runs once after the post
succeeds. ``/opslayer`` starts a thread in the channel and answers in it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from evals.slack_standin import SlackStandIn, click, command, mention
from governance.audit import EventKind
from governance.executions import ExecutionRecord
from governance.policy import DEFAULT_POLICY_PATH
from tests.slack.conftest import ALICE, GRACE, HEIDI, PUBLIC_URL, World, make_world
from tests.slack.test_flows import ORDER, cards_of, replies_in

NOTE = "add a note to INC0010047 saying the fix is deployed"  # notify tier: incident managers (dave)
DAVE = "U0DAVE01"


@pytest.fixture
def step_up_world(
    tmp_path: Path, systems_template: Path, standin: tuple[SlackStandIn, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[World]:
    """The shipped policy with ``step_up: true`` on purchase orders over 25,000."""
    policy = yaml.safe_load(DEFAULT_POLICY_PATH.read_text(encoding="utf-8"))
    [huge] = [rule for rule in policy["rules"] if rule["id"] == "huge-po"]
    huge["step_up"] = True
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(yaml.safe_dump(policy), encoding="utf-8")
    yield from make_world(tmp_path, systems_template, standin, monkeypatch, policy_file=policy_file)


def test_a_step_up_card_has_only_a_link_that_works_once(step_up_world: World) -> None:
    world = step_up_world
    world.event(mention(ALICE, ORDER, ts=world.next_ts()))
    cards = world.slack.wait_for(lambda s: len(cards_of(s)) >= 3 and cards_of(s))
    elements = [e for c in cards for b in c.blocks if b["type"] == "actions" for e in b["elements"]]
    assert {e["action_id"] for e in elements} == {"open_review"}
    links = [e["url"] for e in elements]
    assert len(set(links)) == len(cards) and all(
        link.startswith(f"{PUBLIC_URL}/slack/step-up/") for link in links
    )
    request_id = elements[0]["value"]
    path = links[0].removeprefix(PUBLIC_URL)

    first = world.client.get(path, follow_redirects=False)
    again = world.client.get(path, follow_redirects=False)
    forged = world.client.get("/slack/step-up/made-up", follow_redirects=False)

    assert first.status_code == 303 and first.headers["location"] == f"{PUBLIC_URL}/approvals/{request_id}"
    assert again.status_code == 410 and "used already" in again.text
    assert forged.status_code == 410 and "not one opslayer issued" in forged.text

    world.interact(click(HEIDI, "approve", request_id, channel="D0HEIDI01"))
    [refusal] = world.slack.wait_for(lambda s: s.of("chat.postEphemeral"))
    assert "review page (step-up)" in refusal.text
    assert world.ops.approval(request_id).request.votes == ()


def test_a_notify_tier_call_is_announced_by_dm_before_it_runs(world: World) -> None:
    ts = world.next_ts()
    world.event(mention(ALICE, NOTE, ts=ts))

    [reply] = world.slack.wait_for(lambda s: replies_in(s, ts))
    [announced] = [c for c in world.slack.of("chat.postMessage") if c.params["channel"] == DAVE]
    assert "itsm_add_work_note" in announced.text
    assert world.slack.calls.index(announced) < world.slack.calls.index(reply)
    assert "✓ itsm_add_work_note: ran (notify), after notifying dave.incident" in reply.text
    kinds = [
        e.kind for e in world.ops.audit_events() if e.kind in (EventKind.NOTIFICATION, EventKind.EXECUTION)
    ]
    assert kinds[:2] == [EventKind.NOTIFICATION, EventKind.EXECUTION]


def test_a_failed_announcement_keeps_the_call_waiting_until_it_goes_out(world: World) -> None:
    world.slack.fail_channels.add(DAVE)
    ts = world.next_ts()
    world.event(mention(ALICE, NOTE, ts=ts))

    [told] = world.slack.wait_for(lambda s: replies_in(s, ts))
    assert "notification before itsm_add_work_note failed" in told.text
    assert notes(world) == []

    world.slack.fail_channels.clear()  # the worker resumes the thread after its backoff
    later = world.slack.wait_for(lambda s: [c for c in replies_in(s, ts) if "Added a work note" in c.text])
    assert len(later) == 1
    [note] = notes(world)
    assert note.status.value == "completed"


def notes(world: World) -> list[ExecutionRecord]:
    """Work notes executed (the ledger also keys each announcement, as ``notify:…``)."""
    return [
        e
        for e in world.ops.executions()
        if e.tool == "itsm_add_work_note" and not e.key.startswith("notify:")
    ]


def test_the_slash_command_starts_a_thread_in_the_channel(world: World) -> None:
    response = world.post(
        "/slack/events", command(GRACE, "how many 14-inch Pro laptops are in Amsterdam?"), form=True
    )

    assert response.status_code == 200
    [root] = world.slack.wait_for(
        lambda s: [c for c in s.of("chat.postMessage") if "/opslayer how many" in c.text]
    )
    answers = world.slack.wait_for(
        lambda s: [c for c in s.of("chat.postMessage") if c.params.get("thread_ts")]
    )
    assert root.params["channel"] == answers[0].params["channel"] == "C0OPS"
    assert "AMS-1" in answers[0].text and "✓ inventory_get_stock: ran (auto)" in answers[0].text
    assert [e.actor for e in world.ops.audit_events(kinds=[EventKind.REQUEST])] == ["grace.procure"]


def test_policy_check_names_the_step_up_rules(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from agent.cli.app import app

    policy = yaml.safe_load(DEFAULT_POLICY_PATH.read_text(encoding="utf-8"))
    [huge] = [rule for rule in policy["rules"] if rule["id"] == "huge-po"]
    huge["step_up"] = True
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(yaml.safe_dump(policy), encoding="utf-8")

    result = CliRunner().invoke(
        app, ["policy", "check", str(policy_file)], env={"OPSLAYER_HOME": str(tmp_path)}
    )

    assert result.exit_code == 0, result.output
    assert "step-up (approved on the review page only): huge-po" in result.output


def test_the_slash_command_of_an_unmapped_user_posts_nothing_in_the_channel(world: World) -> None:
    response = world.post("/slack/events", command("U0NOBODY99", "<!channel> order 40 laptops"), form=True)

    assert response.status_code == 200
    [told] = world.slack.wait_for(lambda s: s.of("chat.postEphemeral"))
    assert told.params["user"] == "U0NOBODY99" and "not in opslayer's directory" in told.text
    assert world.slack.of("chat.postMessage") == []
    assert world.ops.audit_events(kinds=[EventKind.REQUEST]) == []


def test_policy_check_refuses_step_up_on_a_rule_that_is_not_approve(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from agent.cli.app import app

    policy = yaml.safe_load(DEFAULT_POLICY_PATH.read_text(encoding="utf-8"))
    [notify] = [rule for rule in policy["rules"] if rule["id"] == "incident-edits-notify"]
    notify["step_up"] = True
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(yaml.safe_dump(policy), encoding="utf-8")

    result = CliRunner().invoke(
        app, ["policy", "check", str(policy_file)], env={"OPSLAYER_HOME": str(tmp_path)}
    )

    assert result.exit_code != 0
    assert "rule 'incident-edits-notify': field 'step_up': only used when tier is approve, not notify" in (
        " ".join(result.output.split())
    )
