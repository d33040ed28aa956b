"""What the chat front end asks before grounding: is there anything to ground answers on? And warming
a grounder (as a service process does at start) loads the model only when there is something to search."""

from __future__ import annotations

from pathlib import Path

from agent.run.grounding import EMPTY_STORE_NOTE, RetrieverGrounder
from knowledge import MiniLMEmbedder, Retriever, ingest_paths, open_store
from tests.knowledge.conftest import copy_runbooks


def test_an_empty_store_is_reported_without_loading_the_model(tmp_path: Path) -> None:
    cold = MiniLMEmbedder()
    store = open_store(tmp_path / "knowledge", embedder=cold)
    grounder = RetrieverGrounder(Retriever(store))

    assert store.is_empty()
    assert grounder.note() == EMPTY_STORE_NOTE
    assert "run `opslayer ingest knowledge/corpus`" in EMPTY_STORE_NOTE
    grounding = grounder("the checkout returns 502s")
    assert (grounding.message, grounding.citations, grounding.note) == (None, [], EMPTY_STORE_NOTE)
    assert not cold.loaded


def test_an_ingested_store_grounds_without_a_note(tmp_path: Path, model: MiniLMEmbedder) -> None:
    store = open_store(tmp_path / "knowledge", embedder=model)
    ingest_paths(store, [copy_runbooks(tmp_path / "runbooks", ["it-ops/vpn-down.md"])])
    grounder = RetrieverGrounder(Retriever(store))

    assert not store.is_empty()
    assert grounder.note() is None
    grounding = grounder("remote staff cannot connect to the VPN")
    assert grounding.note is None
    assert grounding.message is not None
    assert grounding.citations[0]["id"].startswith("rb:runbooks/it-ops/vpn-down.md")


def test_warming_loads_the_model_only_when_there_is_knowledge(tmp_path: Path, model: MiniLMEmbedder) -> None:
    empty_model = MiniLMEmbedder()
    RetrieverGrounder(Retriever(open_store(tmp_path / "empty", embedder=empty_model))).warm()
    ingest_paths(
        open_store(tmp_path / "knowledge", embedder=model),
        [copy_runbooks(tmp_path / "runbooks", ["it-ops/vpn-down.md"])],
    )
    cold = MiniLMEmbedder()  # a fresh process's model, not loaded yet
    grounder = RetrieverGrounder(Retriever(open_store(tmp_path / "knowledge", embedder=cold)))

    grounder.warm()  # what `opslayer serve` does before it takes requests

    assert not empty_model.loaded and cold.loaded
    assert grounder("remote staff cannot connect to the VPN").citations  # and it still grounds
