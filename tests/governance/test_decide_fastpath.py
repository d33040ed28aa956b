"""decide's shortcuts change no decision: guards skip CEL only where CEL would say false, a CEL
input kept between calls is only reused for the very same actor / context values, and a flat input
(each key read handed to CEL as a variable of its own) decides exactly as the nested one.

Guard: a top-level conjunct ``has(args.key)`` / ``has(facts.key)``. Without the key the condition is
false whatever the rest says (CEL's ``&&`` is false as soon as one side is, even beside an error).
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from governance.compiled import CompiledPolicy, compile_policy
from governance.decide import decide
from governance.decision import Actor, Decision, DecisionContext, Tier, ToolCall
from governance.expressions import compile_expression
from governance.policy import Policy
from governance.usage import InMemoryUsage, UsageCharge
from tests.governance.support import CATALOGUE, NOW, compiled, run
from tests.governance.test_properties import (
    PROPERTY,
    calls,
    compile_or_none,
    oracle_matches,
    policies,
    usage_for,
)


@pytest.mark.parametrize(
    ("source", "guards"),
    [
        ("has(args.q) && args.q > 1", [("args", "q")]),
        ("args.q > 1 && has(facts.v)", [("facts", "v")]),
        ("has(args.q)", [("args", "q")]),
        ("(has(args.q) && (has(facts.v) && facts.v == 'x'))", [("args", "q"), ("facts", "v")]),
        ("( has( args . q ) ) && true", [("args", "q")]),
        ("has(args.q) && has(args.q) && args.q > 1", [("args", "q")]),
        ("'a || b ? c' == args.s && has(args.s)", [("args", "s")]),
        ("has(args.q) // || ?\n&& args.q > 1", [("args", "q")]),
        # Under `||`, `?:` or `!`, inside a call or a comparison, or nested deeper: not a guard.
        ("has(args.q) && args.q > 1 || actor.id == 'a'", []),
        ("actor.id == 'a' || has(args.q) && args.q > 1", []),
        ("has(args.q) ? args.q > 1 : false", []),
        ("!has(args.q) && true", []),
        ("!(true && has(args.q) && true)", []),
        ("(has(args.q) && true) == false", []),
        ("[has(args.q) && true].all(x, x)", []),
        ("has(args.q.r) && true", []),
        ("has(actor.id) && true", []),
        ("has(args.q) == true", []),
        ("size(args.q) && true", []),
    ],
)
def test_guards_are_only_top_level_has_conjuncts(source: str, guards: list[tuple[str, str]]) -> None:
    assert list(compile_expression(source).guards) == guards


POLICY = compiled(
    """
label: fastpath
defaults: {unmatched_tool: deny}
rules:
  - id: base
    tools: [inventory_transfer_stock]
    tier: auto
  - id: guarded
    tools: [inventory_transfer_stock]
    when: "has(args.quantity) && args.quantity > 50"
    tier: approve
    approvers: {roles: [warehouse_manager]}
  - id: guard-last
    tools: [inventory_transfer_stock]
    when: "args.reason.size() > 100 && has(facts.value)"
    tier: notify
    notify: ["role:warehouse_manager"]
  - id: not-a-guard
    tools: [inventory_transfer_stock]
    when: "has(args.sku) && args.sku == 'X' || actor.id == 'grace.procure'"
    tier: notify
    notify: ["role:warehouse_manager"]
  - id: slack
    tools: [inventory_transfer_stock]
    when: "'warehouse_manager' in actor.roles && context.channel == 'slack'"
    tier: notify
    notify: ["#stock"]
limits:
  - id: big-moves
    tools: [inventory_transfer_stock]
    when: "has(args.quantity) && args.quantity > 10"
    sum: "has(args.quantity) ? double(args.quantity) : 0.0"
    window: 24h
    max: 100
    exceeded_tier: approve
    approvers: {roles: [warehouse_manager]}
