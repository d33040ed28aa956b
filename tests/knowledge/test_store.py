"""The Chroma store: collection set-up, and a server that cannot be reached."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

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


def _open_after(barrier: Any, path: Path, failures: Any) -> None:
    barrier.wait()
    try:
        open_store(path, embedder=MiniLMEmbedder()).count()
    except Exception as exc:  # reported to the parent, which fails the test with it
        failures.put(f"{type(exc).__name__}: {exc}")


def test_several_processes_open_a_fresh_store_at_once(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    processes, rounds = 4, 3
    failures: Any = context.Queue()
    for attempt in range(rounds):  # the race is narrow; a few fresh folders make it show
        path = tmp_path / f"knowledge-{attempt}"
        barrier = context.Barrier(processes)
        workers = [
            context.Process(target=_open_after, args=(barrier, path, failures)) for _ in range(processes)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
        assert [worker.exitcode for worker in workers] == [0] * processes
    reported = [failures.get(timeout=1) for _ in range(failures.qsize())]
    assert reported == []
    store = open_store(tmp_path / "knowledge-0", embedder=MiniLMEmbedder())
    assert sorted(c.name for c in store._client.list_collections()) == sorted(
        [*COLLECTIONS.values(), "manifest"]
    )
