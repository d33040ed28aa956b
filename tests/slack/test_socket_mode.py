"""Socket Mode: what arrives over the WebSocket is dispatched to the same listeners, without signing (the
app-level token authenticates the connection) and deduplicated by event id in the listener.

Pins: a mention dispatched as Socket Mode does runs one turn even when delivered twice; `opslayer
slack` names what it needs.
"""

from __future__ import annotations

import json

from slack_bolt.request.async_request import AsyncBoltRequest
from typer.testing import CliRunner

from agent.cli.app import app
from evals.slack_standin import mention
from governance.audit import EventKind
from tests.slack.conftest import ALICE, World, eventually


def test_a_socket_mode_event_runs_once_however_often_it_arrives(world: World) -> None:
    ts = world.next_ts()
    body = json.loads(mention(ALICE, "how many 14-inch Pro laptops are in Amsterdam?", ts=ts))

    for _ in range(2):
        request = AsyncBoltRequest(body=body, mode="socket_mode")
        response = world.client.portal.call(world.front.bolt.async_dispatch, request)  # type: ignore[union-attr]
        assert response.status == 200

    eventually(lambda: [c for c in world.slack.of("chat.postMessage") if c.params.get("thread_ts") == ts])
    world.settle()
    assert len(world.ops.audit_events(kinds=[EventKind.REQUEST])) == 1


def test_the_command_names_the_settings_socket_mode_needs() -> None:
    runner = CliRunner()
    result = runner.invoke(
        app, ["slack", "--socket"], env={"OPSLAYER_SLACK_BOT_TOKEN": "", "OPSLAYER_HOME": "/nonexistent"}
    )
    assert result.exit_code == 2
    assert "OPSLAYER_SLACK_APP_TOKEN" in result.output
    assert "opslayer serve" in runner.invoke(app, ["slack"]).output
