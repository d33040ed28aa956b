"""Session-wide fixtures shared by several test folders."""

from __future__ import annotations

import pytest

from knowledge import MiniLMEmbedder


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
