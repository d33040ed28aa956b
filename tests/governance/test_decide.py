"""decide(): tiers, strongest-wins, combined approvals, defaults, fail-closed conditions, limits, windows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from governance.decision import ApprovalRequirement, Tier, args_digest
from governance.usage import InMemoryUsage, UsageCharge
from tests.governance.support import NOW, compiled, run

POLICY = compiled(
    """
label: test
defaults:
  unknown_tool: deny
  unmatched_tool: approve
  approvers: {roles: [change_manager]}
windows:
  - {id: freeze, start: "2026-12-18T00:00:00Z", end: "2027-01-04T00:00:00Z"}
rules:
  - id: reads
    tools: ["*_get_*", "*_search_*"]
    side_effects: [read]
    tier: auto
    reason: reads are safe
  - id: notes
    tools: [itsm_add_work_note]
    tier: notify
    notify: ["role:incident_manager", "user:dave.incident", "#ops"]
    reason: incident managers hear about notes
  - id: small-po
    tools: [procurement_create_purchase_order]
    when: "args.total_amount <= 2000.0"
    tier: notify
    notify: ["role:procurement_manager"]
    reason: small orders are announced
  - id: big-po
    tools: [procurement_create_purchase_order]
    when: "args.total_amount > 2000.0"
    tier: approve
    approvers: {roles: [procurement_manager]}
    notify: ["#purchasing"]
    reason: big orders need procurement
  - id: huge-po
    tools: [procurement_create_purchase_order]
    when: "args.total_amount > 25000.0"
    tier: approve
    approvers: [{roles: [finance_controller]}, {roles: [procurement_manager], count: 2}]
    reason: huge orders need finance too
  - id: cancel-po
    tools: [procurement_cancel_purchase_order]
    tier: deny
    reason: cancelling is done by hand
  - id: transfer
    tools: [inventory_transfer_stock]
    tier: auto
    reason: transfers run
  - id: big-transfer
    tools: [inventory_transfer_stock]
    when: "args.quantity > 50 || facts.value > 10000.0"
    tier: approve
    approvers: {roles: [warehouse_manager]}
    reason: big transfers need a warehouse manager
  - id: reserve
    tools: [inventory_reserve_stock]
    tier: auto
    reason: reservations run
  - id: reserve-odd
    tools: [inventory_reserve_stock]
    when: "args.quantity"
    tier: notify
    notify: ["role:warehouse_manager"]
    reason: a condition that is not a bool
  - id: change
    tools: [itsm_create_change_request]
    tier: notify
    notify: ["role:change_manager"]
    reason: changes are announced
  - id: change-freeze
    tools: [itsm_create_change_request]
    during: [freeze]
    tier: deny
    reason: change freeze
  - id: slack-only-requisition
    tools: [procurement_create_requisition]
    when: "context.channel == 'slack' && 'requester' in actor.roles"
    tier: auto
    reason: requesters on Slack may raise requisitions
limits:
  - id: po-budget
    tools: [procurement_create_purchase_order]
    sum: "args.total_amount"
    per: actor
    window: 24h
    max: 10000
    exceeded_tier: approve
    approvers: {roles: [procurement_manager]}
    reason: daily budget
  - id: note-count
    tools: [itsm_add_work_note]
    count: true
    per: global
    window: 1h
    max: 3
    exceeded_tier: deny
    reason: too many notes
