"""Notifications sent *before* a notify-tier call executes: to the log, or to Slack when it is configured."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from governance.directory import Directory

log = logging.getLogger("opslayer.notify")


@dataclass(frozen=True, kw_only=True)
class Notification:
    thread_id: str
    tool: str
    requester: str
    targets: tuple[str, ...]  # as the policy names them: role:x, user:y, #channel
    recipients: tuple[str, ...]  # people and channels they resolve to
    text: str
    # The approval request whose veto window this announces (None: any other notification). In Slack
    # the app posts that request's card, with its Veto button, instead (``agent.slack.poster``).
    announces: str | None = None


class Notifier(Protocol):
    def send(self, notification: Notification) -> None: ...


@dataclass
class LogNotifier:
    """Writes notifications to the log and keeps them (the terminal front end prints ``sent``)."""

    sent: list[Notification] = field(default_factory=list)

    def send(self, notification: Notification) -> None:
        log.info("notify %s: %s", ", ".join(notification.recipients), notification.text)
        self.sent.append(notification)


class SlackNotifier:
    """Posts each notification to its people (direct message, by their ``slack_user_id``) and channels,
    before the call runs; reminders, escalations and monitor trips go the same way. A veto window's
    announcement is the Slack app's card (with its Veto button), so it is not posted twice. A failed
    post raises, so the call waits and a resume tries again; people without a Slack account are told in
    the log only. ``client`` is a ``slack_sdk.WebClient``."""

    def __init__(self, client: Any, directory: Directory) -> None:
        self._client = client
        self._directory = directory

    def send(self, notification: Notification) -> None:
        text = notification.text
        if notification.announces is not None:  # its Veto card reaches the same people and channels
            log.info("notify %s (by the Slack app's veto card): %s", ", ".join(notification.recipients), text)
            return
        shown = text if len(text) <= 2900 else text[:2900] + " …(cut)"
        literal = shown.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        block = {"type": "section", "text": {"type": "plain_text", "text": shown, "emoji": False}}
        for recipient in notification.recipients:
            channel = self._channel(recipient)
            if channel is None:
                log.info("notify %s (no Slack account): %s", recipient, text)
                continue
            self._client.chat_postMessage(channel=channel, text=literal, blocks=[block])

    def _channel(self, recipient: str) -> str | None:
        if recipient.startswith("#"):
            return recipient
        person = self._directory.people.get(recipient)
        return None if person is None else person.slack_user_id


def recipients(targets: tuple[str, ...], directory: Directory) -> tuple[str, ...]:
    """People ids and channels the targets resolve to, sorted and without repeats."""
    resolved: set[str] = set()
    for target in targets:
        kind, _, name = target.partition(":")
        if kind == "role":
            resolved.update(person.id for person in directory.people_with_role(name))
        elif kind == "user":
            resolved.add(name)
        else:
            resolved.add(target)
    return tuple(sorted(resolved))
