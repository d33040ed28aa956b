"""The Chroma store: one collection per kind of document plus a manifest of what was ingested.

Collections ``runbooks`` and ``incidents`` hold chunks (cosine space, vectors always supplied by our
embedder: Chroma's default embedding function downloads a model and fails offline). The ``manifest``
collection holds one record per document (content hash, root, file, chunk count) so that re-ingestion
compares hashes without embedding anything, and its metadata carries the store's revision (changed on
every write, so a retriever in any process knows when to rebuild its lexical index) and the embedder
name (a store is never filled with vectors from two models).

Opening an embedded store holds a file lock (``.open.lock`` in its directory): Chroma creates its
tables and collections without one, and processes opening a fresh directory at once would fail with
"table collections already exists".
"""

from __future__ import annotations

import fcntl
import uuid
from collections.abc import Collection as AbstractCollection
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import chromadb
import numpy as np
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.api.types import Where
from chromadb.config import Settings as ChromaSettings

from knowledge.documents import KINDS, Chunk, Document, Kind, Metadata, indexed_text
from knowledge.embeddings import Embedder, MiniLMEmbedder, Vectors
from knowledge.errors import StoreMismatch
from tools.errors import BackendUnavailable

COLLECTIONS: Mapping[Kind, str] = {"runbook": "runbooks", "incident": "incidents"}
MANIFEST = "manifest"
OPEN_LOCK = ".open.lock"
_PAGE = 5000
# Chunk metadata the store itself writes; a document's own metadata may not override these.
RESERVED_KEYS = frozenset(
    {
        "doc_id",
        "kind",
        "key",
        "source",
        "root",
        "file",
        "title",
        "section",
        "anchor",
        "citation_id",
        "ordinal",
    }
)


@dataclass(frozen=True, kw_only=True)
class ManifestEntry:
    doc_id: str
    kind: Kind
    root: str
    file: str
    content_hash: str
    chunks: int
    label: str = ""  # the root's label in document ids; empty for ITSM incidents and older stores


@dataclass(frozen=True, kw_only=True)
class DocumentChunks:
    """A document ready to write: its chunks and the fingerprint that decides if it changed."""

    document: Document
    chunks: Sequence[Chunk]
    fingerprint: str


@dataclass(frozen=True, kw_only=True)
class StoredChunk:
    """A chunk as read back from the store (what retrieval ranks and cites)."""

    chunk_id: str
    doc_id: str
    kind: Kind
    source: str
    title: str
    section: str
    citation_id: str
    text: str
    metadata: Metadata

    def indexed_text(self) -> str:
        return indexed_text(self.title, self.section, self.text)


