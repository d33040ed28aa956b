"""Ingestion: files and ITSM incidents into the store, idempotent by content hash.

A document whose fingerprint (content, title, metadata, root, chunking) matches the manifest is skipped
before anything is chunked or embedded, so re-ingesting an unchanged corpus never loads the model.
Re-ingesting a file replaces every document that came from it; ``prune`` also removes documents whose
files are gone from an ingested directory. Everything is read and validated before the first write:
one bad file stops the ingestion with nothing written, unless ``keep_going`` asks to ingest the rest
and report the bad files in the summary.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np

from knowledge.chunking import ChunkingConfig, chunk_document
from knowledge.documents import Document, Kind
from knowledge.embeddings import Vectors
from knowledge.errors import CorpusError
from knowledge.sources import ITSM_ROOT, discover, incident_document, read_documents, root_label
from knowledge.store import DocumentChunks, KnowledgeStore, ManifestEntry
from tools.models import IncidentState
from tools.protocols import ITSMBackend

EMBED_BATCH = 128
_T = TypeVar("_T")
_PAST_STATES = (IncidentState.RESOLVED, IncidentState.CLOSED)


@dataclass(frozen=True, kw_only=True)
class IngestProgress:
    """Reported while ingesting: ``done`` of ``total`` units of the current ``stage``."""

    stage: Literal["read", "embed", "write"]
    done: int
    total: int


ProgressCallback = Callable[[IngestProgress], None]


@dataclass(frozen=True, kw_only=True)
class FileProblem:
    """A path that was not ingested (with ``keep_going``) and why."""

    path: str
    problem: str


@dataclass(frozen=True, kw_only=True)
class IngestSummary:
    """Documents added, updated (re-embedded), unchanged (skipped) and removed; chunks embedded; the
    paths left out because they could not be read (only with ``keep_going``; their documents from an
    earlier ingestion are kept)."""

    added: int
    updated: int
    unchanged: int
    removed: int
    chunks: int
    seconds: float
    failed: tuple[FileProblem, ...] = ()

    @property
    def chunks_per_s(self) -> float:
        return self.chunks / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"chunks_per_s": round(self.chunks_per_s, 1)}


@dataclass(frozen=True, kw_only=True)
class _Scan:
    """What one ingestion found: documents by id and the ids it may remove."""

    documents: dict[str, Document]
    stale: set[str]
    failed: tuple[FileProblem, ...] = ()


def ingest_paths(
    store: KnowledgeStore,
    paths: Iterable[Path | str],
    *,
    kind: Kind = "runbook",
    prune: bool = False,
    keep_going: bool = False,
    progress: ProgressCallback | None = None,
    chunking: ChunkingConfig | None = None,
) -> IngestSummary:
    """Ingest Markdown, text and JSONL files (directories recursively) as documents of ``kind``.

    Document ids are ``<kind>:<root label>/<path relative to the root>``, the label being the ingested
    directory's name (with a short hash of its full path when another root in the store has that name),
    so two roots holding the same relative path stay apart. Raises :class:`CorpusError` (nothing
    written) for a missing path, an unreadable or malformed file, or a directory with nothing to ingest;
    with ``keep_going`` such paths are skipped and listed in the summary's ``failed`` instead.
    """
    started = time.perf_counter()
    manifest = store.manifest()
    scan = _scan_paths([Path(p) for p in paths], kind, prune, keep_going, manifest, progress)
    return _apply(store, scan, manifest, chunking or ChunkingConfig(), progress, started)


def ingest_incidents(
    store: KnowledgeStore,
    itsm: ITSMBackend,
    *,
    limit: int = 10_000,
    progress: ProgressCallback | None = None,
    chunking: ChunkingConfig | None = None,
) -> IngestSummary:
    """Ingest resolved and closed incidents as past-incident documents (``incident:<number>``).

    Incidents ingested earlier that are no longer resolved or closed (reopened) are removed, unless the
    backend returned ``limit`` incidents of a state, in which case the list may be incomplete.
    """
    started = time.perf_counter()
    manifest = store.manifest()
    scan = _scan_incidents(itsm, limit, manifest)
    return _apply(store, scan, manifest, chunking or ChunkingConfig(), progress, started)


def _scan_incidents(itsm: ITSMBackend, limit: int, manifest: dict[str, ManifestEntry]) -> _Scan:
    found = [itsm.search_incidents(state=state, limit=limit) for state in _PAST_STATES]
    documents = [incident_document(incident) for incidents in found for incident in incidents]
    complete = all(len(incidents) < limit for incidents in found)
    stale = {doc_id for doc_id, entry in manifest.items() if entry.root == ITSM_ROOT} if complete else set()
    return _Scan(documents={doc.doc_id: doc for doc in documents}, stale=stale)


def _scan_paths(
    paths: Sequence[Path],
    kind: Kind,
    prune: bool,
    keep_going: bool,
    manifest: dict[str, ManifestEntry],
    progress: ProgressCallback | None,
) -> _Scan:
    if not paths:
        raise CorpusError("", "no paths given")
    problems = _Problems(keep_going=keep_going)
    listed: list[tuple[Path, Path, list[Path]]] = []
    for path in paths:
        discovered = problems.attempt(partial(discover, path))
        if discovered is not None:
            listed.append((path, *discovered))
    labels = _root_labels([str(root) for _, root, _ in listed], manifest)
    total = sum(len(files) for _, _, files in listed)
    documents: dict[str, Document] = {}
    read_files: set[tuple[str, str]] = set()
    unread: set[tuple[str, str]] = set()
    for _, root, files in listed:
        for file in files:
            where = (str(root), file.relative_to(root).as_posix())
            read = problems.attempt(partial(read_documents, file, root, kind, labels[str(root)]))
            documents |= {doc.doc_id: doc for doc in read or []}
            (read_files if read is not None else unread).add(where)
            _report(progress, "read", len(read_files) + len(unread), total)
    pruned_roots = {str(root) for path, root, _ in listed if prune and path.is_dir()}
    # A file that could not be read keeps what an earlier ingestion stored from it.
    stale = {
        doc_id
        for doc_id, entry in manifest.items()
        if (entry.root, entry.file) not in unread
        and ((entry.root, entry.file) in read_files or (entry.kind == kind and entry.root in pruned_roots))
    }
    return _Scan(documents=documents, stale=stale, failed=tuple(problems.found))


class _Problems:
    """Corpus errors raised at once, or collected when the caller asked to keep going."""

    def __init__(self, *, keep_going: bool) -> None:
        self.keep_going = keep_going
        self.found: list[FileProblem] = []

    def attempt(self, read: Callable[[], _T]) -> _T | None:
        try:
            return read()
        except CorpusError as error:
            if not self.keep_going:
                raise
            self.found.append(FileProblem(path=error.path, problem=error.problem))
            return None


def _root_labels(roots: Sequence[str], manifest: dict[str, ManifestEntry]) -> dict[str, str]:
    """Each root's label: the one it already has in the store, else a new one no other root uses."""
    labels = {entry.root: entry.label for entry in manifest.values() if entry.label}
    taken = set(labels.values())
    for root in roots:
        if root not in labels:
            labels[root] = root_label(root, taken)
            taken.add(labels[root])
    return labels


