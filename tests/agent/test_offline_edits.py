"""Answers after edit-and-approve say what actually ran or failed, not what was first proposed.

Through the real graph, the offline planner and the local systems, by the command line (typer's
runner on a temporary OPSLAYER_HOME): an approver edits the call with ``--edit-args``, the thread
resumes, and the answer printed is checked against the systems of record.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from agent.cli.app import app


def invoke(cli: CliRunner, *args: str) -> tuple[int, str]:
    result = cli.invoke(app, list(args))
    return result.exit_code, result.output


def answer(out: str) -> str:
    """The agent's answer (the text in the opslayer panel), with rich's wrapping and borders undone."""
    panel = out[out.index("opslayer") :]
    rows = [line.strip().strip("│").strip() for line in panel.splitlines()[1:]]
    return " ".join(row for row in rows if row and not row.startswith("╰")).split(" thread t-")[0]


def asked(cli: CliRunner, person: str, request: str) -> dict[str, Any]:
    code, out = invoke(cli, "chat", "--as", person, request)
    assert code == 0 and "waiting for approval" in out
    (pending,) = json.loads(invoke(cli, "approvals", "list", "--json")[1])
    return dict(pending)


def approve(cli: CliRunner, approval_id: str, person: str, edited: dict[str, Any] | None = None) -> str:
    extra = ("--edit-args", json.dumps(edited)) if edited is not None else ()
    code, out = invoke(cli, "approvals", "approve", approval_id, "--as", person, *extra)
    assert code == 0, out
    return out


def systems(tmp_path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(tmp_path / "home" / "systems.db") as db:
        return db.execute(sql).fetchall()


def po_for(proposed: dict[str, Any], *, quantity: int, cost_centre: str | None = None) -> dict[str, Any]:
    (line,) = proposed["lines"]
    return {
        **proposed,
        "cost_centre": cost_centre or proposed["cost_centre"],
        "lines": [{**line, "quantity": quantity}],
        "total_amount": round(quantity * line["unit_price"], 2),
    }


def test_an_order_edited_to_30_laptops_is_answered_with_the_30_that_were_ordered(
    cli: CliRunner, tmp_path: Path
) -> None:
    pending = asked(cli, "alice.requester", "order 40 laptops for the Berlin office")
    assert pending["args"]["lines"][0]["quantity"] == 40
    approve(cli, pending["id"], "grace.procure", po_for(pending["args"], quantity=30))
    text = answer(approve(cli, pending["id"], "heidi.finance"))

    assert systems(tmp_path, "SELECT number FROM purchase_orders WHERE number = 'PO-2026-0025'") == [
        ("PO-2026-0025",)
    ]
    assert systems(tmp_path, "SELECT quantity FROM po_lines WHERE document = 'PO-2026-0025'") == [(30,)]
    assert text.startswith("Purchase order PO-2026-0025 created (submitted): 30 × LAP-14-PRO")
    assert "total 41,325.00 EUR" in text and "40" not in text
    assert text.endswith("An approver edited the request before approving it; the above is what ran.")


def test_an_order_moved_to_another_supplier_does_not_call_that_supplier_the_cheapest(
    cli: CliRunner, tmp_path: Path
) -> None:
    pending = asked(cli, "alice.requester", "order 40 laptops for the Berlin office")
    line = {"sku": "LAP-14-PRO", "quantity": 40, "unit_price": 1464.5}
    edited = {**pending["args"], "supplier_id": "SUP-003", "lines": [line], "total_amount": 58580.0}
    approve(cli, pending["id"], "grace.procure", edited)
    text = answer(approve(cli, pending["id"], "heidi.finance"))

    assert systems(tmp_path, "SELECT supplier_id FROM purchase_orders WHERE number = 'PO-2026-0025'") == [
        ("SUP-003",)
    ]
    assert text == (
        "Purchase order PO-2026-0025 created (submitted): 40 × LAP-14-PRO at 1,464.50 EUR from SUP-003, "
        "total 58,580.00 EUR, charged to CC-IT-OPS. SUP-001 was proposed: the cheapest of 2 active offers "
        "(lead time 5 days). An approver edited the request before approving it; the above is what ran."
    )


def test_a_write_off_edited_beyond_the_stock_is_answered_as_failed_with_the_edited_units(
    cli: CliRunner, tmp_path: Path
) -> None:
    pending = asked(cli, "carol.desk", "write off 3 damaged MON-27-4K at AMS-1")
    text = answer(approve(cli, pending["id"], "frank.warehouse", {**pending["args"], "delta": -900}))

    assert systems(tmp_path, "SELECT count(*) FROM adjustments") == [(0,)]
    assert text == (
        "I could not write off 900 × MON-27-4K at AMS-1 (as edited at approval): it failed. "
        "It said: “insufficient stock of MON-27-4K at AMS-1: requested 900, available 16”"
    )


def test_an_order_edited_onto_a_spent_cost_centre_is_rejected_at_the_edit_with_the_budget_reason(
    cli: CliRunner, tmp_path: Path
) -> None:
    # The edited call is decided again when it is made: CC-FACILITIES has 663.32 left, so the shipped
    # policy denies it there (over-cost-centre-budget) instead of the order failing once it runs.
    pending = asked(cli, "alice.requester", "order 40 laptops for the Berlin office")
    edited = po_for(pending["args"], quantity=30, cost_centre="CC-FACILITIES")
    text = answer(approve(cli, pending["id"], "grace.procure", edited))

    assert systems(tmp_path, "SELECT count(*) FROM purchase_orders") == [(24,)]  # the seeded ones only
    assert text.startswith(
        "I did not order 30 × LAP-14-PRO from SUP-001 for 41,325.00 EUR on CC-FACILITIES "
        "(as edited at approval): the request was rejected."
    )
    assert "over-cost-centre-budget: The order is worth more than its cost centre has left" in text
    assert "created" not in text and "40" not in text
    code, out = invoke(cli, "approvals", "approve", pending["id"], "--as", "heidi.finance")
    assert code != 0 and "already rejected" in out


def test_a_rejected_write_off_is_answered_as_rejected_with_the_reason(cli: CliRunner, tmp_path: Path) -> None:
    pending = asked(cli, "carol.desk", "write off 3 damaged MON-27-4K at AMS-1")
    code, out = invoke(
        cli, "approvals", "reject", pending["id"], "--as", "frank.warehouse", "--reason", "recount first"
    )

    assert code == 0 and systems(tmp_path, "SELECT count(*) FROM adjustments") == [(0,)]
    assert answer(out).startswith(
        "I did not write off 3 × MON-27-4K at AMS-1: the request was rejected. It said: “rejected:"
    )
    assert "recount first" in answer(out)


def test_an_edit_rejected_by_a_second_approver_is_described_as_edited(cli: CliRunner) -> None:
    """Grace edits the order to 30 laptops; Heidi (finance) rejects: the answer names the 30, not the 40."""
    code, out = invoke(cli, "chat", "--as", "alice.requester", "order 40 laptops for the Berlin office")
    assert code == 0, out
    [request] = json.loads(invoke(cli, "approvals", "list", "--json")[1])
    edited = {**request["args"], "lines": [{**request["args"]["lines"][0], "quantity": 30}]}
    edited["total_amount"] = round(30 * edited["lines"][0]["unit_price"], 2)
    code, out = invoke(
        cli, "approvals", "approve", request["id"], "--as", "grace.procure", "--edit-args", json.dumps(edited)
    )
    assert code == 0, out

    code, out = invoke(
        cli, "approvals", "reject", request["id"], "--as", "heidi.finance", "--reason", "not now"
    )

    assert code == 0, out
    answer = " ".join(out.split())
    assert "rejected" in answer and "not now" in answer
    assert "30" in answer and "as edited at approval" in answer
