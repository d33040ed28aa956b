"""Properties of decide over random small policies and calls, checked against a naive oracle.

The oracle evaluates every rule on its own with the whole, un-narrowed CEL input, so these tests
also pin that handing CEL only what the conditions read never changes which rules match.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any

import cel
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance.compiled import CompiledPolicy, compile_policy
from governance.decide import decide
from governance.decision import Actor, Decision, DecisionContext, Tier, ToolCall
from governance.loader import check_policy
from governance.policy import Policy
from governance.usage import InMemoryUsage, UsageCharge
from tests.governance.support import CATALOGUE, DIRECTORY

TOOLS = sorted(CATALOGUE)
PATTERNS = [*TOOLS[:6], "procurement_*", "*_get_*", "inventory_*", "*_stock"]
CONDITIONS = [
    None,
    "args.q > 5",
    "args.q > 5.0 || facts.v == 'x'",
    "facts.v == 'x'",
    "has(args.q) && args.q <= 3",
    "args.missing > 1",
    "args.q",
    "'requester' in actor.roles",
    "context.channel == 'slack'",
    "now >= timestamp('2026-12-01T00:00:00Z')",
    "size(args) > 1",
    # Guards (`has` as a top-level conjunct) let decide skip CEL when the key is absent; the oracle
    # evaluates them in CEL, so these pin that skipping never changes a match, present or absent,
    # of the right type or not, wherever the guard stands in the conjunction.
    "has(args.q) && args.q > 5",
    "has(facts.v) && facts.v == 'x'",
    "args.q > 5.0 && has(args.r)",
    "(has(args.r) && (has(facts.v) && args.r <= facts.v))",
    "has(args.q) && args.q",
    "has(args.r) && args.missing.deeper > 1",
    # Not guards: `has` under `||`, `?:` or `!`, or not at the top level, must still reach CEL.
    "has(args.q) && args.q > 1 || actor.id == 'alice.requester'",
    "has(args.q) ? args.q > 2 : context.channel == 'cli'",
    "!has(args.q) && 'requester' in actor.roles",
    "(has(args.q) && args.q > 1) == false",
    "!(has(args.r) && has(args.q) && args.q > 1)",
    # Only `actor` / `context`: the CEL input is kept between calls with the same values.
    "'requester' in actor.roles && context.channel == 'slack'",
    "actor.id == 'grace.procure' || context.thread_id == 't'",
]
ROLES = ["procurement_manager", "finance_controller", "warehouse_manager"]
WINDOW = (datetime(2026, 12, 18, tzinfo=UTC), datetime(2027, 1, 4, tzinfo=UTC))
T0 = datetime(2026, 12, 10, tzinfo=UTC)


@st.composite
def rules(draw: st.DrawFn, index: int) -> dict[str, Any]:
    tier = draw(st.sampled_from(list(Tier)))
    rule: dict[str, Any] = {
        "id": f"rule-{index}",
        "tools": draw(st.lists(st.sampled_from(PATTERNS), min_size=1, max_size=2)),
        "tier": tier.value,
    }
    if (condition := draw(st.sampled_from(CONDITIONS))) is not None:
        rule["when"] = condition
    if draw(st.booleans()):
        rule["side_effects"] = draw(st.lists(st.sampled_from(["read", "write", "financial"]), min_size=1))
    if draw(st.integers(0, 4)) == 0:
        rule["during"] = ["freeze"]
    if tier is Tier.APPROVE:
        rule["approvers"] = {"roles": [draw(st.sampled_from(ROLES))], "count": draw(st.integers(1, 2))}
    if tier in (Tier.NOTIFY, Tier.APPROVE):
        rule["notify"] = [f"role:{draw(st.sampled_from(ROLES))}"]
    return rule


@st.composite
def limits(draw: st.DrawFn, index: int) -> dict[str, Any]:
    tier = draw(st.sampled_from([Tier.NOTIFY, Tier.APPROVE, Tier.DENY]))
    limit: dict[str, Any] = {
        "id": f"limit-{index}",
        "tools": [draw(st.sampled_from(PATTERNS))],
        "per": draw(st.sampled_from(["actor", "global"])),
        "window": draw(st.sampled_from(["1h", "24h"])),
        "max": draw(st.integers(0, 20)),
        "exceeded_tier": tier.value,
    }
    sums = ["args.q", "1.5", "has(args.q) ? args.q : 1.0", "has(args.r) && true"]
    limit |= {"count": True} if draw(st.booleans()) else {"sum": draw(st.sampled_from(sums))}
    if (
        when := draw(st.sampled_from([None, "has(args.q) && args.q > 2", "has(facts.v)", "args.r"]))
    ) is not None:
        limit["when"] = when
    if tier is Tier.APPROVE:
        limit["approvers"] = {"roles": [draw(st.sampled_from(ROLES))]}
    if tier is Tier.NOTIFY:
        limit["notify"] = ["#budget"]
    return limit


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    unmatched = draw(st.sampled_from([Tier.NOTIFY, Tier.APPROVE, Tier.DENY]))
    defaults: dict[str, Any] = {"unknown_tool": "deny", "unmatched_tool": unmatched.value}
    if unmatched is Tier.APPROVE:
        defaults["approvers"] = {"roles": ["finance_controller"]}
    if unmatched is Tier.NOTIFY:
        defaults["notify"] = ["#fallback"]
    document = {
        "label": "random",
        "defaults": defaults,
        "windows": [{"id": "freeze", "start": WINDOW[0], "end": WINDOW[1]}],
        "rules": [draw(rules(index)) for index in range(draw(st.integers(0, 6)))],
        "limits": [draw(limits(index)) for index in range(draw(st.integers(0, 2)))],
    }
    return Policy.model_validate(document)


VALUES = st.one_of(
    st.none(), st.integers(-3, 12), st.floats(-3, 12, allow_nan=False), st.sampled_from(["x", "y"])
)


@st.composite
def calls(draw: st.DrawFn) -> tuple[ToolCall, Actor, DecisionContext]:
    tool = draw(st.sampled_from([*TOOLS, "itsm_unknown_tool"]))
    args = draw(st.dictionaries(st.sampled_from(["q", "r"]), VALUES, max_size=2))
    facts = draw(st.dictionaries(st.just("v"), VALUES, max_size=1))
    actor = DIRECTORY.actor(draw(st.sampled_from(["alice.requester", "grace.procure", "carol.desk"])))
    offset = draw(
        st.sampled_from(
            [timedelta(0), timedelta(days=8), timedelta(days=25), timedelta(days=8, microseconds=-1)]
        )
    )
    context = DecisionContext(now=T0 + offset, channel=draw(st.sampled_from(["cli", "slack"])), thread_id="t")
    return ToolCall(tool=tool, args=args, facts=facts), actor, context


def usage_for(seed: int, context: DecisionContext) -> InMemoryUsage:
    usage = InMemoryUsage()
    for index in range(seed % 4):
        for key in ("alice.requester", "*"):
            charge = UsageCharge(limit_id=f"limit-{index % 2}", key=key, amount=float(seed % 7))
            usage.record(charge, context.now - timedelta(minutes=30 * index), f"{index}-{key}")
    return usage


def compile_or_none(policy: Policy) -> CompiledPolicy | None:
    # Random rules may name patterns/side effects that select no tool; such policies do not load.
    return None if check_policy(policy, catalogue=CATALOGUE) else compile_policy(policy, CATALOGUE)


def oracle_matches(
    policy: Policy, call: ToolCall, actor: Actor, context: DecisionContext
) -> list[tuple[str, Tier, bool]]:
    """(rule id, tier, clean) for every rule that applies, each evaluated alone on the whole input."""
    if call.tool not in CATALOGUE:
        return []
    activation = {
        "args": dict(call.args),
        "facts": dict(call.facts),
        "actor": {"id": actor.id, "roles": sorted(actor.roles)},
        "now": context.now,
        "context": {"channel": context.channel, "thread_id": context.thread_id},
    }
    matched = []
    for rule in policy.rules:
        if not any(fnmatchcase(call.tool, pattern) for pattern in rule.tools):
            continue
        if rule.side_effects is not None and CATALOGUE[call.tool] not in rule.side_effects:
            continue
        if rule.during and not WINDOW[0] <= context.now < WINDOW[1]:
            continue
        if rule.when is None:
            matched.append((rule.id, rule.tier, True))
            continue
        try:
            value = cel.evaluate(rule.when, activation)
        except Exception:
            value = None
        if value is not False:
            matched.append((rule.id, rule.tier, value is True))
    return matched


PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(policy=policies(), call=calls(), seed=st.integers(0, 100))
def test_decide_is_deterministic(
    policy: Policy, call: tuple[ToolCall, Actor, DecisionContext], seed: int
) -> None:
    compiled = compile_or_none(policy)
    if compiled is None:
        return
    tool_call, actor, context = call
    first = decide(compiled, tool_call, actor, context, usage_for(seed, context))
    again = decide(compiled, tool_call, actor, context, usage_for(seed, context))
    recompiled = decide(
        compile_policy(policy, CATALOGUE), tool_call, actor, context, usage_for(seed, context)
    )
    assert first == again == recompiled


@PROPERTY
@given(policy=policies(), call=calls(), seed=st.integers(0, 100))
def test_never_weaker_than_a_matching_rule(
    policy: Policy, call: tuple[ToolCall, Actor, DecisionContext], seed: int
) -> None:
    compiled = compile_or_none(policy)
    if compiled is None:
        return
    tool_call, actor, context = call
    decision = decide(compiled, tool_call, actor, context, usage_for(seed, context))
    matched = oracle_matches(policy, tool_call, actor, context)
    assert decision.rule_ids == tuple(rule_id for rule_id, _, _ in matched)
    for _, tier, _ in matched:
        assert decision.tier.rank >= tier.rank
    if not any(clean for _, _, clean in matched) and tool_call.tool in CATALOGUE:
        assert decision.tier.rank >= policy.defaults.unmatched_tool.rank


@PROPERTY
@given(policy=policies(), call=calls(), seed=st.integers(0, 100))
def test_auto_only_when_an_auto_rule_allows_it(
    policy: Policy, call: tuple[ToolCall, Actor, DecisionContext], seed: int
) -> None:
    compiled = compile_or_none(policy)
    if compiled is None:
        return
    tool_call, actor, context = call
    decision = decide(compiled, tool_call, actor, context, usage_for(seed, context))
    if decision.tier is not Tier.AUTO:
        return
    matched = oracle_matches(policy, tool_call, actor, context)
    assert tool_call.tool in CATALOGUE
    assert any(tier is Tier.AUTO and clean for _, tier, clean in matched)
    assert all(tier is Tier.AUTO for _, tier, _ in matched)
    assert decision.exceeded_limits == ()
    # A failing condition may only belong to an auto rule: counting it as matched is no stricter.
    auto_rules = {rule_id for rule_id, tier, _ in matched if tier is Tier.AUTO}
    assert all(error.split("'")[1] in auto_rules for error in decision.condition_errors)
    assert (decision.approvals, decision.notify) == ((), ())


@PROPERTY
@given(policy=policies(), call=calls(), seed=st.integers(0, 100))
def test_approve_always_says_who_approves(
    policy: Policy, call: tuple[ToolCall, Actor, DecisionContext], seed: int
) -> None:
    compiled = compile_or_none(policy)
    if compiled is None:
        return
    tool_call, actor, context = call
    decision: Decision = decide(compiled, tool_call, actor, context, usage_for(seed, context))
    assert bool(decision.approvals) == (decision.tier is Tier.APPROVE)
    assert len({approval.roles for approval in decision.approvals}) == len(decision.approvals)
    if decision.tier is Tier.NOTIFY:
        assert decision.notify
