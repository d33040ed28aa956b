"""Session-wide fixtures shared by several test folders."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import respx
from typer.testing import CliRunner

from knowledge import MiniLMEmbedder
from tests.agent.graph_support import ScriptedLLM
from tests.pg.engines import ENGINES, Engines, OpenEngine
from tests.pg.server import Databases, Unavailable, throwaway_server
from tools.local import reset_local_systems


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--pg-bin",
        metavar="DIR",
        default=None,
        help="folder with the PostgreSQL server binaries (initdb, pg_ctl, postgres) for the tests on "
        "PostgreSQL; "
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


@pytest.fixture(scope="session")
def pg_databases(request: pytest.FixtureRequest) -> Iterator[Databases]:
    """The throwaway PostgreSQL server of the session (started on first use), making databases.

    Skips the test, naming what is missing, when no server can run here (see ``tests/pg/server.py``).
    """
    with contextlib.ExitStack() as stack:
        try:
            server_url = stack.enter_context(throwaway_server(request.config.getoption("pg_bin")))
        except Unavailable as missing:
            pytest.skip(f"PostgreSQL tests skipped: {missing}")
        databases = Databases(server_url)
        stack.callback(databases.close)
        yield databases


@pytest.fixture
def engines(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engines]:
    """New governance databases for this test on the engine each caller names (SQLite or PostgreSQL)."""
    made = Engines(tmp_path, lambda: request.getfixturevalue("pg_databases"))
    yield made
    made.close()


@pytest.fixture(params=ENGINES)
def open_engine(request: pytest.FixtureRequest, engines: Engines) -> OpenEngine:
    """A new, empty governance database on each engine in turn: each call opens another engine on it,
    as another process would. The PostgreSQL run is skipped, naming what is missing, without a server."""
    return engines.opener(request.param)


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A runner for `opslayer` commands on a fresh OPSLAYER_HOME, offline, with the shipped policy."""
    monkeypatch.setenv("OPSLAYER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPSLAYER_POLICY_FILE", raising=False)
    return CliRunner()
