"""Document-level retrieval metrics: Recall@1/5/10 and MRR@10 over a set of labelled queries.

A query counts as answered at rank ``r`` when any of its expected documents is the ``r``-th ranked
document (hits are already grouped per source document by the retriever). Queries whose expected
document is not in the top 10 score 0 for MRR@10 and miss every recall cut-off.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Split = Literal["dev", "test"]
CUTOFF = 10


@dataclass(frozen=True, kw_only=True)
class LabelledQuery:
    """A query and the source paths (relative to the ingested root) that answer it."""

    text: str
    expected: frozenset[str]
    split: Split = "dev"


@dataclass(frozen=True, kw_only=True)
class RetrievalMetrics:
    queries: int
    recall_at_1: float
    recall_at_5: float
    recall_at_10: float
    mrr_at_10: float

    @classmethod
    def from_ranks(cls, ranks: Sequence[int | None]) -> RetrievalMetrics:
        """Metrics of one rank per query (1-based rank of the first expected document, ``None``: missed)."""
        n = len(ranks)
        if not n:
            raise ValueError("no queries to score")
        within = [rank for rank in ranks if rank is not None and rank <= CUTOFF]
        return cls(
            queries=n,
            recall_at_1=sum(rank <= 1 for rank in within) / n,
            recall_at_5=sum(rank <= 5 for rank in within) / n,
            recall_at_10=len(within) / n,
            mrr_at_10=sum(1 / rank for rank in within) / n,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "queries": self.queries,
            "recall@1": round(self.recall_at_1, 3),
            "recall@5": round(self.recall_at_5, 3),
            "recall@10": round(self.recall_at_10, 3),
            "mrr@10": round(self.mrr_at_10, 3),
        }


def first_relevant_rank(ranked_sources: Sequence[str], expected: Iterable[str]) -> int | None:
    """1-based rank of the first source in ``expected``, or ``None`` when none was retrieved."""
    wanted = set(expected)
    return next((rank for rank, source in enumerate(ranked_sources, 1) if source in wanted), None)


def load_openshift_queries(path: Path) -> list[LabelledQuery]:
    """The openshift set's ``{"alert", "query", "runbook"}`` lines; all of them are dev queries."""
    return [
        LabelledQuery(text=record["query"], expected=frozenset({record["runbook"]}), split="dev")
        for record in _jsonl(path)
    ]


def load_demo_queries(path: Path, *, prefix: str = "runbooks/") -> list[LabelledQuery]:
    """The demo set's ``{"query", "expected", "split"}`` lines, with ``prefix`` taken off the expected
    paths so they compare with sources relative to the ingested ``runbooks/`` folder."""
    return [
        LabelledQuery(
            text=record["query"],
            expected=frozenset(path.removeprefix(prefix) for path in record["expected"]),
            split=record["split"],
        )
        for record in _jsonl(path)
    ]


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
