"""The report benchmark's trail and run still work (on a small trail; `make bench` runs the big one)."""

from __future__ import annotations

from pathlib import Path

from evals.bench_report import bench_report


def test_the_report_bench_runs_on_a_small_trail(tmp_path: Path) -> None:
    figures = bench_report(tmp_path, n=3000)
    assert figures["events"] == 3000
    assert 0 < figures["calls"] < 3000
    assert figures["periods"] == 30  # the month the trail spans, a day per period
    assert figures["html_kb"] > 0
