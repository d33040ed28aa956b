"""`make bench`: prints one JSON document with every benchmark figure and its target."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from evals.bench_agent import bench_agent
from evals.bench_audit import bench_audit
from evals.bench_backends import bench_backends
from evals.bench_governance import bench_governance
from evals.bench_monitors import bench_monitors
from evals.bench_report import bench_report
from evals.bench_retrieval import bench_retrieval
from evals.bench_service import bench_service
from evals.bench_slack import bench_slack
from evals.bench_startup import bench_startup
from evals.bench_web import bench_web


def run_all() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="opslayer-bench-") as tmp:
        tmp_dir = Path(tmp)
        report: dict[str, Any] = {"startup": bench_startup(tmp_dir / "startup-home")}
        report.update(bench_governance())
        report["audit"] = {**bench_audit(tmp_dir), "targets": {"append_per_s": 2000, "verify_per_s": 50000}}
        report["backends"] = bench_backends(tmp_dir)
        report["agent"] = bench_agent(tmp_dir)
        report["service"] = bench_service(tmp_dir)
        report["web"] = bench_web(tmp_dir)
        report["slack"] = bench_slack(tmp_dir)
        report["retrieval"] = bench_retrieval(tmp_dir / "retrieval")
        report["impact_report"] = bench_report(tmp_dir)
        report["monitors"] = bench_monitors(tmp_dir)
    return report


def main() -> None:
    print(json.dumps(run_all(), indent=2))


if __name__ == "__main__":
    main()
