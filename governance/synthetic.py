"""Generated policies of any size, for benchmarks and property tests.

The mix follows how policies are written: most rules name one tool (some two, a few a glob such as
``inventory_*``); conditions are mostly on arguments and facts (guarded by ``has`` so they evaluate
for every tool), a few on the actor or the channel; time restrictions use ``during`` windows; every
50 rules bring one budget limit. Same arguments, same policy.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

from governance.policy import Policy

DEFAULT_ROLES = ("change_manager", "finance_controller", "incident_manager", "procurement_manager")

_TIERS = ("auto", "notify", "approve", "deny")
_TIER_WEIGHTS = (35, 30, 25, 10)
_CONDITIONS = (
    (20, None),
    (15, "has(args.quantity) && args.quantity > {n}"),
    (15, "has(args.total_amount) && args.total_amount > {x}.0"),
    (10, "has(args.priority) && args.priority <= {p}"),
    (15, "has(facts.value) && facts.value > {x}.0"),
    (10, "has(facts.environment) && facts.environment == 'prod'"),
    (5, "has(facts.priority) && facts.priority <= {p}"),
    (3, "'{role}' in actor.roles"),
    (2, "context.channel == 'slack'"),
)


def generate_policy(
    n_rules: int, tool_names: Iterable[str], *, seed: int = 0, roles: tuple[str, ...] = DEFAULT_ROLES
) -> Policy:
    """A valid policy of ``n_rules`` rules (plus ``n_rules // 50`` limits) over ``tool_names``."""
    rng = random.Random(seed)
    tools = sorted(tool_names)
    document: dict[str, Any] = {
        "label": f"synthetic-{n_rules}-{seed}",
        "defaults": {"unknown_tool": "deny", "unmatched_tool": "approve", "approvers": {"roles": [roles[0]]}},
        "windows": [{"id": "freeze", "start": "2026-12-18T00:00:00Z", "end": "2027-01-04T00:00:00Z"}],
        "rules": [_rule(index, rng, tools, roles) for index in range(n_rules)],
        "limits": [_limit(index, rng, tools, roles) for index in range(n_rules // 50)],
    }
    return Policy.model_validate(document)


def _rule(index: int, rng: random.Random, tools: list[str], roles: tuple[str, ...]) -> dict[str, Any]:
    tier = rng.choices(_TIERS, weights=_TIER_WEIGHTS)[0]
    rule: dict[str, Any] = {"id": f"rule-{index}", "tools": _patterns(rng, tools), "tier": tier}
    rule["reason"] = f"synthetic rule {index}"
    condition = rng.choices([c for _, c in _CONDITIONS], weights=[w for w, _ in _CONDITIONS])[0]
    if condition is not None:
        values = {"n": rng.randint(1, 100), "x": rng.randint(100, 50_000), "p": rng.randint(1, 4)}
        rule["when"] = condition.format(role=rng.choice(roles), **values)
    if rng.random() < 0.1:
        rule["during"] = ["freeze"]
    if tier == "approve":
        rule["approvers"] = {"roles": [rng.choice(roles)], "count": 1}
    if tier in ("notify", "approve"):
        rule["notify"] = [f"role:{rng.choice(roles)}"]
    return rule


def _limit(index: int, rng: random.Random, tools: list[str], roles: tuple[str, ...]) -> dict[str, Any]:
    return {
        "id": f"limit-{index}",
        "tools": [rng.choice(tools)],
        "sum": "has(args.total_amount) ? args.total_amount : 1.0",
        "per": rng.choice(["actor", "global"]),
        "window": "24h",
        "max": rng.randint(1_000, 100_000),
        "exceeded_tier": "approve",
        "approvers": {"roles": [rng.choice(roles)]},
    }


def _patterns(rng: random.Random, tools: list[str]) -> list[str]:
    draw = rng.random()
    if draw < 0.8:
        return [rng.choice(tools)]
    if draw < 0.9:
        return rng.sample(tools, k=min(len(tools), 2))
    return [rng.choice(tools).split("_", 1)[0] + "_*"]
