"""What a CEL condition reads, worked out from its source, and that decide hands it exactly that."""

from __future__ import annotations

import pytest

from governance.decision import Tier
from governance.expressions import ExpressionError, compile_expression, merge_fields
from tests.governance.support import compiled, run


@pytest.mark.parametrize(
    ("source", "fields"),
    [
        ("args.total_amount > 2000.0", {"args": {"total_amount"}}),
        ("has(args.x) && args.y > 1", {"args": {"x", "y"}}),
        ("args.lines.exists(l, l.quantity > 5)", {"args": {"lines"}}),
        ("args['total_amount'] > 1.0 && args[\"a b\"] == 1", {"args": {"total_amount", "a b"}}),
        ("usage['po-daily-budget'] > 5.0", {"usage": {"po-daily-budget"}}),
        ("'x' in actor.roles && context.channel == 'slack'", {"actor": {"roles"}, "context": {"channel"}}),
        ("args.size() > 1", {"args": None}),
        ("size(args) > 1", {"args": None}),
        ("args[key] == 1 && [1].exists(key, key > 0)", {"args": None}),
        ("'args.secret' == args.q", {"args": {"q"}}),
        ("r'\\' == args.q", {"args": {"q"}}),
        ("args.q == 1 // args.hidden\n", {"args": {"q"}}),
        ("now > timestamp('2026-01-01T00:00:00Z')", {"now": None}),
        ("type(args.x) == int", {"args": {"x"}}),
        ("[1, 2].map(x, x * 2).size() == 2", {}),
    ],
)
def test_fields_read(source: str, fields: dict[str, set[str] | None]) -> None:
    expected = {name: (frozenset(keys) if keys is not None else None) for name, keys in fields.items()}
    assert dict(compile_expression(source).fields) == expected


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("arg.x > 1", "unknown variable 'arg'"),
        ("args.x >", "Failed to parse expression"),
    ],
)
def test_bad_sources(source: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        compile_expression(source)


def test_merge_keeps_whole_values_whole() -> None:
    merged = merge_fields(
        [
            compile_expression("args.a > 1"),
            compile_expression("size(args) > 1"),
            compile_expression("facts.b"),
        ]
    )
    assert merged == {"args": None, "facts": frozenset({"b"})}
    assert merge_fields([compile_expression("now > now"), compile_expression("args.a")]) == {
        "now": None,
        "args": frozenset({"a"}),
    }


POLICY = compiled(
    """
label: reads
defaults: {unmatched_tool: deny}
rules:
  - id: many-args
    tools: [inventory_reserve_stock]
    when: "size(args) >= 3"
    tier: notify
    notify: ["role:warehouse_manager"]
  - id: one-arg
    tools: [inventory_reserve_stock]
    when: "args.quantity > 5"
    tier: auto
  - id: nested
    tools: [procurement_create_purchase_order]
    when: "args.lines.exists(l, l.quantity > 10)"
    tier: auto
"""
)


def test_a_condition_reading_all_args_sees_all_of_them() -> None:
    decision = run(POLICY, "inventory_reserve_stock", {"sku": "A", "warehouse": "AMS-1", "quantity": 6})
    assert decision.rule_ids == ("many-args", "one-arg")
    assert decision.tier is Tier.NOTIFY


def test_nested_values_reach_cel_intact() -> None:
    lines = [{"sku": "A", "quantity": 2}, {"sku": "B", "quantity": 11}]
    assert run(POLICY, "procurement_create_purchase_order", {"lines": lines}).rule_ids == ("nested",)