"""
)
TOOL = "inventory_transfer_stock"


def test_a_guarded_condition_without_its_key_is_false_even_if_the_rest_would_fail() -> None:
    # `args.reason` is absent too: in CEL the rest is an error, and `false && error` is false.
    decision = run(POLICY, TOOL, {"sku": "A"})
    assert decision.rule_ids == ("base",)
    assert (decision.tier, decision.condition_errors, decision.usage_charges) == (Tier.AUTO, (), ())


def test_a_guarded_key_of_the_wrong_type_still_fails_closed() -> None:
    decision = run(POLICY, TOOL, {"quantity": "lots"})
    assert decision.rule_ids == ("base", "guarded")
    assert decision.tier is Tier.APPROVE
    assert [error.split("'")[1] for error in decision.condition_errors] == ["guarded", "big-moves"]
    assert decision.exceeded_limits == ("big-moves",)


def test_a_present_guard_hands_the_rest_to_cel() -> None:
    decision = run(POLICY, TOOL, {"quantity": 60})
    assert decision.rule_ids == ("base", "guarded")
    assert decision.usage_charges == (UsageCharge(limit_id="big-moves", key="alice.requester", amount=60.0),)
    assert run(POLICY, TOOL, {"quantity": 5}).usage_charges == ()


def test_a_guard_in_second_place_prunes_and_an_error_beside_a_present_one_fails_closed() -> None:
    assert run(POLICY, TOOL, {"reason": 7}).rule_ids == ("base",)
    decision = run(POLICY, TOOL, {"reason": 7}, facts={"value": 1.0})
    assert decision.rule_ids == ("base", "guard-last")
    assert "guard-last" in decision.condition_errors[0]


def test_has_under_an_or_is_not_a_guard() -> None:
    assert run(POLICY, TOOL, {}, actor="grace.procure").rule_ids == ("base", "not-a-guard")
    assert run(POLICY, TOOL, {"sku": "X"}).rule_ids == ("base", "not-a-guard")


def test_a_guarded_limit_sum_that_is_not_a_number_fails_closed_with_or_without_the_key() -> None:
    policy = compiled(
        """
label: odd-sum
defaults: {unmatched_tool: notify, notify: ["#ops"]}
limits:
  - id: odd
    tools: [inventory_transfer_stock]
    sum: "has(args.quantity) && true"
    window: 1h
    max: 5
    exceeded_tier: deny
"""
    )
    for args in ({}, {"quantity": 3}):
        decision = run(policy, TOOL, args)
        assert decision.tier is Tier.DENY
        assert "not a finite number" in decision.condition_errors[0]


def test_the_usage_reader_is_read_even_when_the_condition_reading_usage_is_guarded_out() -> None:
    policy = compiled(
        """
label: usage-guarded
defaults: {unmatched_tool: deny}
rules:
  - id: spender
    tools: [procurement_create_purchase_order]
    when: "has(args.total_amount) && usage['po-budget'] > 5.0"
    tier: notify
    notify: ["#po"]
limits:
  - id: po-budget
    tools: [procurement_create_purchase_order]
    count: true
    window: 1h
    max: 1000
    exceeded_tier: deny
"""
    )

    class BrokenLedger:
        def total(self, limit_id: str, key: str, since: Any) -> float:
            raise ConnectionError("ledger unavailable")

    with pytest.raises(ConnectionError):
        run(policy, "procurement_create_purchase_order", {}, usage=BrokenLedger())


@pytest.mark.parametrize("channel", ["slack", "cli"])
def test_a_kept_cel_input_is_only_reused_for_the_same_actor_and_context(channel: str) -> None:
    expected = {"carol.desk": False, "frank.warehouse": channel == "slack", "alice.requester": False}
    for _ in range(2):
        for who, matches in expected.items():
            decision = run(POLICY, TOOL, {}, actor=who, channel=channel)
            assert ("slack" in decision.rule_ids) is matches, who


def test_roles_that_are_equal_but_not_the_same_cel_value_are_not_confused() -> None:
    policy = compiled(
        """
label: odd-roles
defaults: {unmatched_tool: deny}
rules:
  - id: one
    tools: [inventory_transfer_stock]
    when: "1 in actor.roles"
    tier: auto
