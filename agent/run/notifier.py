"""Notifications sent *before* a notify-tier call executes (terminal/log now; Slack later)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol

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


class Notifier(Protocol):
    def send(self, notification: Notification) -> None: ...


@dataclass
class LogNotifier:
    """Writes notifications to the log and keeps them (the terminal front end prints ``sent``)."""

    sent: list[Notification] = field(default_factory=list)

    def send(self, notification: Notification) -> None:
        log.info("notify %s: %s", ", ".join(notification.recipients), notification.text)
        self.sent.append(notification)


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
