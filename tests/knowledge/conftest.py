"""Fixtures of the knowledge tests: the real bundled model, loaded once, and runbooks copied to tmp dirs.

The runbooks come from the repository's own demo corpus (``knowledge/corpus``), so these tests run in
any clone. Only the tests about the OpenShift dev corpus (``../shared``, beside the repository) need
that folder; they take ``needs_openshift`` and are skipped, naming it, where it is missing.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

from knowledge import KnowledgeStore, MiniLMEmbedder, Vectors, ingest_paths, open_store

# The demo corpus shipped in the repository (what `opslayer ingest knowledge/corpus` reads).
SHIPPED = Path(__file__).resolve().parents[2] / "knowledge" / "corpus"

# Six of its runbooks, on neighbouring subjects (hosts, networks, databases), for the tests that
# search: some queries share words with several of them.
SAMPLE = (
    "it-ops/disk-full.md",
    "it-ops/vpn-down.md",
    "it-ops/tls-certificate-expiry.md",
    "it-ops/connection-pool-exhaustion.md",
    "it-ops/database-replica-lag.md",
    "it-ops/dns-resolution-failure.md",
)

# The dev corpus next to the repository (../shared), as the grounding issue describes it: real runbooks
# written by others (nested headings, fenced code with "# comment" lines, long sections).
OPENSHIFT = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "openshift-runbooks" / "runbooks"

needs_openshift = pytest.mark.skipif(
    not OPENSHIFT.is_dir(),
    reason=f"needs the OpenShift dev corpus at {OPENSHIFT} (the ../shared folder beside the repository)",
)


class CountingEmbedder:
    """The session's model, counting how many texts it is asked to embed."""

    def __init__(self, inner: MiniLMEmbedder) -> None:
        self._inner = inner
        self.calls = 0
        self.texts = 0

    @property
    def name(self) -> str:
        return self._inner.name

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        self.calls += 1
        self.texts += len(texts)
        return self._inner.embed_documents(texts)

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self._inner.embed_queries(texts)


def copy_runbooks(target: Path, names: Sequence[str] = SAMPLE) -> Path:
    """Copy shipped runbooks (paths relative to ``knowledge/corpus/runbooks``) to ``target``."""
    for name in names:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SHIPPED / "runbooks" / name, target / name)
    return target


@pytest.fixture
def embedder(model: MiniLMEmbedder) -> CountingEmbedder:
    return CountingEmbedder(model)


@pytest.fixture
def store(tmp_path: Path, embedder: CountingEmbedder) -> KnowledgeStore:
    return open_store(tmp_path / "knowledge", embedder=embedder)


@pytest.fixture(scope="session")
def searched(tmp_path_factory: pytest.TempPathFactory, model: MiniLMEmbedder) -> Path:
    """A store directory holding the sample runbooks (read-only for the tests that share it)."""
    runbooks = copy_runbooks(tmp_path_factory.mktemp("sample") / "runbooks")
    directory = tmp_path_factory.mktemp("searched") / "knowledge"
    ingest_paths(open_store(directory, embedder=model), [runbooks])
    return directory
