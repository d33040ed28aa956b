"""Fixtures of the graph tests (helpers live in ``graph_support``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import respx

from tests.agent.graph_support import ScriptedLLM, World
from tools.local import reset_local_systems


@pytest.fixture(scope="session")
def systems_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seeded local systems, built once; each world works on its own copy."""
    path = tmp_path_factory.mktemp("seed") / "systems.db"
    reset_local_systems(path)
    return path


@pytest.fixture
def llm() -> Iterator[ScriptedLLM]:
    """The scripted OpenAI endpoint; any other HTTP request fails the test (no network)."""
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        scripted = ScriptedLLM(router)
        yield scripted
    assert not scripted.overrun, "the model was called more often than the test scripted"


@pytest.fixture
def make_world(tmp_path: Path, systems_template: Path, llm: ScriptedLLM) -> Callable[..., World]:
    """Build a world with extra settings (``directory_file``, ``round_limit`` …) or ``dry_run``."""

    def build(**kwargs: Any) -> World:
        return World(tmp_path / "home", systems_template, **kwargs)

    return build


@pytest.fixture
def world(make_world: Callable[..., World]) -> World:
    return make_world()