def _apply(
    store: KnowledgeStore,
    scan: _Scan,
    manifest: dict[str, ManifestEntry],
    chunking: ChunkingConfig,
    progress: ProgressCallback | None,
    started: float,
) -> IngestSummary:
    fingerprints = {doc_id: _fingerprint(doc, chunking) for doc_id, doc in scan.documents.items()}
    changed = [
        doc for doc_id, doc in scan.documents.items() if _entry_hash(manifest, doc_id) != fingerprints[doc_id]
    ]
    prepared = [
        DocumentChunks(
            document=doc, chunks=chunk_document(doc, chunking), fingerprint=fingerprints[doc.doc_id]
        )
        for doc in changed
    ]
    vectors = _embed(store, prepared, progress)
    if prepared:
        store.write(prepared, vectors)
        _report(progress, "write", len(prepared), len(prepared))
    removed = scan.stale - scan.documents.keys()
    store.remove(removed)
    added = sum(1 for doc in changed if doc.doc_id not in manifest)
    return IngestSummary(
        added=added,
        updated=len(changed) - added,
        unchanged=len(scan.documents) - len(changed),
        removed=len(removed),
        chunks=sum(len(item.chunks) for item in prepared),
        seconds=time.perf_counter() - started,
        failed=scan.failed,
    )


def _embed(
    store: KnowledgeStore, prepared: list[DocumentChunks], progress: ProgressCallback | None
) -> Vectors:
    texts = [chunk.indexed_text() for item in prepared for chunk in item.chunks]
    batches = []
    for start in range(0, len(texts), EMBED_BATCH):
        batches.append(store.embedder.embed_documents(texts[start : start + EMBED_BATCH]))
        _report(progress, "embed", min(start + EMBED_BATCH, len(texts)), len(texts))
    return np.vstack(batches) if batches else np.zeros((0, 1), dtype=np.float32)


def _entry_hash(manifest: dict[str, ManifestEntry], doc_id: str) -> str | None:
    entry = manifest.get(doc_id)
    return entry.content_hash if entry else None


def _fingerprint(document: Document, chunking: ChunkingConfig) -> str:
    payload = (
        f"{document.content_hash}|{document.root}|{document.file}|{chunking.max_chars}|{chunking.min_chars}"
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def _report(
    progress: ProgressCallback | None, stage: Literal["read", "embed", "write"], done: int, total: int
) -> None:
    if progress is not None:
        progress(IngestProgress(stage=stage, done=done, total=total))
