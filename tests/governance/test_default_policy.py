"""The shipped policy against the seeded directory and the fixed catalogue: the examples of the brief.

Spend and stock rules read ``facts.value`` (what the tool's facts function looked up in the system of
record), never an amount in the arguments: the cases give the model's stated total and the looked-up
value apart, so a rule reading the wrong one fails.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from governance.compiled import compile_policy
from governance.decision import ApprovalRequirement, Decision, Tier, approval_satisfied
from governance.expressions import compile_expression
from governance.loader import load_policy
from governance.policy import DEFAULT_POLICY_PATH
from governance.usage import InMemoryUsage, UsageCharge
from tests.governance.support import CATALOGUE, DIRECTORY, PEOPLE, ROLES, default_policy, run

POLICY = default_policy()
PO = "procurement_create_purchase_order"
REQUISITION = "procurement_create_requisition"
TRANSFER = "inventory_transfer_stock"
ADJUST = "inventory_adjust_stock"
RESERVE = "inventory_reserve_stock"
PM, FC, WM = ("procurement_manager",), ("finance_controller",), ("warehouse_manager",)


def _po(total: float) -> dict[str, Any]:
    lines = [{"sku": "LAP-14-PRO", "quantity": 1, "unit_price": total}]
    return {"supplier_id": "SUP-001", "cost_centre": "CC-IT-OPS", "lines": lines, "total_amount": total}


def _valued(value: float) -> dict[str, Any]:
    """Facts of a PO or requisition whose lines are worth ``value`` at catalogue prices."""
    return {"value": value, "lines_total": value}


def _used(limit_id: str, amount: float, actor: str = "alice.requester") -> InMemoryUsage:
    usage = InMemoryUsage()
    usage.record(UsageCharge(limit_id=limit_id, key=actor, amount=amount), _now(), "k1")
    return usage


def _roles(decision: Decision) -> set[tuple[str, ...]]:
    return {approval.roles for approval in decision.approvals}


def test_30000_po_needs_a_procurement_manager_and_a_finance_controller() -> None:
    decision = run(POLICY, PO, _po(30000.0), facts=_valued(30000.0))
    assert decision.tier is Tier.APPROVE
    assert {approval.roles for approval in decision.approvals} == {
        ("procurement_manager",),
        ("finance_controller",),
    }
    grace, heidi = DIRECTORY.get("grace.procure"), DIRECTORY.get("heidi.finance")
    one_person = approval_satisfied(decision.approvals, [(grace.id, grace.roles)], "alice.requester")
    assert not one_person.satisfied
    two_people = [(grace.id, grace.roles), (heidi.id, heidi.roles)]
    assert approval_satisfied(decision.approvals, two_people, "alice.requester").satisfied


def test_500_po_notifies_procurement() -> None:
    decision = run(POLICY, PO, _po(500.0), facts=_valued(500.0))
    assert decision.tier is Tier.NOTIFY
    assert decision.notify == ("role:procurement_manager",)
    assert decision.usage_charges == (
        UsageCharge(limit_id="po-daily-budget", key="alice.requester", amount=500.0),
    )


def test_small_po_over_the_daily_budget_needs_approval() -> None:
    usage = _used("po-daily-budget", 9500.0)
    decision = run(POLICY, PO, _po(1000.0), facts=_valued(1000.0), usage=usage)
    assert decision.tier is Tier.APPROVE
    assert decision.approvals == (
        ApprovalRequirement(roles=("procurement_manager",), count=1, rule_id="po-daily-budget"),
    )
    assert any(
        reason.startswith("po-daily-budget: 9,500 used in 24h + 1,000 would exceed 10,000")
        for reason in decision.reasons
    )


# (total the model states, value looked up at catalogue prices, tier, approver roles)
PO_CASES = [
    # The attack: twenty laptops stated at 1.00 each. The catalogue values them at 27,550.
    (20.0, 27550.0, Tier.APPROVE, {PM, FC}),
    (500.0, 500.0, Tier.NOTIFY, set()),
    (2000.0, 2000.0, Tier.NOTIFY, set()),
    (1500.0, 2000.01, Tier.APPROVE, {PM}),
    (2000.01, 2000.01, Tier.APPROVE, {PM}),
    (25000.0, 25000.0, Tier.APPROVE, {PM}),
    (1.0, 25000.01, Tier.APPROVE, {PM, FC}),
]


@pytest.mark.parametrize(("stated", "value", "tier", "roles"), PO_CASES)
def test_purchase_orders_are_decided_on_the_catalogue_value_not_the_stated_total(
    stated: float, value: float, tier: Tier, roles: set[tuple[str, ...]]
) -> None:
    decision = run(POLICY, PO, _po(stated), facts=_valued(value))
    assert decision.tier is tier
    assert _roles(decision) == roles
    assert decision.condition_errors == ()
    assert decision.usage_charges == (
        UsageCharge(limit_id="po-daily-budget", key="alice.requester", amount=value),
    )


@pytest.mark.parametrize(
    ("tool", "roles"),
    [
        # No PO rule matches cleanly, so the unmatched-tool default (a change manager) applies too.
        (PO, {PM, FC, ("change_manager",)}),
        (REQUISITION, {PM}),
    ],
)
def test_spend_whose_value_could_not_be_looked_up_waits_for_approval(
    tool: str, roles: set[tuple[str, ...]]
) -> None:
    # The facts lookup failed (say the procurement system was down): nothing says what it is worth.
    decision = run(POLICY, tool, _po(20.0), facts={})
    assert decision.tier is Tier.APPROVE
    assert _roles(decision) == roles
    assert decision.condition_errors
    assert decision.usage_charges == ()
    # Nor what its cost centre has left: the budget rule does not deny every order while it is down.
    assert BUDGET_RULE not in decision.rule_ids


BUDGET_RULE = "over-cost-centre-budget"
# (tool, value at catalogue prices, budget left on the cost centre, tier, approver roles)
BUDGET_CASES = [
    (PO, 1478.2, 663.32, Tier.DENY, set()),  # 4 × MON-27-4K on CC-FACILITIES
    (PO, 30000.0, 29999.99, Tier.DENY, set()),  # deny is stronger than the two approvals it would need
    (PO, 663.32, 663.32, Tier.NOTIFY, set()),  # exactly what is left is fine
    (PO, 500.0, 72303.3, Tier.NOTIFY, set()),
    (PO, 30000.0, 72303.3, Tier.APPROVE, {PM, FC}),
    (REQUISITION, 1478.2, 663.32, Tier.DENY, set()),
    (REQUISITION, 663.32, 663.32, Tier.NOTIFY, set()),
    (PO, 0.01, 0.0, Tier.DENY, set()),  # a spent cost centre
]


@pytest.mark.parametrize(("tool", "value", "remaining", "tier", "roles"), BUDGET_CASES)
def test_an_order_worth_more_than_its_cost_centre_has_left_is_denied_up_front(
    tool: str, value: float, remaining: float, tier: Tier, roles: set[tuple[str, ...]]
) -> None:
    facts = _valued(value) | {"cost_centre_remaining": remaining}
    decision = run(POLICY, tool, _po(value), facts=facts)
    assert decision.tier is tier
    assert _roles(decision) == roles
    assert decision.condition_errors == ()
    assert (BUDGET_RULE in decision.rule_ids) is (tier is Tier.DENY)
    if tier is Tier.DENY:
        [reason] = [reason for reason in decision.reasons if reason.startswith(BUDGET_RULE)]
        assert "worth more than its cost centre has left" in reason
        assert "ask finance to raise the budget or charge another cost centre" in reason


def test_an_order_whose_value_cannot_be_read_against_a_known_budget_is_denied() -> None:
    # The budget was looked up but the value was not (or is not a number): fail closed.
    decision = run(POLICY, PO, _po(20.0), facts={"value": "a lot", "cost_centre_remaining": 663.32})
    assert decision.tier is Tier.DENY
    assert BUDGET_RULE in decision.rule_ids
    assert any(BUDGET_RULE in error for error in decision.condition_errors)


# (value already requisitioned today, value of this requisition, tier, approver roles)
REQUISITION_CASES = [
    (0.0, 500.0, Tier.NOTIFY, set()),
    (0.0, 10000.0, Tier.NOTIFY, set()),
    (0.0, 10000.01, Tier.APPROVE, {PM}),
    (9800.0, 200.0, Tier.NOTIFY, set()),
    (9800.0, 300.0, Tier.APPROVE, {PM}),
]


@pytest.mark.parametrize(("used", "value", "tier", "roles"), REQUISITION_CASES)
def test_requisitions_have_a_daily_limit_per_requester(
    used: float, value: float, tier: Tier, roles: set[tuple[str, ...]]
) -> None:
    lines = [{"sku": "SSD-1TB-NVME", "quantity": 1, "unit_price": 1.0}]
    args = {"cost_centre": "CC-IT-OPS", "lines": lines, "justification": "spares for repairs"}
    usage = _used("requisition-daily-value", used)
    decision = run(POLICY, REQUISITION, args, facts=_valued(value), usage=usage)
    assert decision.tier is tier
    assert _roles(decision) == roles
    assert decision.notify == ("role:procurement_manager",)
    assert decision.usage_charges == (
        UsageCharge(limit_id="requisition-daily-value", key="alice.requester", amount=value),
    )


def test_the_requisition_limit_is_counted_per_requester() -> None:
    usage = _used("requisition-daily-value", 9800.0, actor="bob.requester")
    lines = [{"sku": "SSD-1TB-NVME", "quantity": 1, "unit_price": 1.0}]
    args = {"cost_centre": "CC-IT-OPS", "lines": lines, "justification": "spares for repairs"}
    assert run(POLICY, REQUISITION, args, facts=_valued(300.0), usage=usage).tier is Tier.NOTIFY


# (value already transferred today, quantity, value of this transfer, tier, approver roles)
TRANSFER_LIMIT_CASES = [
    (0.0, 10, 790.0, Tier.AUTO, set()),
    (19000.0, 40, 6000.0, Tier.AUTO, set()),  # exactly at the limit is still within it
    (20000.0, 40, 6000.0, Tier.APPROVE, {WM}),
    (24500.0, 10, 790.0, Tier.APPROVE, {WM}),
]


@pytest.mark.parametrize(("used", "quantity", "value", "tier", "roles"), TRANSFER_LIMIT_CASES)
def test_transfers_have_a_daily_value_limit_per_requester(
    used: float, quantity: int, value: float, tier: Tier, roles: set[tuple[str, ...]]
) -> None:
    args = {"sku": "SSD-1TB-NVME", "from_warehouse": "AMS-1", "to_warehouse": "BER-2", "quantity": quantity}
    usage = _used("transfer-daily-value", used)
    decision = run(POLICY, TRANSFER, args | {"reason": "rebalance"}, facts={"value": value}, usage=usage)
    assert decision.tier is tier
    assert _roles(decision) == roles
    assert decision.usage_charges == (
        UsageCharge(limit_id="transfer-daily-value", key="alice.requester", amount=value),
    )
    if tier is Tier.APPROVE:
        assert decision.exceeded_limits == ("transfer-daily-value",)


# (kind, delta, value of the units, tier, rule ids)
ADJUSTMENT_CASES = [
    ("cycle_count", -3, 237.0, Tier.NOTIFY, ("cycle-count",)),
    ("cycle_count", -6, 500.0, Tier.NOTIFY, ("cycle-count",)),
    ("cycle_count", -7, 553.0, Tier.APPROVE, ("cycle-count", "cycle-count-decrease")),
    ("cycle_count", -1, 1450.0, Tier.APPROVE, ("cycle-count", "cycle-count-decrease")),
    ("cycle_count", 20, 29000.0, Tier.NOTIFY, ("cycle-count",)),  # a count that finds units removes none
    ("write_off", -1, 2.4, Tier.APPROVE, ("write-off",)),
]


@pytest.mark.parametrize(("kind", "delta", "value", "tier", "rule_ids"), ADJUSTMENT_CASES)
def test_cycle_count_decreases_above_500_are_write_offs(
    kind: str, delta: int, value: float, tier: Tier, rule_ids: tuple[str, ...]
) -> None:
    args = {"sku": "LAP-14-PRO", "warehouse": "AMS-1", "delta": delta, "kind": kind, "reason": "counted"}
    decision = run(POLICY, ADJUST, args, facts={"value": value})
    assert decision.tier is tier
    assert decision.rule_ids == rule_ids
    assert _roles(decision) == ({WM} if tier is Tier.APPROVE else set())
    assert decision.condition_errors == ()


def test_a_cycle_count_decrease_of_unknown_value_waits_for_approval() -> None:
    args = {
        "sku": "LAP-14-PRO",
        "warehouse": "AMS-1",
        "delta": -1,
        "kind": "cycle_count",
        "reason": "counted",
    }
    decision = run(POLICY, ADJUST, args, facts={})
    assert decision.tier is Tier.APPROVE
    assert "cycle-count-decrease" in decision.rule_ids
    assert _roles(decision) == {WM}


@pytest.mark.parametrize(
    ("used", "value", "tier"), [(800.0, 200.0, Tier.NOTIFY), (800.0, 300.0, Tier.APPROVE)]
)
def test_small_cycle_count_decreases_add_up_to_a_daily_limit(used: float, value: float, tier: Tier) -> None:
    args = {
        "sku": "SSD-1TB-NVME",
        "warehouse": "AMS-1",
        "delta": -3,
        "kind": "cycle_count",
        "reason": "counted",
    }
    decision = run(
        POLICY, ADJUST, args, facts={"value": value}, usage=_used("cycle-count-daily-decrease", used)
    )
    assert decision.tier is tier
    assert decision.usage_charges == (
        UsageCharge(limit_id="cycle-count-daily-decrease", key="alice.requester", amount=value),
    )


def test_cycle_count_increases_are_not_charged_to_the_decrease_limit() -> None:
    args = {
        "sku": "SSD-1TB-NVME",
        "warehouse": "AMS-1",
        "delta": 3,
        "kind": "cycle_count",
        "reason": "counted",
    }
    decision = run(
        POLICY, ADJUST, args, facts={"value": 237.0}, usage=_used("cycle-count-daily-decrease", 5000)
    )
    assert decision.tier is Tier.NOTIFY
    assert decision.usage_charges == ()


@pytest.mark.parametrize(("quantity", "tier"), [(1, Tier.AUTO), (20, Tier.AUTO), (21, Tier.APPROVE)])
def test_large_reservations_need_a_warehouse_manager(quantity: int, tier: Tier) -> None:
    args = {"sku": "LAP-14-PRO", "warehouse": "AMS-1", "quantity": quantity, "reference": "INC0010047"}
    decision = run(POLICY, RESERVE, args)
    assert decision.tier is tier
    assert _roles(decision) == ({WM} if tier is Tier.APPROVE else set())
    assert decision.condition_errors == ()


def test_unknown_tool_is_denied() -> None:
    assert run(POLICY, "procurement_pay_invoice", {"amount": 1}).tier is Tier.DENY


@pytest.mark.parametrize(
    ("environment", "now", "tier", "roles"),
    [
        ("prod", datetime(2026, 11, 20, tzinfo=UTC), Tier.APPROVE, {("change_manager",)}),
        ("staging", datetime(2026, 11, 20, tzinfo=UTC), Tier.NOTIFY, set()),
        ("prod", datetime(2026, 12, 24, tzinfo=UTC), Tier.DENY, set()),
        ("staging", datetime(2027, 1, 3, 23, 59, tzinfo=UTC), Tier.DENY, set()),
        ("staging", datetime(2027, 1, 4, tzinfo=UTC), Tier.NOTIFY, set()),
    ],
)
def test_change_requests(environment: str, now: datetime, tier: Tier, roles: set[tuple[str, ...]]) -> None:
    args = {
        "ci": "payments-api",
        "short_description": "restart",
        "description": "restart pods",
        "risk": "low",
    }
    decision = run(POLICY, "itsm_create_change_request", args, facts={"environment": environment}, now=now)
    assert decision.tier is tier
    assert {approval.roles for approval in decision.approvals} == roles


def test_staging_change_notifies_change_managers_and_the_channel() -> None:
    decision = run(POLICY, "itsm_create_change_request", {}, facts={"environment": "staging"})
    assert decision.notify == ("#ops-changes", "role:change_manager")


@pytest.mark.parametrize(
    ("args", "facts", "tier"),
    [
        ({"sku": "SSD-1TB-NVME", "quantity": 60}, {"value": 5000.0}, Tier.APPROVE),
        ({"sku": "SSD-1TB-NVME", "quantity": 10}, {"value": 890.0}, Tier.AUTO),
        ({"sku": "LAP-14-PRO", "quantity": 10}, {"value": 12500.0}, Tier.APPROVE),
    ],
)
def test_stock_transfers(args: dict[str, Any], facts: dict[str, Any], tier: Tier) -> None:
    base = {"from_warehouse": "AMS-1", "to_warehouse": "BER-2", "reason": "rebalance"}
    assert run(POLICY, "inventory_transfer_stock", base | args, facts=facts).tier is tier


@pytest.mark.parametrize(("kind", "tier"), [("write_off", Tier.APPROVE), ("cycle_count", Tier.NOTIFY)])
def test_stock_adjustments(kind: str, tier: Tier) -> None:
    args = {"sku": "SSD-1TB-NVME", "warehouse": "AMS-1", "delta": -3, "kind": kind, "reason": "damaged"}
    decision = run(POLICY, "inventory_adjust_stock", args, facts={"value": 267.0})
    assert decision.tier is tier
    assert decision.condition_errors == ()


@pytest.mark.parametrize(("priority", "tier"), [(1, Tier.NOTIFY), (2, Tier.NOTIFY), (3, Tier.AUTO)])
def test_resolving_major_incidents_notifies(priority: int, tier: Tier) -> None:
    args = {"number": "INC0012", "resolution_code": "fixed", "resolution_notes": "restarted"}
    assert run(POLICY, "itsm_resolve_incident", args, facts={"priority": priority}).tier is tier


@pytest.mark.parametrize(
    ("tool", "tier"),
    [
        ("itsm_search_incidents", Tier.AUTO),
        ("inventory_get_stock", Tier.AUTO),
        ("procurement_search_suppliers", Tier.AUTO),
        ("itsm_create_incident", Tier.AUTO),
        ("itsm_update_incident", Tier.NOTIFY),
        ("itsm_add_work_note", Tier.NOTIFY),
        ("inventory_set_reorder_point", Tier.NOTIFY),
        ("procurement_cancel_purchase_order", Tier.APPROVE),
    ],
)
def test_unconditional_tools(tool: str, tier: Tier) -> None:
    decision = run(POLICY, tool, {})
    assert decision.tier is tier
    assert decision.condition_errors == ()


def test_every_catalogue_tool_is_covered_by_a_rule() -> None:
    unmatched = [tool for tool, plan in POLICY.plans.items() if not plan.rules]
    assert unmatched == []


def test_every_rule_has_a_reason() -> None:
    assert all(rule.reason for rule in POLICY.policy.rules)
    assert all(limit.reason for limit in POLICY.policy.limits)


def test_the_policy_loads_against_the_real_catalogue_and_reads_real_argument_names() -> None:
    from tools.catalogue import build_catalogue

    specs = {spec.name: spec for spec in build_catalogue()}
    assert {name: spec.side_effect for name, spec in specs.items()} == CATALOGUE
    compiled = compile_policy(
        load_policy(DEFAULT_POLICY_PATH, catalogue=CATALOGUE, roles=ROLES, people=PEOPLE), CATALOGUE
    )
    for tool, plan in compiled.plans.items():
        for expression in plan.expressions:
            for field in compile_expression(expression.source).fields.get("args") or ():
                assert field in specs[tool].args_model.model_fields, (tool, expression.source)


def _now() -> datetime:
    return datetime(2026, 11, 20, 10, tzinfo=UTC) - timedelta(hours=1)