class KnowledgeStore:
    """Chunks and manifest in Chroma. Build it with :func:`open_store`."""

    def __init__(self, client: ClientAPI, *, embedder: Embedder) -> None:
        self._client = client
        self.embedder = embedder
        self._chunks = {
            kind: client.get_or_create_collection(
                name, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
            )
            for kind, name in COLLECTIONS.items()
        }
        self._manifest = client.get_or_create_collection(
            MANIFEST,
            metadata={"embedder": embedder.name, "revision": _new_revision()},
            embedding_function=None,
        )
        stored = (self._manifest.metadata or {}).get("embedder", embedder.name)
        if stored != embedder.name:
            raise StoreMismatch(str(stored), embedder.name)

    def revision(self) -> str:
        """Changes whenever any process writes to the store."""
        metadata = self._client.get_collection(MANIFEST, embedding_function=None).metadata or {}
        return str(metadata.get("revision", ""))

    def manifest(self) -> dict[str, ManifestEntry]:
        return {
            record_id: _manifest_entry(record_id, metadata)
            for record_id, metadata in _records(self._manifest, include=["metadatas"])
        }

    def count(self, kind: Kind | None = None) -> int:
        """Chunks stored (of ``kind``); cheap, never loads the embedding model."""
        return sum(self._chunks[k].count() for k in _kinds(kind))

    def is_empty(self) -> bool:
        """Nothing to retrieve: nothing was ingested (or everything was removed). Cheap."""
        return self.count() == 0

    def write(self, documents: Sequence[DocumentChunks], vectors: Vectors) -> None:
        """Replace the chunks of ``documents`` (old chunks deleted) with the given chunks and vectors.

        ``vectors`` holds one row per chunk, in order. The manifest is written last, so an interrupted
        write leaves the old fingerprint recorded and the next ingestion redoes the document.
        """
        self._delete_chunks([item.document.doc_id for item in documents])
        chunks = [chunk for item in documents for chunk in item.chunks]
        for kind in KINDS:
            rows = [i for i, chunk in enumerate(chunks) if chunk.document.kind == kind]
            self._add_chunks(self._chunks[kind], [chunks[i] for i in rows], vectors[rows])
        self._upsert_manifest(documents)
        self._bump()

    def remove(self, doc_ids: AbstractCollection[str]) -> None:
        if not doc_ids:
            return
        self._delete_chunks(list(doc_ids))
        for batch in _batches(list(doc_ids), self._client.get_max_batch_size()):
            self._manifest.delete(ids=batch)
        self._bump()

    def chunks(self) -> list[StoredChunk]:
        """Every chunk of every kind (for the lexical index)."""
        return [
            _stored_chunk(record_id, document, metadata)
            for kind in KINDS
            for record_id, document, metadata in _records(
                self._chunks[kind], include=["documents", "metadatas"]
            )
        ]

    def nearest(
        self, vectors: Vectors, *, n: int, kind: Kind | None = None, where: Mapping[str, Any] | None = None
    ) -> list[list[tuple[str, float]]]:
        """For each query vector, up to ``n`` (chunk id, cosine similarity) pairs, most similar first."""
        merged: list[list[tuple[str, float]]] = [[] for _ in range(len(vectors))]
        for k in _kinds(kind):
            collection = self._chunks[k]
            if not collection.count():
                continue
            result = collection.query(
                query_embeddings=vectors,
                n_results=n,
                where=dict(where) if where else None,
                include=["distances"],
            )
            distances = result["distances"] or []
            for row, (ids, dists) in enumerate(zip(result["ids"], distances, strict=True)):
                merged[row].extend((i, 1.0 - d) for i, d in zip(ids, dists, strict=True))
        return [sorted(pairs, key=lambda pair: -pair[1])[:n] for pairs in merged]

    def _delete_chunks(self, doc_ids: list[str]) -> None:
        for batch in _batches(doc_ids, 500):
            for collection in self._chunks.values():
                collection.delete(where=cast(Where, {"doc_id": {"$in": batch}}))

    def _add_chunks(self, collection: Collection, chunks: list[Chunk], vectors: Vectors) -> None:
        size = self._client.get_max_batch_size()
        for start in range(0, len(chunks), size):
            batch = chunks[start : start + size]
            collection.add(
                ids=[chunk.chunk_id for chunk in batch],
                embeddings=vectors[start : start + size],
                documents=[chunk.text for chunk in batch],
                metadatas=[dict(_chunk_metadata(chunk)) for chunk in batch],
            )

    def _upsert_manifest(self, documents: Sequence[DocumentChunks]) -> None:
        size = self._client.get_max_batch_size()
        for start in range(0, len(documents), size):
            batch = documents[start : start + size]
            self._manifest.upsert(
                ids=[item.document.doc_id for item in batch],
                embeddings=np.ones((len(batch), 1), dtype=np.float32),
                metadatas=[dict(_manifest_metadata(item)) for item in batch],
            )

    def _bump(self) -> None:
        self._manifest.modify(metadata={"embedder": self.embedder.name, "revision": _new_revision()})


