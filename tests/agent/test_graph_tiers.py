"""The graph with the real ChatOpenAI against a scripted endpoint: what each tier does to a tool call.

Pins: a read runs alone and its result reaches the model; a notify-tier call notifies (audited)
before it executes; a denied call, an unknown tool, invalid arguments and calls sharing an id never
run, are audited, and the model is told why; one message with calls of every tier answers each call
exactly once; several approvals in one message pause the thread once; a dry run executes no write.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from tests.agent.graph_support import (
    IN_FREEZE,
    ScriptedLLM,
    World,
    answer,
    calls,
    po_args,
    po_call,
    tool_call,
)

STOCK = {"sku": "SSD-1TB-NVME", "warehouse": "AMS-1"}
NOTE = {"number": "INC0010047", "text": "Checked fw-edge-01: IKE rules for BER-2 and WAW-1 are missing."}
PROD_CHANGE = {
    "ci": "payments-api",
    "short_description": "Restart payments-api",
    "description": "Rolling restart of the payments-api pods to clear the connection leak.",
    "risk": "low",
}


def change_count(world: World) -> int:
    with sqlite3.connect(world.settings.systems_db) as conn:
        count: int = conn.execute("SELECT count(*) FROM changes").fetchone()[0]
    return count


def work_notes(world: World, number: str) -> list[str]:
    return [note.text for note in world.deps.systems.itsm.get_incident(number).work_notes]


def decisions(world: World, thread_id: str) -> list[dict[str, Any]]:
    return [event.payload for event in world.events(thread_id, "decision")]


def test_a_read_runs_alone_and_its_result_reaches_the_model(world: World, llm: ScriptedLLM) -> None:
    llm.queue(
        calls(tool_call("inventory_get_stock", STOCK, id="read")), answer("60 SSDs available at AMS-1.")
    )

    turn = world.send("How many 1 TB SSDs are in Amsterdam?")

    assert turn.answer == "60 SSDs available at AMS-1."
    assert llm.tool_results(1)["read"]["value"][0] == {
        "sku": "SSD-1TB-NVME",
        "warehouse": "AMS-1",
        "on_hand": 64,
        "reserved": 4,
        "reorder_point": 20,
        "available": 60,
    }
    assert world.kinds(turn.thread_id) == ["request", "decision", "decision", "execution", "response"]
    assert turn.events == world.events(turn.thread_id)  # what the turn reports is what the trail holds
    assert [(d["stage"], d["tier"], d["rule_ids"]) for d in decisions(world, turn.thread_id)] == [
        ("plan", "auto", ["reads-run-alone"]),
        ("recheck", "auto", ["reads-run-alone"]),
    ]
    assert world.notifier.sent == []
    assert world.deps.audit.verify().ok


def test_the_system_prompt_names_the_user_and_tools_are_bound(world: World, llm: ScriptedLLM) -> None:
    llm.queue(answer("Hello."))

    world.send("hi", actor="carol.desk")

    request = llm.requests[0]
    assert request["messages"][0]["role"] == "system"
    assert "carol.desk" in request["messages"][0]["content"]
    assert "service_desk" in request["messages"][0]["content"]
    assert request["temperature"] == 0
    assert request["parallel_tool_calls"] is True
    assert "procurement_create_purchase_order" in {tool["function"]["name"] for tool in request["tools"]}


def test_notify_tier_notifies_before_executing(world: World, llm: ScriptedLLM) -> None:
    llm.queue(calls(tool_call("itsm_add_work_note", NOTE, id="note")), answer("Noted on INC0010047."))

    turn = world.send("Add my finding to the VPN incident", actor="carol.desk")

    assert turn.answer == "Noted on INC0010047."
    assert work_notes(world, "INC0010047")[-1] == NOTE["text"]
    [sent] = world.notifier.sent
    assert sent.recipients == ("dave.incident",)
    assert sent.targets == ("role:incident_manager",)
    assert sent.requester == "carol.desk"
    kinds = world.kinds(turn.thread_id)
    assert kinds.index("notification") < kinds.index("execution")
    [notification] = world.events(turn.thread_id, "notification")
    assert notification.payload["recipients"] == ["dave.incident"]
    assert notification.payload["tool_call_id"] == "note"
    [execution] = world.executions(turn.thread_id)
    assert execution["status"] == "completed"
    assert execution["args_digest"] == notification.payload["args_digest"]
    assert llm.tool_results(1)["note"]["number"] == "INC0010047"


def test_a_failed_notification_stops_the_call_until_a_resume_sends_it(
    world: World, llm: ScriptedLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm.queue(calls(tool_call("itsm_add_work_note", NOTE, id="note")), answer("Noted on INC0010047."))
    notes_before = work_notes(world, "INC0010047")
    with monkeypatch.context() as outage:
        outage.setattr(world.notifier, "send", _chat_service_down)
        with pytest.raises(RuntimeError, match="notification before itsm_add_work_note failed"):
            world.send("Add my finding to the VPN incident", actor="carol.desk")

    assert work_notes(world, "INC0010047") == notes_before  # not run unannounced
    [thread_id] = {event.thread_id or "" for event in world.events(None, "request")}
    assert world.executions(thread_id) == []

    done = world.session.resume(thread_id)

    assert done.answer == "Noted on INC0010047."
    assert work_notes(world, "INC0010047") == [*notes_before, NOTE["text"]]
    [sent] = world.notifier.sent
    assert sent.recipients == ("dave.incident",)
    kinds = world.kinds(thread_id)
    assert kinds.index("notification") < kinds.index("execution")
    assert world.deps.audit.verify().ok


def _chat_service_down(notification: object) -> None:
    raise ConnectionError("chat service unavailable")


def test_a_denied_call_never_runs_and_the_model_is_told_why(world: World, llm: ScriptedLLM) -> None:
    world.clock.now = IN_FREEZE
    before = change_count(world)
    llm.queue(
        calls(tool_call("itsm_create_change_request", PROD_CHANGE, id="chg")),
        answer("Refused: year-end change freeze."),
    )

    turn = world.send("Open a change to restart payments-api tonight", actor="erin.change")

    assert turn.answer == "Refused: year-end change freeze."
    assert change_count(world) == before
    assert world.executions(turn.thread_id) == []
    assert world.deps.approvals.for_thread(turn.thread_id) == []
    refusal = llm.tool_results(1)["chg"]
    assert refusal["status"] == "refused"
    assert "year-end-change-freeze" in refusal["rule_ids"]
    assert "freeze" in refusal["reason"]
    [decision] = decisions(world, turn.thread_id)
    assert (decision["stage"], decision["tier"]) == ("plan", "deny")
    assert "year-end-change-freeze" in decision["rule_ids"]


def test_an_unknown_tool_is_refused_and_audited(world: World, llm: ScriptedLLM) -> None:
    llm.queue(
        calls(tool_call("itsm_delete_incident", {"number": "INC0010047"}, id="bad")),
        answer("I cannot delete incidents."),
    )

    turn = world.send("Delete the VPN incident")

    refusal = llm.tool_results(1)["bad"]
    assert refusal["status"] == "refused"
    assert "not in the catalogue" in refusal["reason"]
    [decision] = decisions(world, turn.thread_id)
    assert (decision["tool"], decision["tier"]) == ("itsm_delete_incident", "deny")
    assert world.executions(turn.thread_id) == []


NOT_JSON = '{"supplier_id": "SUP-003", "lines": [{"sku": '


def po_text(quantity: str = "1", unit_price: str = "119.0", total: str = "119.0") -> str:
    """PO arguments as the raw text a model sends, with numbers written exactly as given."""
    line = f'{{"sku": "MON-22-FHD", "quantity": {quantity}, "unit_price": {unit_price}}}'
    head = '"supplier_id": "SUP-003", "cost_centre": "CC-IT-OPS"'
    return f'{{{head}, "lines": [{line}], "total_amount": {total}}}'


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        pytest.param(NOT_JSON, "JSON", id="not-json"),
        pytest.param(
            {**po_args(40), "total_amount": 100.0}, "not the sum of the lines", id="failing-validation"
        ),
        pytest.param({**po_args(0)}, "quantity", id="bad-quantity"),
        pytest.param({**po_args(40), "requester": "grace.procure"}, "requester", id="names-another-user"),
        pytest.param(po_text(total="NaN"), "total_amount", id="nan"),
        pytest.param(po_text(unit_price="1e999", total="1e999"), "unit_price", id="infinity"),
        pytest.param(po_text(quantity="36880498400984121344"), "quantity", id="integer-beyond-64-bits"),
    ],
)
def test_invalid_arguments_never_run_and_the_model_is_told(
    world: World, llm: ScriptedLLM, arguments: Any, problem: str
) -> None:
    llm.queue(
        calls(tool_call("procurement_create_purchase_order", arguments, id="po")),
        answer("The order was not valid."),
    )

    turn = world.send("Order 40 monitors")

    assert turn.answer == "The order was not valid."
    refusal = llm.tool_results(1)["po"]
    assert refusal["status"] == "invalid"
    assert problem in refusal["reason"]
    [decision] = decisions(world, turn.thread_id)
    assert (decision["stage"], decision["tier"], decision["tool_call_id"]) == ("validation", "deny", "po")
    assert problem in decision["reasons"][0]
    assert world.executions(turn.thread_id) == []
    assert world.deps.approvals.for_thread(turn.thread_id) == []
    assert world.new_purchase_orders() == []


def test_calls_sharing_an_id_are_all_refused_and_audited(world: World, llm: ScriptedLLM) -> None:
    llm.queue(
        calls(tool_call("inventory_get_stock", STOCK, id="dup"), po_call(10, id="dup")),
        answer("Something went wrong with my tool calls."),
    )

    turn = world.send("Check stock and order monitors")

    assert llm.tool_message_ids(1) == ["dup"]
    refusal = llm.tool_results(1)["dup"]
    assert refusal["status"] == "refused"
    assert "duplicate tool_call id 'dup'" in refusal["reason"]
    audited = decisions(world, turn.thread_id)
    assert sorted(d["tool"] for d in audited) == ["inventory_get_stock", "procurement_create_purchase_order"]
    assert {(d["stage"], d["tier"], d["tool_call_id"]) for d in audited} == {("validation", "deny", "dup")}
    assert world.executions(turn.thread_id) == []
    assert world.new_purchase_orders() == []
    assert world.notifier.sent == []


def test_parallel_calls_of_every_tier_are_each_answered_once(world: World, llm: ScriptedLLM) -> None:
    world.clock.now = IN_FREEZE
    llm.queue(
        calls(
            tool_call("inventory_get_stock", STOCK, id="read"),
            tool_call("itsm_add_work_note", NOTE, id="note"),
            po_call(40, id="po"),
            tool_call("itsm_create_change_request", PROD_CHANGE, id="chg"),
        ),
        answer("Done what policy allowed."),
    )
    changes = change_count(world)

    turn = world.send("Do all of it", actor="ivan.ops")

    # The read and the note ran before the thread paused for the purchase order.
    assert turn.answer is None
    [request] = turn.pending
    assert (request.tool_call_id, request.requester) == ("po", "ivan.ops")
    assert {e["tool_call_id"] for e in world.executions(turn.thread_id)} == {"read", "note"}
    assert len(world.notifier.sent) == 1
    assert world.new_purchase_orders() == []
    assert len(llm.requests) == 1

    world.approve(request.id, "grace.procure")
    done = world.session.resume(turn.thread_id)

    assert done.answer == "Done what policy allowed."
    assert sorted(llm.tool_message_ids(1)) == ["chg", "note", "po", "read"]
    results = llm.tool_results(1)
    assert results["chg"]["status"] == "refused"
    assert results["read"]["value"][0]["available"] == 60
    assert results["note"]["number"] == "INC0010047"
    [po] = world.new_purchase_orders()
    assert (results["po"]["number"], po.requester) == (po.number, "ivan.ops")
    assert change_count(world) == changes
    assert sorted(e["tool_call_id"] for e in world.executions()) == ["note", "po", "read"]
    assert world.deps.audit.verify().ok


def test_several_approvals_in_one_message_pause_the_thread_once(world: World, llm: ScriptedLLM) -> None:
    llm.queue(calls(po_call(40, id="po1"), po_call(30, id="po2")), answer("Both ordered."))

    turn = world.send("Order 40 and 30 monitors")

    assert sorted(r.tool_call_id for r in turn.pending) == ["po1", "po2"]
    first, second = (r.id for r in sorted(turn.pending, key=lambda r: r.tool_call_id))
    world.approve(first, "grace.procure")
    still = world.session.resume(turn.thread_id)
    assert still.answer is None
    assert world.session.pending_approvals(turn.thread_id) == [first, second]
    assert world.new_purchase_orders() == []

    world.approve(second, "leo.procure2")
    done = world.session.resume(turn.thread_id)

    assert done.answer == "Both ordered."
    assert sorted(po.total_amount for po in world.new_purchase_orders()) == [3570.0, 4760.0]
    assert len(llm.requests) == 2


def test_dry_run_executes_no_write(make_world: Any, llm: ScriptedLLM) -> None:
    world: World = make_world(dry_run=True)
    notes = work_notes(world, "INC0010047")
    llm.queue(
        calls(
            tool_call("inventory_get_stock", STOCK, id="read"),
            tool_call("itsm_add_work_note", NOTE, id="note"),
            po_call(40, id="po"),
        ),
        answer("Dry run: nothing changed."),
    )

    turn = world.send("Check stock, note it and order monitors", actor="ivan.ops")

    assert turn.answer == "Dry run: nothing changed."
    results = llm.tool_results(1)
    assert results["read"]["value"][0]["available"] == 60
    assert results["note"]["status"] == "dry_run"
    assert "would run" in results["note"]["reason"]
    assert "role:incident_manager" in results["note"]["reason"]
    assert results["po"]["status"] == "dry_run"
    assert "would need approval by 1 × procurement_manager" in results["po"]["reason"]
    assert work_notes(world, "INC0010047") == notes
    assert world.new_purchase_orders() == []
    assert world.notifier.sent == []
    assert world.deps.approvals.for_thread(turn.thread_id) == []
    assert [e["tool_call_id"] for e in world.executions(turn.thread_id)] == ["read"]
    assert {
        d["tool_call_id"]: d["tier"] for d in decisions(world, turn.thread_id) if d["stage"] == "plan"
    } == {
        "read": "auto",
        "note": "notify",
        "po": "approve",
    }


def test_an_id_reused_in_a_later_round_is_refused_not_matched_to_the_earlier_call(
    world: World, llm: ScriptedLLM
) -> None:
    llm.queue(
        calls(po_call(30, id="x")),  # 30 monitors: approve tier
        calls(po_call(40, id="x")),  # a different call under the same id, next round
        answer("Done."),
    )
    world.send("Order monitors")
    [request] = world.deps.approvals.list(status="pending")
    world.deps.approvals.vote(
        request.id,
        approver=world.deps.governance.directory.actor("grace.procure"),
        approve=True,
        channel="cli",
    )

    turn = world.session.resume(request.thread_id)

    refusal = llm.tool_results(2)["x"]
    assert refusal["status"] == "refused" and "already used earlier" in refusal["reason"]
    assert len(world.new_purchase_orders()) == 1  # only the approved 30-monitor order
    assert [d["stage"] for d in decisions(world, turn.thread_id) if d["tool_call_id"] == "x"][
        -1
    ] == "validation"
