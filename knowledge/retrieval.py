"""Hybrid retrieval: dense (Chroma) and BM25 rankings fused per document, each hit with citations."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from knowledge.documents import Kind
from knowledge.filters import matches
from knowledge.fusion import FusionConfig, first_occurrences, weighted_rrf
from knowledge.lexical import LexicalIndex, Tokenizer, default_stemmer
from knowledge.store import RESERVED_KEYS, KnowledgeStore, StoredChunk

Mode: TypeAlias = Literal["hybrid", "dense", "bm25"]
MODES: tuple[Mode, ...] = ("hybrid", "dense", "bm25")
SNIPPET_CHARS = 240


@dataclass(frozen=True, kw_only=True)
class Citation:
    """What an answer cites: a stable id (``rb:<path>#<anchor>``, ``inc:<number>``), the source path
    relative to the ingested root, the section path and a short snippet of the passage."""

    id: str
    source: str
    section: str
    snippet: str

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "source": self.source, "section": self.section, "snippet": self.snippet}


@dataclass(frozen=True, kw_only=True)
class Passage:
    chunk_id: str
    citation: Citation
    text: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "chunk_id": self.chunk_id,
            "citation": self.citation.to_dict(),
            "text": self.text,
            "score": self.score,
        }


@dataclass(frozen=True, kw_only=True)
class Hit:
    """One source document, ranked: ``score`` is the fused score, ``passages`` its best passages (best
    first), ``dense_rank`` / ``bm25_rank`` where it ranked in each retriever (``None``: not in the
    candidates), ``similarity`` the best cosine similarity of its passages (``None`` without dense)."""

    doc_id: str
    kind: Kind
    title: str
    source: str
    score: float
    passages: tuple[Passage, ...]
    metadata: Mapping[str, Any] = field(default_factory=dict)
    dense_rank: int | None = None
    bm25_rank: int | None = None
    similarity: float | None = None

    @property
    def citation(self) -> Citation:
        return self.passages[0].citation

    def to_dict(self) -> dict[str, Any]:
        return {
            "doc_id": self.doc_id,
            "kind": self.kind,
            "title": self.title,
            "source": self.source,
            "score": self.score,
            "citation": self.citation.to_dict(),
            "passages": [passage.to_dict() for passage in self.passages],
            "metadata": dict(self.metadata),
            "dense_rank": self.dense_rank,
            "bm25_rank": self.bm25_rank,
            "similarity": self.similarity,
        }


class _Snapshot:
    """The store's chunks at one revision, with their BM25 index and cached filter masks."""

    def __init__(self, revision: str, chunks: list[StoredChunk], tokenizer: Tokenizer) -> None:
        self.revision = revision
        self.chunks = chunks
        self.rows = {chunk.chunk_id: row for row, chunk in enumerate(chunks)}
        self.lexical = LexicalIndex([chunk.indexed_text() for chunk in chunks], tokenizer=tokenizer)
        self._masks: dict[str, npt.NDArray[np.bool_] | None] = {}

    def mask(self, kind: Kind | None, where: Mapping[str, Any] | None) -> npt.NDArray[np.bool_] | None:
        key = json.dumps([kind, where], sort_keys=True, default=str)
        if key not in self._masks:
            self._masks[key] = None if kind is None and not where else self._build_mask(kind, where)
        return self._masks[key]

    def _build_mask(self, kind: Kind | None, where: Mapping[str, Any] | None) -> npt.NDArray[np.bool_]:
        return np.fromiter(
            (
                (kind is None or chunk.kind == kind) and (not where or matches(chunk.metadata, where))
                for chunk in self.chunks
            ),
            dtype=np.bool_,
            count=len(self.chunks),
        )


@dataclass(frozen=True, kw_only=True)
class _Ranked:
    """Chunk rows ranked by one retriever, best first, with their scores."""

    rows: list[int]
    scores: dict[int, float]


class Retriever:
    """Searches a :class:`KnowledgeStore`. Thread-safe; reuses its BM25 index until the store changes."""

    def __init__(
        self, store: KnowledgeStore, *, fusion: FusionConfig | None = None, tokenizer: Tokenizer | None = None
    ) -> None:
        self.store = store
        self.fusion = fusion or FusionConfig()
        self.tokenizer = tokenizer or Tokenizer(stemmer=default_stemmer())
        self._snapshot: _Snapshot | None = None
        self._lock = threading.Lock()

    def search(
        self,
        query: str,
        *,
        k: int = 5,
        kind: Kind | None = None,
        where: Mapping[str, Any] | None = None,
        mode: Mode = "hybrid",
    ) -> list[Hit]:
        """The ``k`` best documents for ``query``, optionally only of ``kind`` and matching ``where``
        (Chroma filter syntax over chunk metadata: front matter keys, ``source``, ``kind``...)."""
        return self.search_batch([query], k=k, kind=kind, where=where, mode=mode)[0]

    def search_batch(
        self,
        queries: Sequence[str],
        *,
        k: int = 5,
        kind: Kind | None = None,
        where: Mapping[str, Any] | None = None,
        mode: Mode = "hybrid",
    ) -> list[list[Hit]]:
        """:meth:`search` for many queries, with one embedding call and one store round trip.

        One result per query, in order; a blank query matches nothing (an empty list)."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        if k < 1:
            raise ValueError("k must be at least 1")
        results: list[list[Hit]] = [[] for _ in queries]
        asked = [i for i, query in enumerate(queries) if query.strip()]
        snapshot = self._current()
        if not snapshot.chunks or not asked:
            return results
        texts = [queries[i] for i in asked]
        depth = max(self.fusion.candidates, 5 * k)
        dense = self._dense(snapshot, texts, depth, kind, where) if mode != "bm25" else None
        lexical = [self._bm25(snapshot, q, depth, kind, where) for q in texts] if mode != "dense" else None
        for n, i in enumerate(asked):
            results[i] = self._hits(
                snapshot, queries[i], k, dense[n] if dense else None, lexical[n] if lexical else None
            )
        return results

    def refresh(self) -> None:
        """Rebuild the lexical index now if the store changed (searches do this when needed)."""
        self._current()

    def _current(self) -> _Snapshot:
        revision = self.store.revision()
        with self._lock:
            if self._snapshot is None or self._snapshot.revision != revision:
                self._snapshot = _Snapshot(revision, self.store.chunks(), self.tokenizer)
            return self._snapshot

    def _dense(
        self,
        snapshot: _Snapshot,
        queries: Sequence[str],
        depth: int,
        kind: Kind | None,
        where: Mapping[str, Any] | None,
    ) -> list[_Ranked]:
        vectors = self.store.embedder.embed_queries(list(queries))
        results = self.store.nearest(vectors, n=depth, kind=kind, where=where)
        # An id missing from the snapshot was written after it was taken; the next search picks it up.
        return [
            _ranked([(snapshot.rows[i], score) for i, score in pairs if i in snapshot.rows])
            for pairs in results
        ]

    def _bm25(
        self, snapshot: _Snapshot, query: str, depth: int, kind: Kind | None, where: Mapping[str, Any] | None
    ) -> _Ranked:
        return _ranked(snapshot.lexical.top(query, depth, mask=snapshot.mask(kind, where)))

    def _hits(
        self, snapshot: _Snapshot, query: str, k: int, dense: _Ranked | None, lexical: _Ranked | None
    ) -> list[Hit]:
        rankings = {name: ranked for name, ranked in (("dense", dense), ("bm25", lexical)) if ranked}
        fused = _Fused.of(snapshot, rankings, self.fusion)
        query_words = set(self.tokenizer(query))
        return [
            self._hit(snapshot, fused, doc_id, score, query_words)
            for doc_id, score in list(fused.doc_scores.items())[:k]
        ]

    def _hit(
        self, snapshot: _Snapshot, fused: _Fused, doc_id: str, score: float, query_words: set[str]
    ) -> Hit:
        rows = fused.rows_of[doc_id]
        best = snapshot.chunks[rows[0]]
        passages = tuple(
            _passage(snapshot.chunks[row], fused.chunk_scores[row], query_words, self.tokenizer)
            for row in rows[: self.fusion.passages]
        )
        similarities = [fused.similarities[row] for row in rows if row in fused.similarities]
        return Hit(
            doc_id=doc_id,
            kind=best.kind,
            title=best.title,
            source=best.source,
            score=score,
            passages=passages,
            metadata={key: value for key, value in best.metadata.items() if key not in RESERVED_KEYS},
            dense_rank=_rank_of(doc_id, fused.doc_rankings.get("dense")),
            bm25_rank=_rank_of(doc_id, fused.doc_rankings.get("bm25")),
            similarity=max(similarities) if similarities else None,
        )


@dataclass(frozen=True, kw_only=True)
class _Fused:
    """One query's rankings fused: documents (a document ranks where its best chunk ranks) and chunks."""

    doc_rankings: dict[str, list[str]]
    doc_scores: dict[str, float]
    chunk_scores: dict[int, float]
    rows_of: dict[str, list[int]]  # each document's candidate chunks, best first
    similarities: dict[int, float]

    @classmethod
    def of(cls, snapshot: _Snapshot, rankings: Mapping[str, _Ranked], config: FusionConfig) -> _Fused:
        weights = {"dense": config.dense_weight, "bm25": config.bm25_weight}
        doc_of = [chunk.doc_id for chunk in snapshot.chunks]
        doc_rankings = {
            name: first_occurrences([doc_of[row] for row in ranked.rows]) for name, ranked in rankings.items()
        }
        chunk_scores = weighted_rrf({name: r.rows for name, r in rankings.items()}, weights, k=config.rrf_k)
        rows_of: dict[str, list[int]] = {}
        for row in chunk_scores:
            rows_of.setdefault(doc_of[row], []).append(row)
        return cls(
            doc_rankings=doc_rankings,
            doc_scores=weighted_rrf(doc_rankings, weights, k=config.rrf_k),
            chunk_scores=chunk_scores,
            rows_of=rows_of,
            similarities=rankings["dense"].scores if "dense" in rankings else {},
        )


def _ranked(pairs: Sequence[tuple[int, float]]) -> _Ranked:
    return _Ranked(rows=[row for row, _ in pairs], scores=dict(pairs))


def _rank_of(doc_id: str, ranking: list[str] | None) -> int | None:
    if not ranking or doc_id not in ranking:
        return None
    return ranking.index(doc_id) + 1


def _passage(chunk: StoredChunk, score: float, query_words: set[str], tokenizer: Tokenizer) -> Passage:
    citation = Citation(
        id=chunk.citation_id,
        source=chunk.source,
        section=chunk.section,
        snippet=snippet(chunk.text, query_words, tokenizer),
    )
    return Passage(chunk_id=chunk.chunk_id, citation=citation, text=chunk.text, score=score)


_SENTENCE_BREAK = re.compile(r"(?<=[.!?:])\s+|\n+")


def snippet(text: str, query_words: set[str], tokenizer: Tokenizer, width: int = SNIPPET_CHARS) -> str:
    """About ``width`` characters of ``text`` starting at the sentence sharing most words with the query."""
    flat = " ".join(text.split())
    if len(flat) <= width:
        return flat
    sentences = [s for s in _SENTENCE_BREAK.split(text) if s.strip()]
    best = max(sentences, key=lambda s: len(query_words.intersection(tokenizer(s))), default="")
    start = flat.find(" ".join(best.split())) if best else 0
    start = max(start, 0)
    window = flat[start : start + width]
    cut = window.rsplit(" ", 1)[0] if start + width < len(flat) else window
    return ("… " if start else "") + cut + (" …" if start + width < len(flat) else "")
