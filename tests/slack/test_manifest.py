"""The app manifest asks for what the app serves and listens to, and for nothing it does not use."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import yaml

from agent.slack.app import COMMAND

MANIFEST = Path(__file__).parents[2] / "deploy" / "slack-manifest.yaml"


def test_the_manifest_matches_the_routes_events_and_command_of_the_app() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    settings = manifest["settings"]
    [command] = manifest["features"]["slash_commands"]

    assert urlparse(settings["event_subscriptions"]["request_url"]).path == "/slack/events"
    assert urlparse(settings["interactivity"]["request_url"]).path == "/slack/interactivity"
    assert command["command"] == COMMAND and urlparse(command["url"]).path == "/slack/events"
    assert set(settings["event_subscriptions"]["bot_events"]) == {"app_mention", "message.im"}
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == {
        "app_mentions:read",
        "chat:write",
        "chat:write.public",
        "commands",
        "im:history",
        "im:read",
        "im:write",
        "reactions:write",
    }
