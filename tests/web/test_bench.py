"""The review page's benchmark runs and reports what `make bench` prints (a small queue here)."""

from __future__ import annotations

from pathlib import Path

from evals.bench_web import TARGETS, bench_web


def test_the_web_bench_measures_both_pages(tmp_path: Path) -> None:
    report = bench_web(tmp_path, pending=30, calls=5)
    assert report["pending"] == 30 and report["targets"] == TARGETS
    for page in ("queue_page", "request_page", "queue_page_nothing_for_you", "impact_page"):
        assert report[page]["calls"] >= 5 and report[page]["p99_ms"] >= report[page]["p50_ms"] > 0
