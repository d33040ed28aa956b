"""Settling a call a crash left started: only entitled people, always audited, usage charged once."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from governance.audit import AuditLog, EventKind
from governance.defaults import DEFAULT_SETTLER_ROLES
from governance.directory import load_directory
from governance.executions import (
    ExecutionLedger,
    ExecutionRecord,
    ExecutionStatus,
    NotStarted,
    idempotency_key,
    usage_charge_key,
)
from governance.executions.settlement import (
    InvalidResult,
    NotEntitled,
    call_decision,
    result_type,
    settle_execution,
    settlement_of,
)
from governance.store import sqlite_engine
from governance.usage import SqlUsageLedger, UsageCharge
from tools.catalogue import build_catalogue
from tools.models import OrderLine, POState, PurchaseOrder
from tools.registry import ToolRegistry, result_to_json

START = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
TOOL = "procurement_create_purchase_order"
DIGEST = "d" * 64
THREAD = "t-1"
KEY = idempotency_key(THREAD, "call-1", DIGEST)
BUDGET = UsageCharge(limit_id="po-daily-budget", key="alice.requester", amount=4760.0)
PO = PurchaseOrder(
    number="PO-2026-0025",
    supplier_id="SUP-003",
    cost_centre="CC-IT-OPS",
    requester="alice.requester",
    lines=(OrderLine(sku="LAP-14-PRO", quantity=4, unit_price=1190.0),),
    total_amount=4760.0,
    state=POState.SUBMITTED,
    created_at=START,
)
PO_JSON = result_to_json(PO)  # what the tool returns, as the executor records it
PEOPLE = load_directory()
TOOLS = ToolRegistry(build_catalogue())


def _clock() -> Callable[[], datetime]:
    ticks = iter(range(10**9))
    return lambda: START + timedelta(seconds=next(ticks))


@dataclass
class Stores:
    ledger: ExecutionLedger
    audit: AuditLog
    usage: SqlUsageLedger

    def settle(self, status: ExecutionStatus, text: str, person: str, **kw: Any) -> ExecutionRecord:
        operator = PEOPLE.actor(person)
        return settle_execution(
            self.ledger, self.audit, self.usage, KEY, status, text=text, operator=operator, tools=TOOLS, **kw
        )

    def used(self) -> float:
        return self.usage.total(BUDGET.limit_id, BUDGET.key, START - timedelta(days=1))

    def settled_events(self) -> list[Any]:
        return list(self.audit.events(kinds=[EventKind.EXECUTION_SETTLED]))


def _decision(stage: str, charges: list[UsageCharge]) -> dict[str, Any]:
    """A ``decision`` event payload as the agent's gate writes it (the parts settlement reads)."""
    return {
        "stage": stage,
        "tool_call_id": "call-1",
        "args": {"supplier_id": "SUP-003", "total_amount": 4760.0},
        "tool": TOOL,
        "tier": "approve",
        "args_digest": DIGEST,
        "usage_charges": [{"limit_id": c.limit_id, "key": c.key, "amount": c.amount} for c in charges],
    }


@pytest.fixture
def stores(tmp_path: Path) -> Stores:
    """A purchase order decided twice (plan, re-check) whose execution died inside the handler."""
    engine = sqlite_engine(tmp_path / "governance.db")
    found = Stores(ExecutionLedger(engine, clock=_clock()), AuditLog(engine), SqlUsageLedger(engine))
    found.audit.append(EventKind.DECISION, _decision("plan", []), thread_id=THREAD, actor="alice.requester")
    found.audit.append(
        EventKind.DECISION, _decision("recheck", [BUDGET]), thread_id=THREAD, actor="alice.requester"
    )

    def killed() -> str:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        found.ledger.run_once(KEY, tool=TOOL, args_digest=DIGEST, thread_id=THREAD, handler=killed)
    return found


def test_an_incident_manager_settles_a_call_as_completed_audited_and_charged(stores: Stores) -> None:
    settled = stores.settle(ExecutionStatus.COMPLETED, PO_JSON, "dave.incident")

    assert stores.ledger.get(KEY) == settled and settled.result == PO_JSON
    [event] = stores.settled_events()
    assert (event.kind, event.actor, event.thread_id) == ("execution_settled", "dave.incident", THREAD)
    assert event.payload == {
        "key": KEY,
        "tool": TOOL,
        "thread_id": THREAD,
        "args_digest": DIGEST,
        "attempts": 1,
        "previous_status": "started",
        "status": "completed",
        "result": PO_JSON,
        "reason": None,
        "operator": "dave.incident",
        "operator_roles": ["incident_manager"],
        "usage_charged": [{"limit_id": "po-daily-budget", "key": "alice.requester", "amount": 4760.0}],
    }
    assert stores.used() == 4760.0
    assert settlement_of(stores.audit, settled) == event
    assert stores.audit.verify().ok


