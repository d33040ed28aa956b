"""An order its cost centre cannot pay for is refused by the shipped policy when it is proposed.

Pins, through the operations service with the offline planner on the seeded systems: an order worth
more than its cost centre has left gets no approval request, only an audited ``deny`` naming the
rule ``over-cost-centre-budget``; the same order within budget waits for its approvers as before; and
budget spent while an approved order waited is caught by the re-check before it runs, not by the
procurement system failing the order.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from agent.operations import Operations
from agent.settings import Settings

LAPTOPS = "order 40 laptops for the Berlin office"  # 40 × LAP-14-PRO at 1,377.50: 55,100 on CC-IT-OPS
RULE = "over-cost-centre-budget"
PO = "procurement_create_purchase_order"


@pytest.fixture
def home(tmp_path: Path, systems_template: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(systems_template, home / "systems.db")
    return home


@pytest.fixture
def ops(home: Path, monkeypatch: pytest.MonkeyPatch) -> Operations:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPSLAYER_OPENAI_API_KEY", raising=False)
    return Operations(Settings(home=home, grounding=False, _env_file=None))


def _leave(home: Path, code: str, euros: int) -> None:
    """Set the budget of cost centre ``code`` so that exactly ``euros`` of it is left."""
    with sqlite3.connect(home / "systems.db") as conn:
        conn.execute(
            "UPDATE cost_centres SET budget_cents = committed_cents + ? WHERE code = ?", (euros * 100, code)
        )


def _orders(home: Path) -> int:
    with sqlite3.connect(home / "systems.db") as conn:
        (count,) = conn.execute("SELECT count(*) FROM purchase_orders").fetchone()
    return int(count)


def test_an_order_over_what_its_cost_centre_has_left_is_refused_without_asking_anyone(
    ops: Operations, home: Path
) -> None:
    _leave(home, "CC-IT-OPS", 50_000)
    seeded = _orders(home)

    turn = ops.send(LAPTOPS, actor="alice.requester")

    [order] = [c for c in turn.calls if c.tool == PO]
    assert (order.tier, order.status, order.approval_id) == ("deny", "refused", None)
    assert RULE in order.rule_ids
    assert turn.pending == [] and ops.approvals(status=None) == []
    events = ops.audit_events(thread=turn.thread_id)
    assert not [e for e in events if e.kind == "approval_requested"]
    [decision] = [e.payload for e in events if e.kind == "decision" and e.payload.get("tool") == PO]
    assert (decision["stage"], decision["tier"]) == ("plan", "deny") and RULE in decision["rule_ids"]
    assert decision["facts"]["cost_centre_remaining"] == 50_000.0 and decision["facts"]["value"] == 55_100.0
    assert turn.answer is not None and "cost centre has left" in turn.answer
    assert _orders(home) == seeded


def test_the_same_order_within_budget_waits_for_its_approvers_as_before(ops: Operations) -> None:
    turn = ops.send(LAPTOPS, actor="alice.requester")

    [order] = [c for c in turn.calls if c.tool == PO]
    [request] = turn.pending
    assert (order.tier, order.status, order.approval_id) == ("approve", "waiting", request.id)
    assert RULE not in order.rule_ids and {"big-po", "huge-po"} <= set(order.rule_ids)


def test_budget_spent_while_an_approved_order_waited_is_caught_by_the_recheck(
    ops: Operations, home: Path
) -> None:
    [request] = ops.send(LAPTOPS, actor="alice.requester").pending
    ops.vote(request.id, voter="grace.procure", approve=True, channel="test")
    assert ops.vote(request.id, voter="heidi.finance", approve=True, channel="test").can_resume
    _leave(home, "CC-IT-OPS", 50_000)  # spent elsewhere after the approvals
    seeded = _orders(home)

    resumed = ops.resume(request.thread_id)

    events = ops.audit_events(thread=request.thread_id)
    ordered = [e for e in events if e.payload.get("tool") == PO]
    [recheck] = [e.payload for e in ordered if e.kind == "decision" and e.payload["stage"] == "recheck"]
    assert recheck["tier"] == "deny" and RULE in recheck["rule_ids"]
    assert not [e for e in ordered if e.kind == "execution"]  # refused by policy, never sent to the system
    assert resumed.answer is not None and "cost centre has left" in resumed.answer
    assert _orders(home) == seeded