def open_store(
    path: Path | str | None = None, url: str | None = None, *, embedder: Embedder | None = None
) -> KnowledgeStore:
    """The store on a Chroma server at ``url`` if given, else embedded under ``path``.

    ``embedder`` defaults to :class:`MiniLMEmbedder` (loaded lazily). Raises ``BackendUnavailable`` when
    the server cannot be reached and ``StoreMismatch`` when the store holds another model's vectors.
    """
    embedder = embedder or MiniLMEmbedder()
    if url is not None:
        return KnowledgeStore(_http_client(url), embedder=embedder)
    if path is None:
        raise ValueError("open_store needs a directory (path) or a Chroma server URL (url)")
    with _opening(Path(path)):
        client = chromadb.PersistentClient(path=str(path), settings=_chroma_settings())
        return KnowledgeStore(client, embedder=embedder)


@contextmanager
def _opening(directory: Path) -> Iterator[None]:
    """Held while Chroma creates or migrates its tables and the collections are got or created."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / OPEN_LOCK).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _chroma_settings() -> ChromaSettings:
    return ChromaSettings(anonymized_telemetry=False)


def _http_client(url: str) -> ClientAPI:
    settings = _chroma_settings()
    parts = urlsplit(url)
    ssl = parts.scheme == "https"
    try:
        return chromadb.HttpClient(
            host=parts.hostname or "localhost",
            port=parts.port or (443 if ssl else 8000),
            ssl=ssl,
            settings=settings,
        )
    except Exception as exc:  # chromadb raises ValueError or httpx errors depending on the failure
        raise BackendUnavailable("chroma", f"{url}: {exc}", retryable=True) from exc


def _chroma_where(where: Mapping[str, Any] | None) -> Where | None:
    """Chroma wants several conditions spelled as ``$and``; callers may write them as one mapping."""
    if not where:
        return None
    clauses = [{key: value} for key, value in where.items()]
    return cast(Where, clauses[0] if len(clauses) == 1 else {"$and": clauses})


def _kinds(kind: Kind | None) -> tuple[Kind, ...]:
    return KINDS if kind is None else (kind,)


def _new_revision() -> str:
    return uuid.uuid4().hex


def _batches(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _records(collection: Collection, *, include: list[str]) -> Iterator[tuple[Any, ...]]:
    """Page through a whole collection: (id, document?, metadata) tuples as ``include`` asks."""
    offset = 0
    while True:
        page = collection.get(limit=_PAGE, offset=offset, include=cast(Any, include))
        columns = [page["documents"] or []] if "documents" in include else []
        yield from zip(page["ids"], *columns, page["metadatas"] or [], strict=True)
        if len(page["ids"]) < _PAGE:
            return
        offset += _PAGE


def _chunk_metadata(chunk: Chunk) -> Metadata:
    document = chunk.document
    own = {key: value for key, value in document.metadata.items() if key not in RESERVED_KEYS}
    return own | {
        "doc_id": document.doc_id,
        "kind": document.kind,
        "key": document.key,
        "source": document.source,
        "root": document.root,
        "file": document.file,
        "title": document.title,
        "section": chunk.section,
        "anchor": chunk.anchor,
        "citation_id": chunk.citation_id,
        "ordinal": chunk.ordinal,
    }


def _manifest_metadata(item: DocumentChunks) -> Metadata:
    return {
        "kind": item.document.kind,
        "root": item.document.root,
        "file": item.document.file,
        "content_hash": item.fingerprint,
        "chunks": len(item.chunks),
        "label": item.document.label,
    }


def _manifest_entry(doc_id: str, metadata: Mapping[str, Any]) -> ManifestEntry:
    return ManifestEntry(
        doc_id=doc_id,
        kind=metadata["kind"],
        root=str(metadata["root"]),
        file=str(metadata["file"]),
        content_hash=str(metadata["content_hash"]),
        chunks=int(metadata["chunks"]),
        label=str(metadata.get("label", "")),
    )


def _stored_chunk(chunk_id: str, text: str, metadata: Mapping[str, Any]) -> StoredChunk:
    return StoredChunk(
        chunk_id=chunk_id,
        doc_id=metadata["doc_id"],
        kind=metadata["kind"],
        source=str(metadata["source"]),
        title=str(metadata["title"]),
        section=str(metadata["section"]),
        citation_id=str(metadata["citation_id"]),
        text=text,
        metadata=dict(metadata),
    )
