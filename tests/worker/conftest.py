"""Fixtures of the worker tests: homes with the seeded systems, governance on SQLite or PostgreSQL,
the offline planner, a clock the test moves."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.operations import Operations
from agent.settings import Settings
from agent.worker import Worker
from tests.pg.engines import ENGINES

WRITE_OFF = "write off 2 damaged SSD-1TB-NVME at AMS-1"  # approval by a warehouse manager
WRITE_OFF_ASKS = "carol.desk"
WRITE_OFF_APPROVES = "frank.warehouse"


class Clock:
    """Now, until the test moves it."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


MakeSettings = Callable[..., Settings]


@pytest.fixture(params=ENGINES)
def engine_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_settings(
    tmp_path: Path, systems_template: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[MakeSettings]:
    """Settings of one home (seeded systems copied in, grounding off, no LLM key: the offline planner);
    ``engine="postgresql"`` puts governance and checkpoints on a new PostgreSQL database."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(systems_template, home / "systems.db")
    urls: list[str] = []

    def build(engine: str = "sqlite", **extra: Any) -> Settings:
        if engine == "postgresql" and "database_url" not in extra:
            if not urls:
                urls.append(request.getfixturevalue("pg_databases").create())
            extra["database_url"] = urls[0]
        return Settings(home=home, grounding=False, _env_file=None, **extra)

    yield build
    for url in urls:
        request.getfixturevalue("pg_databases").done(url)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(make_settings: MakeSettings) -> Settings:
    return make_settings()


@pytest.fixture
def ops(settings: Settings, clock: Clock) -> Operations:
    return Operations(settings, clock=clock)


@pytest.fixture
def worker(settings: Settings, ops: Operations, clock: Clock) -> Worker:
    """A worker on ``ops`` that has done its first sweep (which publishes the audit head)."""
    started = Worker(settings, operations=ops, worker_id="w1", clock=clock)
    started.run_once()
    return started