"""
)


@pytest.mark.parametrize(
    ("tool", "args", "facts", "tier", "rule_ids"),
    [
        ("itsm_get_incident", {"number": "INC0012"}, {}, Tier.AUTO, ("reads",)),
        ("itsm_add_work_note", {"number": "INC0012", "note": "x"}, {}, Tier.NOTIFY, ("notes",)),
        ("procurement_create_purchase_order", {"total_amount": 500.0}, {}, Tier.NOTIFY, ("small-po",)),
        ("procurement_create_purchase_order", {"total_amount": 2000.0}, {}, Tier.NOTIFY, ("small-po",)),
        ("procurement_create_purchase_order", {"total_amount": 2000.01}, {}, Tier.APPROVE, ("big-po",)),
        ("procurement_cancel_purchase_order", {"number": "PO1"}, {}, Tier.DENY, ("cancel-po",)),
        ("inventory_transfer_stock", {"quantity": 50}, {"value": 10000.0}, Tier.AUTO, ("transfer",)),
        (
            "inventory_transfer_stock",
            {"quantity": 51},
            {"value": 1.0},
            Tier.APPROVE,
            ("transfer", "big-transfer"),
        ),
        (
            "inventory_transfer_stock",
            {"quantity": 1},
            {"value": 10000.5},
            Tier.APPROVE,
            ("transfer", "big-transfer"),
        ),
        ("itsm_create_change_request", {"ci": "payments-api"}, {}, Tier.NOTIFY, ("change",)),
    ],
)
def test_each_tier_comes_from_the_matching_rules(
    tool: str, args: dict[str, Any], facts: dict[str, Any], tier: Tier, rule_ids: tuple[str, ...]
) -> None:
    decision = run(POLICY, tool, args, facts=facts)
    assert decision.tier is tier
    assert decision.rule_ids == rule_ids
    assert decision.condition_errors == ()


def test_strongest_tier_wins_and_reasons_name_every_match() -> None:
    decision = run(POLICY, "inventory_transfer_stock", {"quantity": 60}, facts={"value": 1.0})
    assert decision.tier is Tier.APPROVE
    assert decision.reasons == (
        "transfer: transfers run",
        "big-transfer: big transfers need a warehouse manager",
    )
    assert decision.approvals == (
        ApprovalRequirement(roles=("warehouse_manager",), count=1, rule_id="big-transfer"),
    )


def test_approval_requirements_of_all_approve_rules_combine() -> None:
    decision = run(POLICY, "procurement_create_purchase_order", {"total_amount": 30000.0})
    assert decision.tier is Tier.APPROVE
    assert decision.rule_ids == ("big-po", "huge-po")
    # procurement_manager is asked for by big-po (1), huge-po (2) and the budget (1): the largest count wins.
    assert decision.approvals == (
        ApprovalRequirement(roles=("procurement_manager",), count=2, rule_id="huge-po"),
        ApprovalRequirement(roles=("finance_controller",), count=1, rule_id="huge-po"),
    )
    assert decision.notify == ("#purchasing",)


def test_notify_targets_are_united_and_sorted() -> None:
    decision = run(POLICY, "itsm_add_work_note", {"number": "INC0012"})
    assert decision.notify == ("#ops", "role:incident_manager", "user:dave.incident")
    assert decision.approvals == ()


def test_deny_carries_no_approvals_or_notify_targets() -> None:
    decision = run(POLICY, "itsm_create_change_request", {}, now=NOW.replace(month=12, day=20))
    assert decision.tier is Tier.DENY
    assert decision.rule_ids == ("change", "change-freeze")
    assert (decision.approvals, decision.notify) == ((), ())


def test_unknown_tool_is_denied_and_says_why() -> None:
    decision = run(POLICY, "itsm_delete_everything", {"all": True})
    assert decision.tier is Tier.DENY
    assert decision.rule_ids == ()
    assert decision.reasons == (
        "tool 'itsm_delete_everything' is not in the catalogue; unknown tools are denied",
    )
    assert decision.args_digest == args_digest({"all": True})


def test_tool_no_rule_matches_gets_the_unmatched_default_with_its_approvers() -> None:
    decision = run(POLICY, "itsm_create_incident", {"short_description": "x"})
    assert decision.tier is Tier.APPROVE
    assert decision.rule_ids == ()
    assert decision.reasons == (
        "no rule matches 'itsm_create_incident'; the default for unmatched tools is approve",
    )
    assert decision.approvals == (
        ApprovalRequirement(roles=("change_manager",), count=1, rule_id="defaults"),
    )


def test_conditions_that_do_not_hold_leave_the_tool_unmatched() -> None:
    decision = run(POLICY, "procurement_create_requisition", {"cost_centre": "CC-IT-OPS"}, channel="cli")
    assert decision.tier is Tier.APPROVE
    assert decision.rule_ids == ()


def test_conditions_read_actor_and_context() -> None:
    decision = run(POLICY, "procurement_create_requisition", {}, channel="slack", actor="alice.requester")
    assert (decision.tier, decision.rule_ids) == (Tier.AUTO, ("slack-only-requisition",))
    not_requester = run(POLICY, "procurement_create_requisition", {}, channel="slack", actor="carol.desk")
    assert not_requester.tier is Tier.APPROVE


# -- fail closed ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected_error"),
    [
        ({}, "missing field 'total_amount'"),
        ({"total_amount": "lots"}, "TypeError"),
    ],
)
def test_condition_that_cannot_be_evaluated_counts_as_matched(
    args: dict[str, Any], expected_error: str
) -> None:
    decision = run(POLICY, "procurement_create_purchase_order", args)
    assert decision.tier is Tier.APPROVE
    assert decision.rule_ids == ("small-po", "big-po", "huge-po")
    rule_errors = [error for error in decision.condition_errors if error.startswith("condition of rule")]
    assert len(rule_errors) == 3
    assert all(expected_error in error for error in rule_errors)
    assert decision.condition_errors[3].startswith("amount of limit 'po-budget' could not be evaluated")
    assert (
        f"condition of rule 'big-po' could not be evaluated: {decision.condition_errors[1].split(': ', 1)[1]}"
        " — treated as matched (fail closed)"
    ) in decision.reasons
    # The budget's sum fails too: it counts as exceeded and nothing is charged.
    assert decision.exceeded_limits == ("po-budget",)
    assert decision.usage_charges == ()
    # No rule matched cleanly, so the unmatched default (change_manager) applies as well.
    assert ApprovalRequirement(roles=("change_manager",), count=1, rule_id="defaults") in decision.approvals


def test_a_condition_that_is_not_a_bool_fails_closed() -> None:
    decision = run(POLICY, "inventory_reserve_stock", {"quantity": 3})
    assert decision.tier is Tier.NOTIFY
    assert decision.rule_ids == ("reserve", "reserve-odd")
    assert decision.condition_errors == (
        "condition of rule 'reserve-odd' could not be evaluated: returned int 3, not a bool",
    )


def test_one_failing_condition_does_not_hide_the_others() -> None:
    # `facts.value` is missing but `args.quantity > 50` holds: CEL's `||` absorbs the error.
    decision = run(POLICY, "inventory_transfer_stock", {"quantity": 60})
    assert decision.condition_errors == ()
    assert decision.tier is Tier.APPROVE
    # Here the error decides: quantity is small and value is missing.
    decision = run(POLICY, "inventory_transfer_stock", {"quantity": 5})
    assert decision.tier is Tier.APPROVE
    assert decision.condition_errors == (
        "condition of rule 'big-transfer' could not be evaluated: missing field 'value'",
    )
    # `transfer` matched cleanly, so the unmatched default does not apply.
    assert [approval.rule_id for approval in decision.approvals] == ["big-transfer"]


# -- limits -----------------------------------------------------------------------------------------


def _usage(*entries: tuple[float, timedelta], actor: str = "alice.requester") -> InMemoryUsage:
    usage = InMemoryUsage()
    for index, (amount, ago) in enumerate(entries):
        usage.record(UsageCharge(limit_id="po-budget", key=actor, amount=amount), NOW - ago, f"k{index}")
    return usage


def test_limit_exactly_at_max_is_not_exceeded() -> None:
    usage = _usage((9000.0, timedelta(hours=1)))
    decision = run(POLICY, "procurement_create_purchase_order", {"total_amount": 1000.0}, usage=usage)
    assert decision.tier is Tier.NOTIFY
    assert decision.exceeded_limits == ()
    assert decision.usage_charges == (
        UsageCharge(limit_id="po-budget", key="alice.requester", amount=1000.0),
    )


def test_limit_with_float_sums_landing_on_max_is_not_exceeded() -> None:
    usage = _usage((9500.1, timedelta(hours=1)))
    decision = run(POLICY, "procurement_create_purchase_order", {"total_amount": 499.9}, usage=usage)
    assert decision.exceeded_limits == ()


def test_limit_just_past_max_escalates_and_says_by_how_much() -> None:
    usage = _usage((9000.0, timedelta(hours=1)), (500.0, timedelta(hours=3)))
    decision = run(POLICY, "procurement_create_purchase_order", {"total_amount": 1000.0}, usage=usage)
    assert decision.tier is Tier.APPROVE
    assert decision.exceeded_limits == ("po-budget",)
    assert "po-budget: 9,500 used in 24h + 1,000 would exceed 10,000 — daily budget" in decision.reasons
    assert decision.approvals == (
        ApprovalRequirement(roles=("procurement_manager",), count=1, rule_id="po-budget"),
    )
    assert decision.notify == ("role:procurement_manager",)


def test_usage_outside_the_window_is_not_counted() -> None:
    usage = _usage((9500.0, timedelta(hours=24, microseconds=1)))
    decision = run(POLICY, "procurement_create_purchase_order", {"total_amount": 1000.0}, usage=usage)
    assert decision.exceeded_limits == ()
    at_window_start = _usage((9500.0, timedelta(hours=24)))
    decision = run(
        POLICY, "procurement_create_purchase_order", {"total_amount": 1000.0}, usage=at_window_start
    )
    assert decision.exceeded_limits == ("po-budget",)


def test_per_actor_limits_count_only_that_actor() -> None:
    usage = _usage((9500.0, timedelta(hours=1)), actor="bob.requester")
    decision = run(POLICY, "procurement_create_purchase_order", {"total_amount": 1000.0}, usage=usage)
    assert decision.exceeded_limits == ()


def test_global_count_limit_escalates_to_deny() -> None:
    usage = InMemoryUsage()
    for index in range(3):
        usage.record(
            UsageCharge(limit_id="note-count", key="*", amount=1.0), NOW - timedelta(minutes=5), str(index)
        )
    decision = run(POLICY, "itsm_add_work_note", {"number": "INC1"}, usage=usage, actor="bob.requester")
    assert decision.tier is Tier.DENY
    assert decision.usage_charges == (UsageCharge(limit_id="note-count", key="*", amount=1.0),)
    assert "note-count: 3 used in 1h + 1 would exceed 3 — too many notes" in decision.reasons


# -- time windows -----------------------------------------------------------------------------------

FREEZE_START = NOW.replace(year=2026, month=12, day=18, hour=0)
FREEZE_END = NOW.replace(year=2027, month=1, day=4, hour=0)


@pytest.mark.parametrize(
    ("now", "tier"),
    [
        (FREEZE_START - timedelta(microseconds=1), Tier.NOTIFY),
        (FREEZE_START, Tier.DENY),
        (FREEZE_END - timedelta(microseconds=1), Tier.DENY),
        (FREEZE_END, Tier.NOTIFY),
    ],
)
def test_freeze_window_is_half_open(now: Any, tier: Tier) -> None:
    assert run(POLICY, "itsm_create_change_request", {}, now=now).tier is tier


def test_window_edges_hold_in_any_timezone() -> None:
    from datetime import timezone

    cet = timezone(timedelta(hours=1))
    just_before = FREEZE_START.astimezone(cet) - timedelta(microseconds=1)
    assert run(POLICY, "itsm_create_change_request", {}, now=just_before).tier is Tier.NOTIFY


# -- the decision record ----------------------------------------------------------------------------


def test_decision_records_version_and_args_digest_and_serialises() -> None:
    args = {"total_amount": 500.0, "supplier_id": "SUP-001", "note": "Größe"}
    decision = run(POLICY, "procurement_create_purchase_order", args)
    assert decision.policy_version == POLICY.version
    assert POLICY.version.startswith("test@sha256:") and len(POLICY.version) == len("test@sha256:") + 16
    assert decision.args_digest == args_digest(dict(reversed(args.items())))
    document = decision.to_dict()
    assert document["tier"] == "notify"
    assert document["usage_charges"] == [{"limit_id": "po-budget", "key": "alice.requester", "amount": 500.0}]
    import json

    assert json.loads(json.dumps(document)) == document


def test_args_digest_is_sha256_of_canonical_json() -> None:
    import hashlib

    expected = hashlib.sha256('{"a":[1,2],"b":"é"}'.encode()).hexdigest()
    assert args_digest({"b": "é", "a": [1, 2]}) == expected


# -- the usage variable and failures outside CEL ------------------------------------------------------

USAGE_POLICY = compiled(
    """
