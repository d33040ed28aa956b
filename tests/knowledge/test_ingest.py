"""Ingestion: idempotent by content hash, changed files replaced, prune, errors before any write,
and resolved incidents from the local ITSM becoming searchable past-incident documents."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from knowledge import (
    CorpusError,
    KnowledgeStore,
    MiniLMEmbedder,
    Retriever,
    ingest_incidents,
    ingest_paths,
    open_store,
)
from tests.knowledge.conftest import CountingEmbedder, copy_runbooks
from tools.local import LocalITSM, open_local_systems
from tools.models import Incident, IncidentState
from tools.protocols import ITSMBackend

SMALL = ("it-ops/vpn-down.md", "it-ops/dns-resolution-failure.md", "it-ops/database-replica-lag.md")


def chunk_texts(store: KnowledgeStore, doc_id: str) -> list[str]:
    return [chunk.text for chunk in store.chunks() if chunk.doc_id == doc_id]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return copy_runbooks(tmp_path / "corpus", SMALL)


def test_reingesting_an_unchanged_corpus_embeds_nothing(
    store: KnowledgeStore, embedder: CountingEmbedder, corpus: Path, tmp_path: Path
) -> None:
    first = ingest_paths(store, [corpus])
    assert (first.added, first.updated, first.unchanged, first.removed) == (3, 0, 0, 0)
    assert first.chunks == embedder.texts == store.count() > 3

    embedder.calls = 0
    second = ingest_paths(store, [corpus])
    assert (second.added, second.updated, second.unchanged, second.removed, second.chunks) == (0, 0, 3, 0, 0)
    assert embedder.calls == 0

    # A fresh process with a model that was never loaded: checking hashes does not load it.
    cold = MiniLMEmbedder()
    third = ingest_paths(open_store(tmp_path / "knowledge", embedder=cold), [corpus])
    assert third.unchanged == 3
    assert not cold.loaded


def test_a_changed_file_replaces_its_old_chunks(
    store: KnowledgeStore, embedder: CountingEmbedder, corpus: Path
) -> None:
    ingest_paths(store, [corpus])
    path = corpus / "it-ops/vpn-down.md"
    text = path.read_text()
    assert "(primary) and vpn-gw-02 (secondary), behind fw-edge-01" in text
    path.write_text(
        text.replace("(primary) and vpn-gw-02 (secondary), behind fw-edge-01", "(primary) alone")
        + "\n## Paging\n\nPage the platform on-call through the P1 bridge.\n"
    )
    embedder.texts = 0

    summary = ingest_paths(store, [corpus])

    assert (summary.added, summary.updated, summary.unchanged) == (0, 1, 2)
    texts = chunk_texts(store, "runbook:corpus/it-ops/vpn-down.md")
    assert embedder.texts == summary.chunks == len(texts)
    joined = "\n".join(texts)
    assert "vpn-gw-01\n(primary) alone" in joined
    assert "vpn-gw-02 (secondary)" not in joined
    assert "Page the platform on-call" in joined
    assert store.count() == sum(entry.chunks for entry in store.manifest().values())


def test_prune_removes_documents_whose_files_are_gone(store: KnowledgeStore, corpus: Path) -> None:
    ingest_paths(store, [corpus])
    (corpus / "it-ops/database-replica-lag.md").unlink()
    gone = "runbook:corpus/it-ops/database-replica-lag.md"

    kept = ingest_paths(store, [corpus])
    assert kept.removed == 0
    assert gone in store.manifest()

    pruned = ingest_paths(store, [corpus], prune=True)
    assert (pruned.removed, pruned.unchanged) == (1, 2)
    assert gone not in store.manifest()
    assert chunk_texts(store, gone) == []
    assert not Retriever(store).search(
        "replica lag behind the primary", kind="runbook", where={"doc_id": gone}
    )


def test_lines_gone_from_a_jsonl_file_are_removed_with_it(store: KnowledgeStore, tmp_path: Path) -> None:
    export = tmp_path / "export" / "past.jsonl"
    export.parent.mkdir()
    export.write_text(
        '{"id": "A", "text": "Printer on floor 3 jammed; cleared tray 2."}\n'
        '{"id": "B", "text": "Badge reader at the BER-2 gate offline; power-cycled it."}\n'
    )
    assert ingest_paths(store, [export.parent], kind="incident").added == 2
    export.write_text('{"id": "B", "text": "Badge reader at the BER-2 gate offline; power-cycled it."}\n')

    summary = ingest_paths(store, [export], kind="incident")

    assert (summary.removed, summary.unchanged) == (1, 1)
    assert set(store.manifest()) == {"incident:export/past.jsonl/B"}


@pytest.mark.parametrize("problem", ["missing", "empty", "not-utf8", "bad-front-matter"])
def test_bad_input_names_the_path_and_writes_nothing(
    store: KnowledgeStore, embedder: CountingEmbedder, corpus: Path, tmp_path: Path, problem: str
) -> None:
    bad = tmp_path / "bad"
    if problem == "empty":
        bad.mkdir()
    elif problem == "not-utf8":
        bad.mkdir()
        (bad / "latin1.md").write_bytes("# Caf\xe9\n\nno UTF-8".encode("latin-1"))
    elif problem == "bad-front-matter":
        bad.mkdir()
        (bad / "broken.md").write_text("---\ntitle: [unclosed\n---\n# Broken\n")

    with pytest.raises(CorpusError) as caught:
        ingest_paths(store, [corpus, bad])

    assert str(bad) in caught.value.path
    assert store.count() == 0
    assert store.manifest() == {}
    assert embedder.calls == 0


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files regardless of permissions")
def test_unreadable_file_is_named(store: KnowledgeStore, tmp_path: Path) -> None:
    path = tmp_path / "secret.md"
    path.write_text("# Secret")
    path.chmod(0)
    with pytest.raises(CorpusError, match=r"secret\.md: cannot be read"):
        ingest_paths(store, [path])


def test_resolved_incidents_become_searchable_past_incidents(store: KnowledgeStore, tmp_path: Path) -> None:
    itsm = open_local_systems(tmp_path / "s.db").itsm
    resolved = itsm.search_incidents(state=IncidentState.RESOLVED, limit=1000)
    closed = itsm.search_incidents(state=IncidentState.CLOSED, limit=1000)

    summary = ingest_incidents(store, itsm)

    assert summary.added == len(resolved) + len(closed)
    manifest = store.manifest()
    assert "incident:INC0010001" in manifest
    assert "incident:INC0010047" not in manifest  # still in progress
    [hit] = Retriever(store).search(
        "VPN tunnel drops every ten minutes for office users", k=1, kind="incident"
    )
    assert hit.doc_id == "incident:INC0010001"
    assert hit.title.startswith("INC0010001: VPN disconnects")
    assert hit.citation.id == "inc:INC0010001"
    assert hit.metadata["service"] == "vpn-gateway"
    assert "Resolution (Solution provided)" in hit.passages[0].text
    assert "28800" in hit.passages[0].text

    # What staff resolve today grounds tomorrow's answers.
    itsm.resolve_incident(
        "INC0010047",
        resolution_code="Solution provided",
        resolution_notes="fw-edge-01 sync dropped the IKE rules for BER-2 and WAW-1; restored them.",
        resolved_by="dave.incident",
    )
    again = ingest_incidents(store, itsm)
    assert (again.added, again.updated, again.unchanged) == (1, 0, summary.added)
    hits = Retriever(store).search("site VPN down, firewall sync dropped IKE rules", k=3, kind="incident")
    assert hits[0].doc_id == "incident:INC0010047"


def test_reopened_incidents_are_removed(store: KnowledgeStore, tmp_path: Path) -> None:
    itsm = open_local_systems(tmp_path / "s.db").itsm
    ingest_incidents(store, itsm)

    summary = ingest_incidents(store, _HidingITSM(itsm, hidden="INC0010001"))

    assert summary.removed == 1
    assert "incident:INC0010001" not in store.manifest()


class _HidingITSM(LocalITSM):
    """The local ITSM with one incident left out of searches, as if it had been reopened."""

    def __init__(self, inner: ITSMBackend, *, hidden: str) -> None:
        self._inner = inner
        self._hidden = hidden

    def search_incidents(self, **kwargs: Any) -> list[Incident]:
        return [i for i in self._inner.search_incidents(**kwargs) if i.number != self._hidden]


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


ZANZIBAR = "# Zanzibar gateway\n\n## Restart\n\nRestart the zanzibar gateway pods one at a time.\n"
QUOKKA = "# Quokka queue\n\n## Drain\n\nDrain the quokka queue before the nightly batch.\n"


def test_two_roots_with_the_same_relative_path_stay_two_documents(
    store: KnowledgeStore, embedder: CountingEmbedder, tmp_path: Path
) -> None:
    _write(tmp_path / "team-a" / "runbooks" / "x.md", ZANZIBAR)
    _write(tmp_path / "team-b" / "runbooks" / "x.md", QUOKKA)

    ingest_paths(store, [tmp_path / "team-a"])
    ingest_paths(store, [tmp_path / "team-b"])

    assert set(store.manifest()) == {"runbook:team-a/runbooks/x.md", "runbook:team-b/runbooks/x.md"}
    retriever = Retriever(store)
    [zanzibar] = retriever.search("zanzibar gateway", k=1, mode="bm25")
    [quokka] = retriever.search("quokka queue", k=1, mode="bm25")
    assert (zanzibar.citation.id, zanzibar.source) == ("rb:team-a/runbooks/x.md#restart", "runbooks/x.md")
    assert (quokka.citation.id, quokka.source) == ("rb:team-b/runbooks/x.md#drain", "runbooks/x.md")

    embedder.calls = 0
    again = ingest_paths(store, [tmp_path / "team-a", tmp_path / "team-b"])
    assert (again.added, again.updated, again.unchanged, again.removed) == (0, 0, 2, 0)
    assert embedder.calls == 0


def test_roots_with_the_same_name_are_told_apart_and_keep_their_ids(
    store: KnowledgeStore, embedder: CountingEmbedder, tmp_path: Path
) -> None:
    first = _write(tmp_path / "one" / "corpus" / "x.md", ZANZIBAR).parent
    second = _write(tmp_path / "two" / "corpus" / "x.md", QUOKKA).parent

    assert ingest_paths(store, [first, second]).added == 2

    ids = set(store.manifest())
    assert "runbook:corpus/x.md" in ids
    [other] = ids - {"runbook:corpus/x.md"}
    assert re.fullmatch(r"runbook:corpus~[0-9a-f]{6}/x\.md", other)
    embedder.calls = 0
    assert ingest_paths(store, [second]).unchanged == 1
    assert ingest_paths(store, [first]).unchanged == 1
    assert set(store.manifest()) == ids
    assert embedder.calls == 0


def test_keep_going_ingests_the_good_files_and_lists_the_bad(
    store: KnowledgeStore, corpus: Path, tmp_path: Path
) -> None:
    (corpus / "latin1.md").write_bytes("# Caf\xe9\n\nno UTF-8".encode("latin-1"))
    _write(corpus / "export" / "queries.jsonl", '{"query": "not a document"}\n')
    missing = tmp_path / "nowhere"

    summary = ingest_paths(store, [corpus, missing], keep_going=True)

    assert summary.added == len(SMALL)
    assert [(Path(f.path).name, f.problem) for f in summary.failed] == [
        ("nowhere", "no such file or directory"),
        ("queries.jsonl", 'line 1: expected an object with a "text" string'),
        ("latin1.md", "not UTF-8 text (invalid continuation byte at byte 5)"),
    ]
    assert summary.to_dict()["failed"][0] == {"path": str(missing), "problem": "no such file or directory"}
    assert {entry.file for entry in store.manifest().values()} == set(SMALL)


def test_keep_going_keeps_the_last_good_version_of_a_file_that_became_bad(
    store: KnowledgeStore, corpus: Path
) -> None:
    ingest_paths(store, [corpus])
    broken = corpus / "it-ops/database-replica-lag.md"
    broken.write_text("---\ntitle: [unclosed\n---\n# Broken\n")

    summary = ingest_paths(store, [corpus], keep_going=True, prune=True)

    assert [Path(f.path).name for f in summary.failed] == ["database-replica-lag.md"]
    assert (summary.removed, summary.unchanged) == (0, 2)
    assert "runbook:corpus/it-ops/database-replica-lag.md" in store.manifest()


def test_a_folder_ingestignore_skips_what_it_lists(store: KnowledgeStore, corpus: Path) -> None:
    _write(corpus / "README.md", "# About this folder\n")
    _write(corpus / "queries.jsonl", '{"query": "not a document"}\n')
    _write(corpus / "drafts" / "wip.md", "# Work in progress\n")
    _write(corpus / ".ingestignore", "# not runbooks\nREADME.md\nqueries.jsonl\ndrafts/\n")

    summary = ingest_paths(store, [corpus])

    assert summary.added == len(SMALL)
    assert {entry.file for entry in store.manifest().values()} == set(SMALL)
