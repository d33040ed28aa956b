"""Two `opslayer serve` processes (two apps, each with its operations service and poster) on one
database and one Slack: every card is posted once, and every card updated once with the outcome,
whichever process got the event and the click.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from agent.api import create_app
from agent.operations import Operations
from evals.slack_standin import SlackStandIn, click, mention, sign
from tests.slack.conftest import ALICE, GRACE, HEIDI, SECRET, slack_settings
from tests.slack.test_flows import ORDER, approval_id, cards_of, dm, replies_in


def test_two_processes_post_each_card_and_update_once(
    tmp_path: Path, systems_template: Path, standin: tuple[SlackStandIn, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    slack, url = standin
    settings = slack_settings(tmp_path / "home", systems_template, url)
    one = create_app(settings, operations=Operations(settings), worker=True)
    other = create_app(settings, operations=Operations(settings), worker=False)

    with TestClient(one) as first, TestClient(other) as second:

        def post(client: TestClient, path: str, body: str, kind: str) -> None:
            headers = {"Content-Type": kind, **sign(body, SECRET)}
            assert client.post(path, content=body, headers=headers).status_code == 200

        ts = "1800000000.000001"
        post(first, "/slack/events", mention(ALICE, ORDER, ts=ts), "application/json")
        request_id = approval_id(slack.wait_for(lambda s: len(cards_of(s)) >= 3 and cards_of(s))[0])
        form = "application/x-www-form-urlencoded"
        post(second, "/slack/interactivity", click(GRACE, "approve", request_id, channel=dm(GRACE)), form)
        post(first, "/slack/interactivity", click(HEIDI, "approve", request_id, channel=dm(HEIDI)), form)

        slack.wait_for(lambda s: [c for c in replies_in(s, ts) if "PO-" in c.text])
        slack.wait_for(lambda s: [c for c in replies_in(s, ts) if "Approved by" in c.text])
        slack.wait_for(lambda s: len([u for u in s.of("chat.update") if "Approved by" in u.text]) >= 3)
    # both processes stopped: what was posted is all there will be
    outcomes = [u for u in slack.of("chat.update") if "Approved by" in u.text]
    assert len(cards_of(slack)) == 3
    assert sorted(u.params["channel"] for u in outcomes) == sorted(
        dm(c.params["channel"]) for c in cards_of(slack)
    )
    [told] = [c for c in replies_in(slack, ts) if "Approved by" in c.text]  # the clicks raced: either order
    assert "grace.procure" in told.text and "heidi.finance" in told.text
