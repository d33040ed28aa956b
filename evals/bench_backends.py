"""Benchmark: read and write latency of the local reference systems."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from evals.bench_governance import percentiles
from tools.local import open_local_systems
from tools.models import AdjustmentKind


def bench_backends(tmp_dir: Path, n: int = 300) -> dict[str, Any]:
    systems = open_local_systems(tmp_dir / "bench-systems.db")
    reads = _timed(n, lambda i: systems.inventory.get_stock("SSD-1TB-NVME", "AMS-1"))
    reads += _timed(n, lambda i: systems.itsm.get_incident("INC0010032"))
    writes = _timed(
        n,
        lambda i: systems.inventory.adjust_stock(
            "SSD-1TB-NVME", "AMS-1", 1, kind=AdjustmentKind.CYCLE_COUNT, reason=f"bench {i}"
        ),
    )
    return {
        "local_read": _ms(percentiles(reads)),
        "local_write": _ms(percentiles(writes)),
        "n": n,
    }


def _timed(n: int, fn: Any) -> list[float]:
    samples = []
    for i in range(n):
        started = time.perf_counter()
        fn(i)
        samples.append(time.perf_counter() - started)
    return samples


def _ms(figures: dict[str, float]) -> dict[str, float]:
    return {"p50_ms": round(figures["p50_us"] / 1000, 3), "p99_ms": round(figures["p99_us"] / 1000, 3)}
