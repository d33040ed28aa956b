"""The Chroma store: collection set-up, and a server that cannot be reached."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge import COLLECTIONS, MiniLMEmbedder, open_store
from tools.errors import BackendUnavailable


# Chroma records "no embedding function" as its legacy configuration and warns when that is read back.
@pytest.mark.filterwarnings("ignore:legacy embedding function config:DeprecationWarning")
def test_collections_use_cosine_space_and_no_default_embedding_function(tmp_path: Path) -> None:
    store = open_store(tmp_path / "knowledge", embedder=MiniLMEmbedder())
    # The wiring itself is what this test pins, so it reads the store's private handles.
    assert store._client.get_settings().anonymized_telemetry is False
    for kind, collection in store._chunks.items():
        assert collection.name == COLLECTIONS[kind]
        hnsw = collection.configuration.get("hnsw") or {}
        assert hnsw.get("space") == "cosine"
        assert collection._embedding_function is None
    assert store.count() == 0
    assert store.manifest() == {}


def test_an_unreachable_chroma_server_is_backend_unavailable() -> None:
    with pytest.raises(BackendUnavailable, match=r"chroma unavailable: http://127\.0\.0\.1:9"):
        open_store(url="http://127.0.0.1:9", embedder=MiniLMEmbedder())


def test_a_store_needs_a_directory_or_a_url() -> None:
    with pytest.raises(ValueError, match="directory"):
        open_store(embedder=MiniLMEmbedder())
