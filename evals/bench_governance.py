"""Benchmark: ``decide()`` latency for the shipped policy and for a generated 200-rule policy."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from governance.compiled import CompiledPolicy, compile_policy
from governance.decide import decide
from governance.decision import Actor, DecisionContext, ToolCall
from governance.directory import load_directory
from governance.loader import load_policy
from governance.policy import DEFAULT_POLICY_PATH
from governance.synthetic import generate_policy
from governance.usage import InMemoryUsage
from tools.catalogue import build_catalogue
from tools.registry import ToolRegistry

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)

# A mix of realistic calls: reads, notify-tier writes, approvals with facts, limits.
CALLS = (
    ToolCall(tool="itsm_get_incident", args={"number": "INC0010032"}),
    ToolCall(tool="itsm_add_work_note", args={"number": "INC0010047", "text": "Drained two nodes."}),
    ToolCall(
        tool="procurement_create_purchase_order",
        args={
            "supplier_id": "SUP-001",
            "cost_centre": "CC-IT-OPS",
            "total_amount": 30000.0,
            "lines": [{"sku": "LAP-14-PRO", "quantity": 20, "unit_price": 1500.0}],
        },
        facts={"value": 30000.0, "lines_total": 30000.0},
    ),
    ToolCall(
        tool="inventory_transfer_stock",
        args={
            "sku": "SSD-1TB-NVME",
            "from_warehouse": "AMS-1",
            "to_warehouse": "BER-2",
            "quantity": 60,
            "reason": "rebalance",
        },
        facts={"value": 5400.0, "unit_cost": 90.0},
    ),
    ToolCall(
        tool="itsm_create_change_request",
        args={
            "ci": "payments-api",
            "short_description": "Restart",
            "description": "Rolling restart",
            "risk": "moderate",
        },
        facts={"environment": "prod", "ci_class": "service"},
    ),
)


def percentiles(samples_s: list[float]) -> dict[str, float]:
    """p50 and p99 in microseconds."""
    ordered = sorted(samples_s)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {"p50_us": round(statistics.median(ordered) * 1e6, 2), "p99_us": round(p99 * 1e6, 2)}


def time_calls(fn: Callable[[], Any], n: int) -> list[float]:
    """Per-call wall times; like ``timeit``, the garbage collector is paused while timing."""
    samples = []
    gc.collect()
    gc.disable()
    try:
        for _ in range(n):
            started = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - started)
    finally:
        gc.enable()
    return samples


def bench_decide(policy: CompiledPolicy, n: int = 20000) -> dict[str, float]:
    actor = Actor(id="alice.requester", roles=frozenset({"requester"}))
    context = DecisionContext(now=NOW, channel="cli", thread_id="bench")
    usage = InMemoryUsage()
    calls = CALLS * (n // len(CALLS))
    index = iter(range(len(calls)))

    def one() -> None:
        decide(policy, calls[next(index)], actor, context, usage)

    time_calls(lambda: decide(policy, CALLS[0], actor, context, usage), 500)  # warm-up
    return percentiles(time_calls(one, len(calls)))


def bench_governance() -> dict[str, Any]:
    registry = ToolRegistry(build_catalogue())
    catalogue = registry.side_effects()
    directory = load_directory()
    default = load_policy(
        DEFAULT_POLICY_PATH, catalogue=catalogue, roles=directory.roles, people=directory.ids
    )
    generated = generate_policy(200, catalogue)
    return {
        "decide_default_policy": {
            "rules": len(default.rules),
            **bench_decide(compile_policy(default, catalogue)),
        },
        "decide_200_rules": {
            "rules": len(generated.rules),
            **bench_decide(compile_policy(generated, catalogue)),
        },
        "decide_target_p99_us": 25,
    }