label: usage
defaults: {unmatched_tool: deny}
rules:
  - id: po
    tools: [procurement_create_purchase_order]
    tier: auto
  - id: heavy-spender
    tools: [procurement_create_purchase_order]
    when: "usage['po-budget'] > 5000.0"
    tier: notify
    notify: ["role:finance_controller"]
limits:
  - id: po-budget
    tools: [procurement_create_purchase_order]
    sum: args.total_amount
    window: 7d
    max: 1000000
    exceeded_tier: deny
"""
)


def test_conditions_can_read_what_a_limit_has_used() -> None:
    usage = _usage((6000.0, timedelta(days=2)))
    usage.record(UsageCharge(limit_id="po-budget", key="alice.requester", amount=1.0), NOW, "other")
    decision = run(USAGE_POLICY, "procurement_create_purchase_order", {"total_amount": 10.0}, usage=usage)
    assert decision.rule_ids == ("po", "heavy-spender")
    assert run(USAGE_POLICY, "procurement_create_purchase_order", {"total_amount": 10.0}).tier is Tier.AUTO


class _BrokenLedger:
    def total(self, limit_id: str, key: str, since: Any) -> float:
        raise ConnectionError("ledger unavailable")


def test_a_failing_usage_reader_is_not_mistaken_for_a_failing_condition() -> None:
    with pytest.raises(ConnectionError):
        run(USAGE_POLICY, "procurement_create_purchase_order", {"total_amount": 10.0}, usage=_BrokenLedger())


def test_argument_values_cel_cannot_take_fail_closed() -> None:
    decision = run(POLICY, "procurement_create_purchase_order", {"total_amount": {1, 2}})
    assert decision.tier is Tier.APPROVE
    assert decision.condition_errors
    assert all("could not be evaluated" in error for error in decision.condition_errors)
