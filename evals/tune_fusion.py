"""Grid search of chunk sizes and fusion settings on the dev queries only; prints the table.

Dev queries are the openshift set (a dev set by its README) and the demo corpus's ``dev`` split; the
demo ``test`` split is never read here. Each chunking is ingested once (embedding is the slow part);
fusion settings are varied on the same stores. Rows are ranked by the mean of the two dev MRR@10
figures, then by the mean Recall@5.

    python -m evals.tune_fusion [--openshift-dir DIR] [--chunking 600:150 1000:200 ...]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from evals.bench_retrieval import DEFAULT_DEMO, DEFAULT_OPENSHIFT, ingest_corpus, ranks_for
from evals.retrieval_metrics import LabelledQuery, RetrievalMetrics, load_demo_queries, load_openshift_queries
from knowledge import ChunkingConfig, Embedder, FusionConfig, KnowledgeStore, MiniLMEmbedder, Mode, Retriever

CHUNKINGS = ((600, 150), (800, 200), (1000, 200))
RRF_KS = (5.0, 10.0, 30.0, 60.0)
DENSE_WEIGHTS = (0.7, 1.0, 1.4)
CANDIDATES = (50,)


@dataclass(frozen=True, kw_only=True)
class DevSet:
    name: str
    store: KnowledgeStore
    queries: Sequence[LabelledQuery]


@dataclass(frozen=True, kw_only=True)
class Row:
    chunking: ChunkingConfig
    mode: Mode
    fusion: FusionConfig
    scores: dict[str, RetrievalMetrics]

    @property
    def key(self) -> tuple[float, float]:
        metrics = self.scores.values()
        return (
            sum(m.mrr_at_10 for m in metrics) / len(metrics),
            sum(m.recall_at_5 for m in metrics) / len(metrics),
        )

    def line(self) -> str:
        fusion = self.fusion
        settings = (
            f"{self.mode:6} k={fusion.rrf_k:>4.0f} wd={fusion.dense_weight:.1f} cand={fusion.candidates:>3}"
            if self.mode == "hybrid"
            else f"{self.mode:6} {'':25}"
        )
        figures = "  ".join(
            f"{name} mrr={m.mrr_at_10:.3f} r@5={m.recall_at_5:.3f}" for name, m in self.scores.items()
        )
        chunking = f"{self.chunking.max_chars}:{self.chunking.min_chars}"
        return f"{chunking:>8}  {settings}  mean={self.key[0]:.3f}  {figures}"


def tune(
    tmp_dir: Path, openshift_dir: Path, demo_dir: Path, chunkings: Sequence[ChunkingConfig]
) -> list[Row]:
    embedder = MiniLMEmbedder()
    rows: list[Row] = []
    for chunking in chunkings:
        sets = _dev_sets(
            tmp_dir / f"{chunking.max_chars}-{chunking.min_chars}",
            openshift_dir,
            demo_dir,
            embedder,
            chunking,
        )
        for mode in ("dense", "bm25"):
            rows.append(_row(sets, chunking, mode, FusionConfig()))
        for k, weight, candidates in itertools.product(RRF_KS, DENSE_WEIGHTS, CANDIDATES):
            fusion = FusionConfig(dense_weight=weight, bm25_weight=1.0, rrf_k=k, candidates=candidates)
            rows.append(_row(sets, chunking, "hybrid", fusion))
        print(f"done chunking {chunking.max_chars}:{chunking.min_chars}", file=sys.stderr)
    return sorted(rows, key=lambda row: row.key, reverse=True)


def _dev_sets(
    folder: Path, openshift_dir: Path, demo_dir: Path, embedder: Embedder, chunking: ChunkingConfig
) -> list[DevSet]:
    openshift = ingest_corpus(folder / "openshift", [openshift_dir / "runbooks"], embedder, chunking)
    demo = ingest_corpus(folder / "demo", [demo_dir / "runbooks"], embedder, chunking)
    demo_dev = [q for q in load_demo_queries(demo_dir / "queries.jsonl") if q.split == "dev"]
    return [
        DevSet(
            name="openshift",
            store=openshift.store,
            queries=load_openshift_queries(openshift_dir / "queries.jsonl"),
        ),
        DevSet(name="demo-dev", store=demo.store, queries=demo_dev),
    ]


def _row(sets: Sequence[DevSet], chunking: ChunkingConfig, mode: Mode, fusion: FusionConfig) -> Row:
    scores = {
        dev.name: RetrievalMetrics.from_ranks(
            ranks_for(Retriever(dev.store, fusion=fusion), dev.queries, mode)
        )
        for dev in sets
    }
    return Row(chunking=chunking, mode=mode, fusion=fusion, scores=scores)


def _chunking(text: str) -> ChunkingConfig:
    max_chars, _, min_chars = text.partition(":")
    return ChunkingConfig(max_chars=int(max_chars), min_chars=int(min_chars or 0))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Tune chunking and fusion on the dev queries.")
    parser.add_argument("--openshift-dir", type=Path, default=DEFAULT_OPENSHIFT)
    parser.add_argument("--demo-dir", type=Path, default=DEFAULT_DEMO)
    parser.add_argument(
        "--chunking",
        nargs="*",
        type=_chunking,
        default=[ChunkingConfig(max_chars=a, min_chars=b) for a, b in CHUNKINGS],
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="opslayer-tune-") as tmp:
        rows = tune(Path(tmp), args.openshift_dir, args.demo_dir, args.chunking)
    for row in rows:
        print(row.line())


if __name__ == "__main__":
    main()
