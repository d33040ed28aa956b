"""Each kind of monitor reads its figure from the trail and ledgers in its sliding window, per scope;
`policy check` names what is wrong with a monitors section or an oversight field."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import yaml
from sqlalchemy import insert

from agent.operations import Operations
from agent.wiring import governance_engine
from governance.audit import AuditLog, EventKind
from governance.executions import executions
from governance.loader import parse_policy
from governance.monitors import evaluate
from governance.policy import DEFAULT_POLICY_PATH, Policy, PolicyError
from governance.usage import UsageCharge
from tests.oversight.conftest import WRITE_OFF, WRITE_OFF_ASKS, Clock, oversight_policy


def _figures(ops: Operations, clock: Clock, *monitors: dict[str, Any]) -> list[tuple[str, str | None, float]]:
    policy = _load(ops, oversight_policy(monitors=list(monitors)))
    readings = evaluate(policy, ops.stores.every_table(), clock.now)
    return sorted((r.scope, r.subject, round(r.figure, 2)) for r in readings)


def _trail(ops: Operations, clock: Clock) -> AuditLog:
    """The home's audit trail, written at the test's clock (the service's trail uses the real time)."""
    return AuditLog(governance_engine(ops.settings), clock=clock)


def _decision(
    ops: Operations, clock: Clock, actor: str, thread: str, stage: str = "plan", tier: str = "deny"
) -> None:
    payload = {"stage": stage, "tool": "itsm_add_work_note", "tier": tier, "reasons": ["x"]}
    _trail(ops, clock).append(EventKind.DECISION, payload, thread_id=thread, actor=actor)


def test_refusals_and_denials_are_counted_per_scope_in_the_window(ops: Operations, clock: Clock) -> None:
    _decision(ops, clock, "bob.requester", "t-old")
    clock.advance(hours=2)  # out of the 1h window from here on
    for _ in range(2):
        _decision(ops, clock, "bob.requester", "t-a")
    _decision(ops, clock, "bob.requester", "t-b", stage="validation")
    _decision(ops, clock, "alice.requester", "t-c", tier="auto")  # not refused

    per_thread = {"id": "m", "kind": "refused_calls", "per": "thread", "threshold": 1}
    per_person = {"id": "m", "kind": "refused_calls", "per": "person", "threshold": 3}
    denials = {"id": "m", "kind": "denials", "per": "person", "threshold": 2}
    assert _figures(ops, clock, per_thread) == [("thread", "t-a", 2.0), ("thread", "t-b", 1.0)]
    assert _figures(ops, clock, per_person) == [("person", "bob.requester", 3.0)]
    assert _figures(ops, clock, denials) == [("person", "bob.requester", 2.0)]  # validation is not policy


def test_spend_near_a_limit_in_percent_of_its_max(ops: Operations, clock: Clock) -> None:
    ops.stores.usage.record(
        UsageCharge(limit_id="po-daily-budget", key="alice.requester", amount=8500.0), clock.now, "k1"
    )
    ops.stores.usage.record(
        UsageCharge(limit_id="po-daily-budget", key="bob.requester", amount=500.0), clock.now, "k2"
    )
    near = {"id": "m", "kind": "limit_near", "limit": "po-daily-budget", "threshold": 80}
    assert _figures(ops, clock, near) == [("person", "alice.requester", 85.0)]
    clock.advance(hours=25)  # the limit's own 24h window
    assert _figures(ops, clock, near) == []


def _execution(ops: Operations, key: str, tool: str, status: str, at: datetime) -> None:
    row = {
        "key": key,
        "tool": tool,
        "args_digest": "0" * 64,
        "thread_id": "t",
        "status": status,
        "attempts": 1,
        "started_at": at.isoformat(timespec="microseconds"),
    }
    with governance_engine(ops.settings).begin() as conn:
        conn.execute(insert(executions).values(row))


def test_stuck_executions_and_a_tools_surge_over_its_baseline(ops: Operations, clock: Clock) -> None:
    ops.executions()  # the ledger's table exists
    _execution(ops, "s1", "inventory_transfer_stock", "started", clock.now - timedelta(minutes=20))
    _execution(ops, "s2", "inventory_transfer_stock", "started", clock.now - timedelta(minutes=5))
    for day in range(1, 7):  # a steady 2 a day over the past week
        for n in range(2):
            _execution(
                ops,
                f"b{day}-{n}",
                "procurement_create_requisition",
                "completed",
                clock.now - timedelta(days=day),
            )
    for n in range(12):  # then 12 within the last hour
        _execution(
            ops, f"r{n}", "procurement_create_requisition", "completed", clock.now - timedelta(minutes=n)
        )

    stuck = {"id": "m", "kind": "stuck_executions", "window": "15m", "threshold": 1}
    surge = {
        "id": "m",
        "kind": "tool_surge",
        "per": "tool",
        "window": "1h",
        "baseline": "7d",
        "threshold": 5,
        "min_count": 10,
        "tools": ["procurement_*"],
    }
    assert _figures(ops, clock, stuck) == [("all", None, 1.0)]
    assert _figures(ops, clock, surge) == [("tool", "procurement_create_requisition", 12.0)]


def test_approval_backlog_age_and_llm_error_rate(ops: Operations, clock: Clock) -> None:
    ops.send(WRITE_OFF, actor=WRITE_OFF_ASKS)
    clock.advance(hours=3)
    ops.send(WRITE_OFF, actor=WRITE_OFF_ASKS)
    for n in range(8):
        _trail(ops, clock).append(EventKind.RESPONSE, {"text": "ok"}, thread_id=f"t{n}")
    for n in range(2):
        _trail(ops, clock).append(
            EventKind.ERROR, {"error": "x", "type": "PlannerUnavailable"}, thread_id=f"e{n}"
        )

    backlog = {"id": "m", "kind": "approval_backlog", "threshold": 2}
    age = {"id": "m", "kind": "approval_age", "window": "2h", "threshold": 1}
    llm = {"id": "m", "kind": "llm_errors", "threshold": 20, "min_count": 10}
    assert _figures(ops, clock, backlog) == [("all", None, 2.0)]
    assert _figures(ops, clock, age) == [("all", None, 1.0)]
    assert _figures(ops, clock, llm) == [("all", None, 20.0)]  # 2 of 10 turns in the last hour
    assert _figures(ops, clock, {**llm, "threshold": 21}) == []
    assert _figures(ops, clock, {**llm, "min_count": 11}) == []  # too few turns to judge


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"monitors": [{"id": "m", "kind": "limit_near", "threshold": 80}]}, "monitor 'm': field 'limit'"),
        (
            {"monitors": [{"id": "m", "kind": "denials", "threshold": 3, "on_trip": "restrict"}]},
            "monitor 'm': field 'restrict'",
        ),
        ({"monitors": [{"id": "m", "kind": "spikes", "threshold": 3}]}, "monitor 'm': field 'kind'"),
        (
            {"monitors": [{"id": "m", "kind": "denials", "threshold": 3, "notify": ["role:nobody"]}]},
            "unknown role 'nobody'",
        ),
        ({"autonomy": {"pause_roles": ["change_manager"]}}, "autonomy: field 'approvers'"),
    ],
)
def test_policy_check_names_the_monitor_and_field(
    ops: Operations, change: dict[str, Any], problem: str
) -> None:
    document = oversight_policy(**change)
    with pytest.raises(PolicyError, match=problem):
        _load(ops, document)


