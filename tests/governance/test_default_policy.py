"""The shipped policy against the seeded directory and the fixed catalogue: the examples of the brief."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from governance.compiled import compile_policy
from governance.decision import ApprovalRequirement, Tier, approval_satisfied
from governance.expressions import compile_expression
from governance.loader import load_policy
from governance.policy import DEFAULT_POLICY_PATH
from governance.usage import InMemoryUsage, UsageCharge
from tests.governance.support import CATALOGUE, DIRECTORY, PEOPLE, ROLES, default_policy, run

POLICY = default_policy()
PO = "procurement_create_purchase_order"


def _po(total: float) -> dict[str, Any]:
    lines = [{"sku": "LAP-14-PRO", "quantity": 1, "unit_price": total}]
    return {"supplier_id": "SUP-001", "cost_centre": "CC-IT-OPS", "lines": lines, "total_amount": total}


def test_30000_po_needs_a_procurement_manager_and_a_finance_controller() -> None:
    decision = run(POLICY, PO, _po(30000.0))
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
    decision = run(POLICY, PO, _po(500.0))
    assert decision.tier is Tier.NOTIFY
    assert decision.notify == ("role:procurement_manager",)
    assert decision.usage_charges == (
        UsageCharge(limit_id="po-daily-budget", key="alice.requester", amount=500.0),
    )


def test_small_po_over_the_daily_budget_needs_approval() -> None:
    usage = InMemoryUsage()
    usage.record(UsageCharge(limit_id="po-daily-budget", key="alice.requester", amount=9500.0), _now(), "k1")
    decision = run(POLICY, PO, _po(1000.0), usage=usage)
    assert decision.tier is Tier.APPROVE
    assert decision.approvals == (
        ApprovalRequirement(roles=("procurement_manager",), count=1, rule_id="po-daily-budget"),
    )
    assert any(
        reason.startswith("po-daily-budget: 9,500 used in 24h + 1,000 would exceed 10,000")
        for reason in decision.reasons
    )


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
        ("inventory_reserve_stock", Tier.AUTO),
        ("inventory_set_reorder_point", Tier.NOTIFY),
        ("procurement_create_requisition", Tier.NOTIFY),
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