"""
    )
    call = ToolCall(tool=TOOL, args={})
    context = DecisionContext(now=NOW)
    as_int = Actor(id="x", roles=frozenset({1}))  # type: ignore[arg-type]
    as_bool = Actor(id="x", roles=frozenset({True}))  # type: ignore[arg-type]
    assert decide(policy, call, as_int, context, InMemoryUsage()).tier is Tier.AUTO
    assert decide(policy, call, as_bool, context, InMemoryUsage()).tier is Tier.DENY


def test_concurrent_decisions_match_sequential_ones() -> None:
    actors = [
        Actor(id=f"user-{n}", roles=frozenset({"warehouse_manager"} if n % 2 else set())) for n in range(8)
    ]
    jobs = [
        (ToolCall(tool=TOOL, args={"quantity": n * 7} if n % 3 else {}), actor, channel)
        for n, actor in enumerate(actors)
        for channel in ("slack", "cli")
    ]

    def one(job: tuple[ToolCall, Actor, str]) -> Decision:
        call, actor, channel = job
        return decide(POLICY, call, actor, DecisionContext(now=NOW, channel=channel), InMemoryUsage())

    expected = [one(job) for job in jobs]
    results: dict[int, list[Decision]] = {}

    def worker(index: int) -> None:
        results[index] = [one(job) for _ in range(50) for job in jobs]

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(decisions == expected * 50 for decisions in results.values())


def _without_flat(policy: CompiledPolicy) -> CompiledPolicy:
    """The same policy with flat inputs switched off: expressions go to CEL as written, with their
    maps narrowed to the keys they read."""
    plans = {
        name: replace(
            plan,
            expressions=tuple(replace(expression, flat=None) for expression in plan.expressions),
            selections={},
        )
        for name, plan in policy.plans.items()
    }
    return replace(policy, plans=plans)


def _without_shortcuts(policy: CompiledPolicy) -> CompiledPolicy:
    """The same policy with flat inputs and guard pruning switched off: every expression goes to CEL."""
    plans = {
        name: replace(plan, guards=(), guarded=((),) * len(plan.expressions), selections={})
        for name, plan in _without_flat(policy).plans.items()
    }
    return replace(policy, plans=plans)


@PROPERTY
@given(policy=policies(), data=st.data(), seed=st.integers(0, 100))
def test_shortcuts_never_change_a_decision(policy: Policy, data: st.DataObject, seed: int) -> None:
    # One compiled policy serves a sequence of calls, so selections and kept CEL inputs are reused
    # across them; each decision must equal a cold one with every expression evaluated in CEL as
    # written, and
    # match the rules the oracle (each rule alone, whole input) says match.
    warm = compile_or_none(policy)
    if warm is None:
        return
    tools = [name for name, plan in warm.plans.items() if plan.expressions] or sorted(warm.plans)
    for _ in range(data.draw(st.integers(1, 6))):
        call, actor, context = data.draw(calls())
        call = replace(call, tool=data.draw(st.sampled_from(tools)))
        cold = _without_shortcuts(compile_policy(policy, CATALOGUE))
        fast = decide(warm, call, actor, context, usage_for(seed, context))
        assert fast == decide(cold, call, actor, context, usage_for(seed, context))
        assert fast.rule_ids == tuple(
            rule_id for rule_id, _, _ in oracle_matches(policy, call, actor, context)
        )


@pytest.mark.parametrize(
    "args",
    [
        {"quantity": 60},
        {"quantity": "lots"},
        {"quantity": 2**70},  # beyond 64 bits: a double in CEL
        {"quantity": {1, 2}},  # a set: CEL cannot take it, so the condition fails closed
        {"quantity": None, "sku": "X"},
        {"reason": "r" * 101, "sku": 1},
        {"reason": 7, "quantity": 11.5},
        {},
    ],
)
@pytest.mark.parametrize("facts", [{}, {"value": 1.0}, {"value": "high"}])
def test_flat_inputs_decide_as_nested_ones(args: dict[str, Any], facts: dict[str, Any]) -> None:
    decision = run(POLICY, TOOL, args, facts=facts)
    assert decision == run(_without_flat(POLICY), TOOL, args, facts=facts)


def test_a_value_cel_cannot_take_fails_closed_even_if_only_tested_with_has() -> None:
    policy = compiled(
        """
label: has-only
defaults: {unmatched_tool: deny}
rules:
  - id: has-only
    tools: [inventory_transfer_stock]
    when: "has(args.quantity) && context.channel == 'slack'"
    tier: auto
"""
    )
    decision = run(policy, TOOL, {"quantity": {1}})
    assert decision.rule_ids == ("has-only",)
    assert "could not be evaluated" in decision.condition_errors[0]
    assert decision == run(_without_flat(policy), TOOL, {"quantity": {1}})
    assert run(policy, TOOL, {"quantity": 1}).rule_ids == ()


def test_window_and_limits_are_untouched_by_pruning() -> None:
    usage = InMemoryUsage()
    usage.record(
        UsageCharge(limit_id="big-moves", key="alice.requester", amount=90.0), NOW - timedelta(hours=1), "a"
    )
    decision = run(POLICY, TOOL, {"quantity": 20}, usage=usage)
    assert decision.exceeded_limits == ("big-moves",)
    assert decision.tier is Tier.APPROVE
    assert run(_without_shortcuts(POLICY), TOOL, {"quantity": 20}, usage=usage) == decision