def test_a_result_is_stored_as_the_tool_writes_it_computed_fields_included(stores: Stores) -> None:
    typed = json.dumps(
        {**PO.model_dump(mode="json"), "lines": [{"sku": "LAP-14-PRO", "quantity": 4, "unit_price": 1190}]}
    )
    assert "line_total" not in typed

    settled = stores.settle(ExecutionStatus.COMPLETED, typed, "dave.incident")

    assert settled.result == PO_JSON and json.loads(PO_JSON)["lines"][0]["line_total"] == 4760.0
    assert stores.settled_events()[0].payload["result"] == PO_JSON


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('{"number": "PO-2026-0025",', "not valid JSON (Expecting property name enclosed in double quotes"),
        ("PO-2026-0025 exists", "not valid JSON"),
        ("[]", "(result): Input should be a valid dictionary or instance of PurchaseOrder"),
        ('{"number": "PO-2026-0025", "total_amount": 4760.0}', "supplier_id: Field required"),
        (json.dumps({**json.loads(PO_JSON), "state": "lost"}), "state: Input should be 'draft'"),
        (
            json.dumps({**json.loads(PO_JSON), "total_amount": "a lot"}),
            "total_amount: Input should be a valid number",
        ),
        (json.dumps({**json.loads(PO_JSON), "numbr": "PO-1"}), "numbr: not a field of the result"),
        (
            json.dumps(
                {**json.loads(PO_JSON), "lines": [{**json.loads(PO_JSON)["lines"][0], "colour": "red"}]}
            ),
            "lines.0.colour: not a field of the result",
        ),
    ],
)
def test_a_result_that_is_not_what_the_tool_returns_is_refused_and_nothing_is_written(
    stores: Stores, text: str, named: str
) -> None:
    with pytest.raises(InvalidResult, match="not one procurement_create_purchase_order returns") as refused:
        stores.settle(ExecutionStatus.COMPLETED, text, "dave.incident")

    assert named in str(refused.value)
    assert stores.ledger.get(KEY).status is ExecutionStatus.STARTED  # type: ignore[union-attr]
    assert stores.settled_events() == [] and stores.used() == 0.0


def test_a_refusal_names_every_problem(stores: Stores) -> None:
    with pytest.raises(InvalidResult) as refused:
        stores.settle(ExecutionStatus.COMPLETED, "{}", "dave.incident")

    assert len(refused.value.problems) == 8
    assert all(problem in str(refused.value) for problem in refused.value.problems)
    assert "more" not in str(refused.value)


def test_a_notification_row_is_settled_with_plain_text(stores: Stores) -> None:
    notify = "notify:" + KEY

    def killed() -> str:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        stores.ledger.run_once(notify, tool=TOOL, args_digest=DIGEST, thread_id=THREAD, handler=killed)
    settled = settle_execution(
        stores.ledger,
        stores.audit,
        stores.usage,
        notify,
        ExecutionStatus.COMPLETED,
        text="told grace.procure by phone",
        operator=PEOPLE.actor("carol.desk"),
        tools=TOOLS,
    )

    assert settled.result == "told grace.procure by phone"


def test_every_catalogue_tool_names_the_result_it_returns() -> None:
    assert all(result_type(spec) is not Any for spec in TOOLS)
    assert result_type(TOOLS.get(TOOL)) is PurchaseOrder


def test_a_charge_the_executor_made_before_the_crash_is_not_made_again(stores: Stores) -> None:
    stores.usage.record(BUDGET, START, usage_charge_key(KEY, BUDGET.limit_id))

    stores.settle(ExecutionStatus.COMPLETED, PO_JSON, "carol.desk")

    assert stores.used() == 4760.0


def test_a_failed_settlement_records_the_reason_and_charges_nothing(stores: Stores) -> None:
    settled = stores.settle(ExecutionStatus.FAILED, "no PO for this key in the ERP", "carol.desk")

    assert settled.error == "no PO for this key in the ERP"
    [event] = stores.settled_events()
    assert (event.payload["status"], event.payload["reason"], event.payload["result"]) == (
        "failed",
        "no PO for this key in the ERP",
        None,
    )
    assert event.payload["usage_charged"] == []
    assert stores.used() == 0.0


def test_only_holders_of_a_settler_role_may_settle_and_a_refusal_writes_nothing(stores: Stores) -> None:
    assert DEFAULT_SETTLER_ROLES == ("service_desk", "incident_manager")
    for person in ("alice.requester", "grace.procure", "heidi.finance"):
        with pytest.raises(NotEntitled, match=f"{person} may not settle executions"):
            stores.settle(ExecutionStatus.COMPLETED, PO_JSON, person)

    assert stores.ledger.get(KEY).status is ExecutionStatus.STARTED  # type: ignore[union-attr]
    assert stores.settled_events() == [] and stores.used() == 0.0
    settled = stores.settle(
        ExecutionStatus.COMPLETED, PO_JSON, "grace.procure", entitled_roles=["procurement_manager"]
    )
    assert settled.status is ExecutionStatus.COMPLETED


def test_a_row_settled_once_cannot_be_settled_again(stores: Stores) -> None:
    stores.settle(ExecutionStatus.COMPLETED, PO_JSON, "dave.incident")

    with pytest.raises(NotStarted, match="is completed, not started"):
        stores.settle(ExecutionStatus.FAILED, "changed my mind", "carol.desk")

    assert len(stores.settled_events()) == 1 and stores.used() == 4760.0


def test_call_decision_is_the_latest_decision_of_exactly_this_call(stores: Stores) -> None:
    record = stores.ledger.get(KEY)
    assert record is not None
    stores.audit.append(
        EventKind.DECISION,
        {**_decision("plan", []), "tool_call_id": "call-2"},
        thread_id=THREAD,
        actor="alice.requester",
    )

    decision = call_decision(stores.audit, record)

    assert decision is not None and decision.payload["stage"] == "recheck"
    notify_row = stores.ledger.run_once(
        "notify:" + KEY, tool=TOOL, args_digest=DIGEST, thread_id=THREAD, handler=lambda: "sent"
    )
    assert call_decision(stores.audit, notify_row) is None
    assert settlement_of(stores.audit, record) is None
