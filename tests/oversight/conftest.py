"""Fixtures of the oversight tests: a seeded home under a policy with a veto window, an escalating
approval rule, monitors and an autonomy section; the offline planner; a clock the test moves; a
notifier that keeps what it was given."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.operations import Operations
from agent.run.notifier import Notification
from agent.settings import Settings
from agent.worker import Worker
from governance.policy import DEFAULT_POLICY_PATH

NOTE = "add a note to INC0010047 saying checked the pool"  # notify tier: itsm_add_work_note
NOTE_ASKS = "carol.desk"
VETOES = "dave.incident"  # incident_manager
WRITE_OFF = "write off 2 damaged SSD-1TB-NVME at AMS-1"  # approve tier: inventory_adjust_stock
WRITE_OFF_ASKS = "carol.desk"
PAUSES = "erin.change"  # change_manager: may pause autonomy and clear monitors


class Clock:
    """Now, until the test moves it. It starts at the real time: the audit trail stamps events with
    the real time, and monitors read it in windows ending at this clock's now."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class KeptNotifier:
    sent: list[Notification] = field(default_factory=list)

    def send(self, notification: Notification) -> None:
        self.sent.append(notification)

    def to(self, person: str) -> list[str]:
        return [n.text for n in self.sent if person in n.recipients]


def oversight_policy(**changes: Any) -> dict[str, Any]:
    """The shipped policy with a 15-minute veto window on work notes, write-offs approved by the
    service desk that escalate up the managers after 1h, the test monitors and an autonomy section."""
    document: dict[str, Any] = yaml.safe_load(DEFAULT_POLICY_PATH.read_text(encoding="utf-8"))
    document["label"] = "oversight test"
    for rule in document["rules"]:
        if rule["id"] == "incident-edits-notify":
            rule["veto_window"] = "15m"
            rule["veto_by"] = {"roles": ["incident_manager"]}
        if rule["id"] == "write-off":
            rule["approvers"] = {"roles": ["service_desk"], "count": 1}
            rule["escalate_after"] = "1h"
            rule["escalate_to"] = "manager"
            rule["escalation_may_approve"] = True
    document["autonomy"] = {
        "pause_roles": ["change_manager"],
        "clear_roles": ["change_manager", "incident_manager"],
        "approvers": {"roles": ["change_manager"]},
    }
    document["monitors"] = [
        {
            "id": "confused-thread",
            "kind": "refused_calls",
            "per": "thread",
            "window": "1h",
            "threshold": 3,
            "notify": ["role:incident_manager"],
            "on_trip": "restrict",
            "restrict": {"tools": ["*"], "tier": "approve"},
        }
    ]
    document.update(changes)
    return document


MakeSettings = Callable[..., Settings]


@pytest.fixture
def make_settings(tmp_path: Path, systems_template: Path, monkeypatch: pytest.MonkeyPatch) -> MakeSettings:
    """Settings of one home under ``policy`` (a document; default :func:`oversight_policy`)."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(systems_template, home / "systems.db")

    def build(policy: dict[str, Any] | None = None, **extra: Any) -> Settings:
        path = tmp_path / "policy.yaml"
        path.write_text(yaml.safe_dump(policy or oversight_policy()), encoding="utf-8")
        return Settings(home=home, grounding=False, policy_file=path, _env_file=None, **extra)

    return build


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def notifier() -> KeptNotifier:
    return KeptNotifier()


@pytest.fixture
def settings(make_settings: MakeSettings) -> Settings:
    return make_settings()


@pytest.fixture
def ops(settings: Settings, clock: Clock, notifier: KeptNotifier) -> Operations:
    return Operations(settings, clock=clock, notifier=notifier)


@pytest.fixture
def worker(settings: Settings, ops: Operations, clock: Clock) -> Worker:
    started = Worker(settings, operations=ops, worker_id="w1", clock=clock)
    started.run_once()
    return started
