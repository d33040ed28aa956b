"""Benchmark: one worker pass of every monitor over 100,000 audit events and busy ledgers.

The trail is the impact benchmark's month of turns (:func:`evals.bench_report._trail`); beside it,
20,000 executions, 10,000 usage charges and 2,000 approval requests. The monitors are the shipped
policy's (every kind) plus per-person refusals over the whole month, the widest window. The pass is
:func:`governance.monitors.evaluate` at the end of the month. Target: ≤ 1 s.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert

from evals.bench_report import _START, _TOOLS, _trail

TARGET_S = 1.0
_MONTH = timedelta(days=30)


def bench_monitors(tmp_dir: Path, n: int = 100_000) -> dict[str, Any]:
    from governance.monitors import evaluate

    path = tmp_dir / f"bench-monitors-{time.time_ns()}.db"
    from governance.store import sqlite_engine

    _trail(path, n)
    engine = sqlite_engine(path)
    _ledgers(engine)
    policy = _policy()
    now = _START + _MONTH
    evaluate(policy, engine, now)  # warm: the first pass pays for opening files and compiling SQL
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        readings = evaluate(policy, engine, now)
        runs.append(time.perf_counter() - started)
    return {
        "events": n,
        "monitors": len(policy.monitors),
        "readings_over_threshold": len(readings),
        "pass_s": round(min(runs), 3),
        "target_pass_s": TARGET_S,
    }


def _policy() -> Any:
    from agent.wiring import build_registry
    from governance.directory import load_directory
    from governance.loader import load_policy
    from governance.policy import DEFAULT_POLICY_PATH, Monitor

    directory = load_directory()
    shipped = load_policy(
        DEFAULT_POLICY_PATH,
        catalogue=build_registry().side_effects(),
        roles=directory.roles,
        people=directory.ids,
    )
    month = Monitor(id="refusals-month", kind="refused_calls", per="person", window="30d", threshold=1)
    return shipped.model_copy(update={"monitors": (*shipped.monitors, month)})


def _ledgers(engine: Engine) -> None:
    from governance.approvals import ApprovalStore
    from governance.audit import AuditLog
    from governance.executions import ExecutionLedger, executions
    from governance.usage import SqlUsageLedger, usage_events

    ExecutionLedger(engine, clock=lambda: _START)
    SqlUsageLedger(engine)
    ApprovalStore(engine, audit=AuditLog(engine), clock=lambda: _START)
    step = _MONTH / 20_000
    rows = [
        {
            "key": f"bench-{i}",
            "tool": _TOOLS[i % len(_TOOLS)],
            "args_digest": "0" * 64,
            "thread_id": f"t-{i // 4}",
            "status": "started" if i % 997 == 0 else "completed",
            "attempts": 1,
            "started_at": _iso(_START + step * i),
        }
        for i in range(20_000)
    ]
    charges = [
        {
            "limit_id": "po-daily-budget",
            "key": f"person-{i % 40}",
            "amount": 120.0,
            "at": _START + _MONTH / 10_000 * i,
            "idempotency_key": f"bench-{i}",
            "state": "charged",
        }
        for i in range(10_000)
    ]
    with engine.begin() as conn:
        conn.execute(insert(executions), rows)
        conn.execute(insert(usage_events), charges)
    _approvals(engine)


def _approvals(engine: Engine) -> None:
    from governance.approvals import approval_requests

    rows = [
        {
            "id": f"APR-{i:08X}",
            "thread_id": f"t-{i}",
            "tool_call_id": f"c-{i}",
            "tool": _TOOLS[i % len(_TOOLS)],
            "args": "{}",
            "args_digest": "0" * 64,
            "requirements": "[]",
            "requester": "bench",
            "channel": "bench",
            "reasons": "[]",
            "rule_ids": "[]",
            "notify": "[]",
            "policy_version": "bench",
            "status": "pending" if i % 20 == 0 else "approved",
            "status_reason": "",
            "created_at": _iso(_START + _MONTH / 2000 * i),
            "expires_at": _iso(_START + _MONTH / 2000 * i + timedelta(days=2)),
            "version": 1,
            "stage": "plan",
            "proposed_digest": "0" * 64,
            "exceeded_limits": "[]",
        }
        for i in range(2000)
    ]
    with engine.begin() as conn:
        conn.execute(insert(approval_requests), rows)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


if __name__ == "__main__":
    import json
    import tempfile

    with tempfile.TemporaryDirectory(prefix="opslayer-bench-") as tmp:
        print(json.dumps(bench_monitors(Path(tmp)), indent=2))
