"""The Slack app: staff ask opslayer in threads, approvers decide on cards, notify-tier calls are announced.

Served by ``opslayer serve`` (``/slack/events``, ``/slack/interactivity``) when
``OPSLAYER_SLACK_BOT_TOKEN`` and ``OPSLAYER_SLACK_SIGNING_SECRET`` are set, or over Socket Mode by
``opslayer slack --socket``. A card is a view of a durable approval, never the approval itself: every
click is a vote through the operations service, and what Slack shows is rendered from the store.

- :mod:`agent.slack.app`: the bolt app and :class:`SlackFrontEnd`;
- :mod:`agent.slack.routes`: request verification (signature, 5-minute window, replays) and the routes;
- :mod:`agent.slack.conversation`: turns asked in Slack; :mod:`agent.slack.clicks`: votes from cards;
- :mod:`agent.slack.poster`: what the audit trail says, posted once (cards, updates, continuations);
- :mod:`agent.slack.cards`, :mod:`agent.slack.modals`: Block Kit; :mod:`agent.slack.store`: the tables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI
    from slack_sdk import WebClient

    from agent.operations import Operations
    from agent.slack.app import SlackFrontEnd


def configured(settings: Settings) -> bool:
    """Whether the Slack routes are served: a bot token and a signing secret are set."""
    return settings.slack_bot_token is not None and settings.slack_signing_secret is not None


def api_base_url(settings: Settings) -> str:
    """Slack's Web API (``OPSLAYER_SLACK_API_URL``; a stand-in in tests), with the slash slack_sdk needs."""
    url = settings.slack_api_url
    return url if url.endswith("/") else url + "/"


def web_client(settings: Settings) -> WebClient:
    """A synchronous Web API client with the bot token (the worker's: it posts from threads)."""
    from agent.run.errors import ConfigurationError

    if settings.slack_bot_token is None:
        raise ConfigurationError("a Slack turn was queued, but this worker has no OPSLAYER_SLACK_BOT_TOKEN")
    from slack_sdk import WebClient

    return WebClient(token=settings.slack_bot_token.get_secret_value(), base_url=api_base_url(settings))


def mount_if_configured(app: FastAPI, settings: Settings, ops: Operations) -> SlackFrontEnd | None:
    """Mount the Slack routes on ``app`` when Slack is configured; the front end (start it with the app)."""
    if not configured(settings):
        return None
    from agent.slack.app import SlackFrontEnd
    from agent.slack.routes import mount

    front = SlackFrontEnd(settings, ops)
    mount(app, front)
    return front


__all__ = ["api_base_url", "configured", "mount_if_configured", "web_client"]
