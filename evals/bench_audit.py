"""Benchmark: audit trail append and verify throughput on the embedded SQLite store."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from governance.audit import AuditLog, EventKind
from governance.store import sqlite_engine


def bench_audit(tmp_dir: Path, n: int = 5000) -> dict[str, Any]:
    """Append ``n`` events one by one (one transaction each) into a fresh file, then verify them all."""
    log = AuditLog(sqlite_engine(tmp_dir / f"bench-audit-{time.time_ns()}.db"))
    payloads = [_payload(i) for i in range(n)]

    started = time.perf_counter()
    for i, (kind, payload) in enumerate(payloads):
        log.append(kind, payload, thread_id=f"thread-{i // 8:05d}", actor="alice.requester")
    appended = time.perf_counter()
    result = log.verify()
    verified = time.perf_counter()

    if not (result.ok and result.checked == n):
        raise RuntimeError(f"benchmark chain did not verify: {result}")
    return {
        "audit_append_events_per_s": round(n / (appended - started), 1),
        "audit_verify_events_per_s": round(n / (verified - appended), 1),
        "n": n,
    }


def _payload(i: int) -> tuple[EventKind, dict[str, Any]]:
    """A decision or an execution record of the size the agent writes (~300 bytes of JSON)."""
    if i % 2 == 0:
        return EventKind.DECISION, {
            "tool": "procurement_create_purchase_order",
            "tool_call_id": f"call_{i:08d}",
            "tier": "approve",
            "matched_rules": ["big-po", "po-daily-budget"],
            "policy_version": "2026-11 baseline@3f1c9a0be2d47781",
            "args_digest": f"{i:064x}",
            "reasons": ["args.total_amount > 2000.0"],
        }
    return EventKind.EXECUTION, {
        "tool": "inventory_transfer_stock",
        "tool_call_id": f"call_{i - 1:08d}",
        "idempotency_key": f"{i:032x}",
        "args": {"sku": "SSD-1TB-NVME", "from_warehouse": "AMS-1", "to_warehouse": "BER-2", "quantity": 10},
        "result": {"status": "ok", "transfer_id": f"TRF-{i:06d}"},
        "duration_ms": 41.7,
    }


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        print(json.dumps(bench_audit(Path(folder))))
