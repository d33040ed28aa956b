"""Fixtures of the graph tests (helpers live in ``graph_support``; ``llm`` and ``systems_template``
are in the root conftest, for tests/pg too)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.agent.graph_support import ScriptedLLM, World
from tests.pg.engines import ENGINES, Engines


@pytest.fixture
def make_world(tmp_path: Path, systems_template: Path, llm: ScriptedLLM) -> Callable[..., World]:
    """Build a world with extra settings (``directory_file``, ``round_limit`` …) or ``dry_run``."""

    def build(**kwargs: Any) -> World:
        return World(tmp_path / "home", systems_template, **kwargs)

    return build


@pytest.fixture
def world(make_world: Callable[..., World]) -> World:
    return make_world()


@pytest.fixture(params=ENGINES)
def world_on_each_engine(
    request: pytest.FixtureRequest, make_world: Callable[..., World], engines: Engines
) -> World:
    """A world with its governance stores on SQLite (the default, under its home) or PostgreSQL.

    Modules whose scenarios must hold on both engines rename it to ``world``.
    """
    if request.param == "postgresql":
        return make_world(governance_engine=engines.opener("postgresql"))
    return make_world()
