"""Hybrid retrieval over the shipped runbooks: fusion when the retrievers disagree, grouping, filters,
citations stable across re-ingests, persistence across a restart, and a lexical index that follows
the store."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from chromadb.api.shared_system_client import SharedSystemClient

from knowledge import FusionConfig, Hit, KnowledgeStore, MiniLMEmbedder, Retriever, ingest_paths, open_store
from knowledge.store import StoredChunk
from tests.knowledge.conftest import SAMPLE, copy_runbooks

DNS = "runbook:runbooks/it-ops/dns-resolution-failure.md"
DISK = "runbook:runbooks/it-ops/disk-full.md"
REPLICA = "runbook:runbooks/it-ops/database-replica-lag.md"
VPN = "runbook:runbooks/it-ops/vpn-down.md"


@pytest.fixture
def retriever(searched: Path, model: MiniLMEmbedder) -> Retriever:
    return Retriever(open_store(searched, embedder=model))


def doc_ids(hits: list[Hit]) -> list[str]:
    return [hit.doc_id for hit in hits]


def test_hybrid_fuses_retrievers_that_disagree(retriever: Retriever) -> None:
    query = "name lookup fails"
    dense = doc_ids(retriever.search(query, k=3, mode="dense"))
    bm25 = doc_ids(retriever.search(query, k=3, mode="bm25"))
    hybrid = retriever.search(query, k=3)

    # BM25 alone is led astray by the common word "fails"; the model reads "name lookup" as DNS.
    assert dense[0] == DNS
    assert bm25[:2] == [DISK, DNS]
    assert doc_ids(hybrid)[0] == DNS
    assert (hybrid[0].dense_rank, hybrid[0].bm25_rank) == (1, 2)
    assert hybrid[0].similarity is not None


def test_fusion_weights_are_parameters(retriever: Retriever) -> None:
    query = "name lookup fails"
    retriever.fusion = FusionConfig(dense_weight=0.1, bm25_weight=1.0, rrf_k=1)
    assert doc_ids(retriever.search(query, k=1)) == [DISK]
    retriever.fusion = FusionConfig(dense_weight=1.0, bm25_weight=0.1, rrf_k=1)
    assert doc_ids(retriever.search(query, k=1)) == [DNS]


def test_hits_are_grouped_per_document_with_their_best_passages(retriever: Retriever) -> None:
    hits = retriever.search("the read replica is lagging behind the primary database", k=6)

    assert len(doc_ids(hits)) == len(set(doc_ids(hits))) == 6
    assert hits[0].doc_id == REPLICA
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    for hit in hits:
        assert 1 <= len(hit.passages) <= 3
        assert all(p.chunk_id.startswith(hit.doc_id + "@") for p in hit.passages)
        assert [p.score for p in hit.passages] == sorted((p.score for p in hit.passages), reverse=True)
        assert hit.citation == hit.passages[0].citation


def test_citations_name_source_section_and_snippet(retriever: Retriever) -> None:
    [hit] = retriever.search("Space held by deleted files that a process still has open", k=1)

    citation = hit.citation
    assert hit.source == citation.source == "it-ops/disk-full.md"
    assert citation.section == "Diagnosis"
    assert citation.id == "rb:runbooks/it-ops/disk-full.md#diagnosis"
    snippet = citation.snippet.strip("… ")
    assert snippet and snippet in " ".join(hit.passages[0].text.split())
    assert hit.to_dict()["citation"] == {
        "id": citation.id,
        "source": citation.source,
        "section": citation.section,
        "snippet": citation.snippet,
    }


def test_citation_ids_are_stable_across_reingests(
    tmp_path: Path, model: MiniLMEmbedder, retriever: Retriever
) -> None:
    """The same files ingested again (from another folder of the same name, into another store) cite
    the same ids."""
    root = copy_runbooks(tmp_path / "elsewhere" / "runbooks", SAMPLE[:3])
    other = open_store(tmp_path / "other", embedder=model)
    ingest_paths(other, [root])
    query = "the TLS certificate expires in a few days"

    ours = [p.citation.id for h in retriever.search(query, k=3, kind="runbook") for p in h.passages]
    theirs = [p.citation.id for h in Retriever(other).search(query, k=3) for p in h.passages]
    assert ours[0] == theirs[0]
    assert re.fullmatch(r"rb:runbooks/it-ops/tls-certificate-expiry\.md#[a-z0-9-]+", ours[0])
    assert set(theirs) <= {c.citation_id for c in _all_chunks(other)}
    assert {c.citation_id for c in _all_chunks(other)} <= {
        c.citation_id for c in _all_chunks(retriever.store)
    }


def _all_chunks(store: KnowledgeStore) -> list[StoredChunk]:
    return store.chunks()


def test_filters_by_kind_and_metadata(retriever: Retriever) -> None:
    source = "it-ops/vpn-down.md"

    assert retriever.search("host", kind="incident") == []
    for mode in ("hybrid", "dense", "bm25"):
        hits = retriever.search(
            "disk full, the application is down", k=5, where={"source": source}, mode=mode
        )
        assert doc_ids(hits) == [VPN], mode
    hits = retriever.search("disk", k=5, where={"source": {"$in": [source, "it-ops/disk-full.md"]}})
    assert set(doc_ids(hits)) == {VPN, DISK}


def test_front_matter_metadata_filters_and_is_returned(tmp_path: Path, model: MiniLMEmbedder) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for service in ("payments-api", "checkout-web"):
        (corpus / f"{service}-5xx.md").write_text(
            f"---\nservice: {service}\nseverity: 2\n---\n# {service} returns 5xx\n\n"
            f"## Diagnosis\n\nCheck the {service} error rate and the upstream database pool.\n"
        )
    store = open_store(tmp_path / "knowledge", embedder=model)
    ingest_paths(store, [corpus])
    retriever = Retriever(store)

    [hit] = retriever.search("5xx errors", k=5, where={"service": "checkout-web"})
    assert hit.source == "checkout-web-5xx.md"
    assert hit.metadata == {"service": "checkout-web", "severity": 2}
    assert len(retriever.search("5xx errors", k=5, where={"severity": {"$gte": 2}})) == 2


def test_search_batch_matches_single_searches(retriever: Retriever) -> None:
    queries = ["the VPN is down", "too many connections to the database", "filesystem almost full"]
    batch = retriever.search_batch(queries, k=3)
    assert [doc_ids(hits) for hits in batch] == [doc_ids(retriever.search(q, k=3)) for q in queries]


def test_bad_arguments_are_rejected(retriever: Retriever) -> None:
    with pytest.raises(ValueError, match="mode"):
        retriever.search("x", mode="sparse")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="k must"):
        retriever.search("x", k=0)


def test_the_store_survives_a_restart(tmp_path: Path, model: MiniLMEmbedder) -> None:
    corpus = copy_runbooks(tmp_path / "corpus", ["it-ops/vpn-down.md"])
    ingest_paths(open_store(tmp_path / "knowledge", embedder=model), [corpus])
    # Drop Chroma's in-process system cache, so the next client reads the directory like a new process.
    SharedSystemClient.clear_system_cache()

    reopened = open_store(tmp_path / "knowledge", embedder=model)
    assert reopened.count() > 0
    assert "runbook:corpus/it-ops/vpn-down.md" in reopened.manifest()
    [hit] = Retriever(reopened).search("remote staff cannot connect to the VPN", k=1)
    assert hit.doc_id == "runbook:corpus/it-ops/vpn-down.md"
    assert ingest_paths(reopened, [corpus]).unchanged == 1


def test_the_lexical_index_follows_the_store(tmp_path: Path, model: MiniLMEmbedder) -> None:
    corpus = copy_runbooks(tmp_path / "corpus", ["it-ops/vpn-down.md"])
    store = open_store(tmp_path / "knowledge", embedder=model)
    ingest_paths(store, [corpus])
    retriever = Retriever(store)
    assert retriever.search("zanzibar", mode="bm25") == []

    (corpus / "zanzibar.md").write_text(
        "# Zanzibar gateway\n\n## Restart\n\nRestart the zanzibar gateway pods.\n"
    )
    ingest_paths(store, [corpus])

    [hit] = retriever.search("zanzibar", mode="bm25")
    assert hit.citation.id == "rb:corpus/zanzibar.md#restart"
