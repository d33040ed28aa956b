"""Session-wide fixtures shared by several test folders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import respx

from knowledge import MiniLMEmbedder
from tests.agent.graph_support import ScriptedLLM
from tools.local import reset_local_systems


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--pg-bin",
        metavar="DIR",
        default=None,
        help="folder with the PostgreSQL server binaries (initdb, pg_ctl, postgres) for tests/pg; "
        "by default the pg_ctl on PATH, else the newest /usr/lib/postgresql/*/bin",
    )


@pytest.fixture(scope="session")
def model() -> MiniLMEmbedder:
    """The real bundled all-MiniLM-L6-v2, loaded once per test session and shared by every test."""
    embedder = MiniLMEmbedder()
    embedder.embed_queries(["warm up"])
    return embedder


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
