"""Fixtures of the Slack tests: a fresh world (seeded systems, offline planner, grounding off) served by
``create_app`` with the Slack routes and one worker, its Web API pointed at the stand-in on 127.0.0.1."""

from __future__ import annotations

import itertools
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from agent.api import create_app
from agent.operations import Operations
from agent.settings import Settings
from agent.slack.app import SlackFrontEnd
from evals.slack_standin import SlackStandIn, running_standin, sign

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
PUBLIC_URL = "https://ops.example.com"

ALICE, GRACE, HEIDI, LEO = "U0ALICE01", "U0GRACE01", "U0HEIDI01", "U0LEO01"
STRANGER = "U0NOBODY99"


@dataclass
class World:
    """The app, its operations service and the Slack stand-in it talks to."""

    client: TestClient
    ops: Operations
    slack: SlackStandIn
    settings: Settings
    front: SlackFrontEnd
    _ts: Iterator[int]

    def settle(self) -> None:
        """Wait until the turns and clicks the app started in the background are done."""
        self.client.portal.call(self.front.idle)  # type: ignore[union-attr]

    def post(self, path: str, body: str, *, form: bool, headers: dict[str, str] | None = None) -> Any:
        """``body`` signed like Slack signs it (unless ``headers`` are given), POSTed to the app."""
        content_type = "application/x-www-form-urlencoded" if form else "application/json"
        sent = {"Content-Type": content_type, **(headers if headers is not None else sign(body, SECRET))}
        return self.client.post(path, content=body, headers=sent)

    def event(self, body: str) -> Any:
        return self.post("/slack/events", body, form=False)

    def interact(self, body: str) -> Any:
        return self.post("/slack/interactivity", body, form=True)

    def next_ts(self) -> str:
        return f"1800000000.{next(self._ts):06d}"


def eventually(check: Callable[[], Any], *, timeout: float = 20.0) -> Any:
    """Poll ``check`` until it returns something truthy (the app votes after acknowledging a click)."""
    deadline = time.monotonic() + timeout
    while not (found := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"still {found!r} after {timeout} s")
        time.sleep(0.02)
    return found


def slack_settings(home: Path, systems_template: Path, api_url: str, **extra: Any) -> Settings:
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(systems_template, home / "systems.db")
    fields: dict[str, Any] = {
        "home": home,
        "grounding": False,
        "worker_poll_s": 0.05,
        "slack_bot_token": "xoxb-test-token",
        "slack_signing_secret": SECRET,
        "slack_api_url": api_url,
        "public_url": PUBLIC_URL,
        **extra,
    }
    return Settings(_env_file=None, **fields)


@pytest.fixture
def standin() -> Iterator[tuple[SlackStandIn, str]]:
    with running_standin() as running:
        yield running


@pytest.fixture
def world(
    tmp_path: Path, systems_template: Path, standin: tuple[SlackStandIn, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[World]:
    yield from make_world(tmp_path, systems_template, standin, monkeypatch)


@pytest.fixture
def pg_world(
    tmp_path: Path,
    systems_template: Path,
    standin: tuple[SlackStandIn, str],
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> Iterator[World]:
    """The world with every store and the checkpoints on a new PostgreSQL database (skipped, naming what
    is missing, where no server can run)."""
    databases = request.getfixturevalue("pg_databases")
    url = databases.create()
    try:
        yield from make_world(tmp_path, systems_template, standin, monkeypatch, database_url=url)
    finally:
        databases.done(url)


def make_world(
    tmp_path: Path,
    systems_template: Path,
    standin: tuple[SlackStandIn, str],
    monkeypatch: pytest.MonkeyPatch,
    *,
    worker: bool = True,
    clock: Callable[[], datetime] | None = None,
    **extra: Any,
) -> Iterator[World]:
    """The app on a fresh home (``extra``: more settings); ``worker``: one worker runs in the app (else
    the test runs one); ``clock``: the operations service's time."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPSLAYER_OPENAI_API_KEY", raising=False)
    slack, url = standin
    settings = slack_settings(tmp_path / "home", systems_template, url, **extra)
    ops = Operations(settings, clock=clock)
    app = create_app(settings, operations=ops, worker=worker)
    with TestClient(app) as client:
        front = app.state.slack
        yield World(
            client=client, ops=ops, slack=slack, settings=settings, front=front, _ts=itertools.count(1)
        )