def test_policy_check_names_misplaced_oversight_fields(ops: Operations) -> None:
    document = oversight_policy()
    for rule in document["rules"]:
        if rule["id"] == "big-po":
            rule["veto_window"] = "10m"
        if rule["id"] == "requisition":
            rule["escalate_after"] = "1h"
    with pytest.raises(PolicyError) as raised:
        _load(ops, document)
    text = str(raised.value)
    assert "rule 'big-po': field 'veto_window': only used when tier is notify" in text
    assert "rule 'requisition': field 'escalate_after': only used when tier is approve" in text
    assert "rule 'requisition': field 'escalate_to'" in text


def test_the_shipped_write_surge_counts_writes_not_reads(ops: Operations, clock: Clock) -> None:
    ops.stores.every_table()
    for n in range(40):  # a busy hour of stock questions, and of stock adjustments
        _execution(ops, f"read{n}", "inventory_get_stock", "completed", clock.now - timedelta(minutes=1))
        _execution(ops, f"write{n}", "inventory_adjust_stock", "completed", clock.now - timedelta(minutes=1))
    shipped = _load(ops, yaml.safe_load(DEFAULT_POLICY_PATH.read_text(encoding="utf-8")))

    readings = evaluate(shipped, ops.stores.every_table(), clock.now)

    assert [(r.subject, r.figure) for r in readings if r.monitor.id == "write-surge"] == [
        ("inventory_adjust_stock", 40.0)
    ]


def test_the_shipped_policy_has_monitors_and_checks(ops: Operations) -> None:
    shipped = _load(ops, yaml.safe_load(DEFAULT_POLICY_PATH.read_text(encoding="utf-8")))
    assert {m.kind for m in shipped.monitors} >= {"refused_calls", "denials", "limit_near", "tool_surge"}


def _load(ops: Operations, document: dict[str, Any]) -> Policy:
    directory = ops.governance.directory
    return parse_policy(
        yaml.safe_dump(document),
        catalogue=ops.governance.registry.side_effects(),
        roles=directory.roles,
        people=directory.ids,
    )
