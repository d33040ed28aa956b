"""Fixtures of the knowledge tests: the real bundled model, loaded once, and corpora copied to tmp dirs."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

from knowledge import KnowledgeStore, MiniLMEmbedder, Vectors, ingest_paths, open_store

# The dev corpus next to the repository (../shared), as the grounding issue describes it.
OPENSHIFT = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "openshift-runbooks" / "runbooks"

# Real runbooks written by others: nested headings, fenced code with "# comment" lines, long sections.
OPENSHIFT_SAMPLE = (
    "cluster-kube-apiserver-operator/KubeAPIErrorBudgetBurn.md",
    "cluster-etcd-operator/etcdMembersDown.md",
    "cluster-monitoring-operator/KubeNodeNotReady.md",
    "cluster-monitoring-operator/AlertmanagerFailedReload.md",
    "cluster-monitoring-operator/KubeletDown.md",
    "cluster-monitoring-operator/NodeFilesystemAlmostOutOfSpace.md",
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


def copy_runbooks(target: Path, names: Sequence[str] = OPENSHIFT_SAMPLE) -> Path:
    for name in names:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(OPENSHIFT / name, target / name)
    return target


@pytest.fixture
def embedder(model: MiniLMEmbedder) -> CountingEmbedder:
    return CountingEmbedder(model)


@pytest.fixture
def store(tmp_path: Path, embedder: CountingEmbedder) -> KnowledgeStore:
    return open_store(tmp_path / "knowledge", embedder=embedder)


@pytest.fixture(scope="session")
def openshift_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_runbooks(tmp_path_factory.mktemp("openshift") / "runbooks")


@pytest.fixture(scope="session")
def searched(tmp_path_factory: pytest.TempPathFactory, model: MiniLMEmbedder, openshift_copy: Path) -> Path:
    """A store directory holding the sample runbooks (read-only for the tests that share it)."""
    directory = tmp_path_factory.mktemp("searched") / "knowledge"
    ingest_paths(open_store(directory, embedder=model), [openshift_copy])
    return directory
