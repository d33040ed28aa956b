"""Requests to the Slack routes are Slack's, fresh and new, or refused.

Pins: a forged signature, a stale timestamp (over 5 minutes) and a replayed request get 401, change
nothing (no turn, no vote) and are audited as refusals naming what was wrong; unsigned requests too;
without a bot token and a signing secret the Slack routes do not exist.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from agent.api import create_app
from agent.operations import Operations
from evals.slack_standin import click, mention, sign
from governance.audit import EventKind
from tests.slack.conftest import ALICE, GRACE, SECRET, World, eventually, slack_settings

ORDER = "order 22 laptops for the Berlin office"


def refusals(world: World) -> list[str]:
    return [str(e.payload["reason"]) for e in world.ops.audit_events(kinds=[EventKind.ACCESS_DENIED])]


def test_a_forged_signature_is_refused_and_changes_nothing(world: World) -> None:
    body = mention(ALICE, ORDER, ts=world.next_ts())
    forged = world.post("/slack/events", body, form=False, headers=sign(body, "not-the-secret"))
    unsigned = world.post("/slack/events", body, form=False, headers={})

    assert forged.status_code == unsigned.status_code == 401
    assert refusals(world) == [
        "forged request: the signature does not match",
        "unsigned request (no X-Slack-Signature or X-Slack-Request-Timestamp)",
    ]
    world.settle()
    assert world.ops.audit_events(kinds=[EventKind.REQUEST]) == []
    assert world.slack.of("chat.postMessage") == []


def test_a_stale_timestamp_is_refused(world: World) -> None:
    body = mention(ALICE, ORDER, ts=world.next_ts())
    stale = world.post(
        "/slack/events", body, form=False, headers=sign(body, SECRET, timestamp=int(time.time()) - 301)
    )
    future = world.post(
        "/slack/events", body, form=False, headers=sign(body, SECRET, timestamp=int(time.time()) + 400)
    )

    assert stale.status_code == future.status_code == 401
    assert refusals(world) == ["stale request: its timestamp is more than 5 minutes from now"] * 2
    world.settle()
    assert world.ops.audit_events(kinds=[EventKind.REQUEST]) == []


def test_a_replayed_click_is_refused_and_its_vote_not_cast_twice(world: World) -> None:
    world.event(mention(ALICE, ORDER, ts=world.next_ts()))
    [request] = eventually(lambda: world.ops.approvals())
    body = click(GRACE, "approve", request.id, channel="D0GRACE01")
    headers = sign(body, SECRET)

    first = world.post("/slack/interactivity", body, form=True, headers=headers)
    replayed = world.post("/slack/interactivity", body, form=True, headers=headers)

    assert first.status_code == 200 and replayed.status_code == 401
    assert refusals(world) == ["replayed request: this signature was seen already"]
    votes = eventually(lambda: world.ops.audit_events(kinds=[EventKind.APPROVAL_VOTE]))
    world.slack.wait_for(lambda s: s.of("chat.update"))  # the vote's card updates: all work is done
    assert [(e.actor, e.payload["accepted"]) for e in votes] == [("grace.procure", True)]
    assert len(world.ops.audit_events(kinds=[EventKind.APPROVAL_VOTE])) == 1


def test_without_a_token_and_a_secret_there_are_no_slack_routes(
    tmp_path: Path, systems_template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    settings = slack_settings(
        tmp_path / "home", systems_template, "http://127.0.0.1:9/api/", slack_signing_secret=None
    )
    app = create_app(settings, operations=Operations(settings), worker=False)
    with TestClient(app) as client:
        body = mention(ALICE, ORDER, ts="1.1")
        assert client.post("/slack/events", content=body, headers=sign(body, SECRET)).status_code == 404
    assert app.state.slack is None


def test_slacks_url_verification_is_answered_when_signed(world: World) -> None:
    challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    body = json.dumps({"type": "url_verification", "token": "unused", "challenge": challenge})

    answered = world.event(body)
    forged = world.post("/slack/events", body, form=False, headers=sign(body, "wrong"))

    assert (
        answered.status_code == 200
        and "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in answered.text
    )
    assert forged.status_code == 401
