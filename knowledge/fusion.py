"""Weighted reciprocal rank fusion of ranked lists.

``score(item) = Σ_r weight_r / (rrf_k + rank_r(item))`` with ranks from 1; an item missing from a list
gets nothing from it. Scores of different retrievers are never compared, only ranks, so BM25's unbounded
scores and cosine similarities combine without calibration.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T", bound=Hashable)


@dataclass(frozen=True, kw_only=True)
class FusionConfig:
    """How dense and BM25 rankings are combined.

    ``candidates`` chunks are taken from each retriever; rankings are fused per document (a document
    ranks where its best chunk ranks) and, for choosing passages, per chunk; each hit keeps its best
    ``passages`` chunks. On the openshift dev set ``rrf_k`` 5-10 beat the customary 60 for every chunking
    tried (top ranks of either retriever are usually right); the benchmark tunes these.
    """

    dense_weight: float = 1.0
    bm25_weight: float = 1.0
    rrf_k: float = 10.0
    candidates: int = 50
    passages: int = 3

    def __post_init__(self) -> None:
        if self.dense_weight < 0 or self.bm25_weight < 0 or self.dense_weight + self.bm25_weight == 0:
            raise ValueError("fusion weights must be non-negative and not both zero")
        if self.rrf_k < 0 or self.candidates < 1 or not 1 <= self.passages <= 10:
            raise ValueError("rrf_k must be >= 0, candidates >= 1 and passages between 1 and 10")


def weighted_rrf(
    rankings: Mapping[str, Sequence[T]], weights: Mapping[str, float], *, k: float = 60.0
) -> dict[T, float]:
    """Fused scores of every item in ``rankings`` (name → items best first), sorted best first.

    Ties keep the order in which items were first seen, lists taken in ``rankings`` order, so the result
    is deterministic.
    """
    scores: dict[T, float] = {}
    for name, ranking in rankings.items():
        weight = weights.get(name, 0.0)
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return dict(sorted(scores.items(), key=lambda pair: -pair[1]))


def first_occurrences(items: Sequence[T]) -> list[T]:
    """``items`` without repeats, in first-seen order (a chunk ranking → its document ranking)."""
    return list(dict.fromkeys(items))
