"""Session-wide fixtures shared by several test folders."""

from __future__ import annotations

import pytest

from knowledge import MiniLMEmbedder


@pytest.fixture(scope="session")
def model() -> MiniLMEmbedder:
    """The real bundled all-MiniLM-L6-v2, loaded once per test session and shared by every test."""
    embedder = MiniLMEmbedder()
    embedder.embed_queries(["warm up"])
    return embedder
