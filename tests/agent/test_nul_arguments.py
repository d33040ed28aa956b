"""The graph with the real ChatOpenAI against a scripted endpoint: a tool call whose arguments hold a NUL.

Pins: a call the model proposes with a NUL character (U+0000) in its arguments — free text of a call
that would wait for approval, or of one that would run and notify — is refused at validation: the
model is told which field, the trail holds the validation decision, no approval request is created,
nobody is notified and nothing runs. A work note with several lines and a tab runs as written.
"""

from __future__ import annotations

from typing import Any

import pytest

from governance.audit import EventKind
from tests.agent.graph_support import ScriptedLLM, World, answer, calls, tool_call

REFUSED = "a NUL character (U+0000) is not accepted"
SKU, WAREHOUSE = "SSD-1TB-NVME", "AMS-1"
INCIDENT = "INC0010047"
WRITE_OFF = {"sku": SKU, "warehouse": WAREHOUSE, "delta": -2, "kind": "write_off"}


def _stock(world: World) -> int:
    [level] = [lv for lv in world.deps.systems.inventory.get_stock(SKU) if lv.warehouse == WAREHOUSE]
    return level.on_hand


def _notes(world: World) -> list[str]:
    return [note.text for note in world.deps.systems.itsm.get_incident(INCIDENT).work_notes]


@pytest.mark.parametrize(
    ("tool", "args", "where"),
    [
        pytest.param(
            "inventory_adjust_stock",
            {**WRITE_OFF, "reason": "Two units\x00 damaged in transit"},
            "reason",
            id="would-need-approval",
        ),
        pytest.param(
            "itsm_add_work_note",
            {"number": INCIDENT, "text": "Checked the pool\x00 metrics."},
            "text",
            id="would-run-and-notify",
        ),
    ],
)
def test_a_proposed_call_with_a_nul_is_refused_at_validation_and_nothing_follows(
    world: World, llm: ScriptedLLM, tool: str, args: dict[str, Any], where: str
) -> None:
    stock, notes = _stock(world), _notes(world)
    llm.queue(calls(tool_call(tool, args, id="nul")), answer("The call was not valid."))

    turn = world.send("Write off two SSDs and note it on the incident")

    assert turn.answer == "The call was not valid."
    refusal = llm.tool_results(1)["nul"]
    assert refusal["status"] == "invalid"
    assert f"{where}: {REFUSED}" in refusal["reason"]
    [decision] = [event.payload for event in world.events(turn.thread_id, "decision")]
    assert (decision["stage"], decision["tier"], decision["tool"]) == ("validation", "deny", tool)
    assert decision["reasons"] == [f"invalid arguments for {tool}: {where}: {REFUSED}"]
    assert world.deps.approvals.for_thread(turn.thread_id) == []
    assert EventKind.APPROVAL_REQUESTED not in world.kinds(turn.thread_id)
    assert world.executions(turn.thread_id) == []
    assert world.notifier.sent == []
    assert (_stock(world), _notes(world)) == (stock, notes)


def test_a_work_note_with_several_lines_and_a_tab_runs_as_written(world: World, llm: ScriptedLLM) -> None:
    text = "Checked the pool metrics:\n\tnode-1 ok\n\tnode-2 ok"
    llm.queue(
        calls(tool_call("itsm_add_work_note", {"number": INCIDENT, "text": text}, id="note")),
        answer("Noted."),
    )

    turn = world.send("Note the pool metrics on the incident")

    assert turn.answer == "Noted."
    assert _notes(world)[-1] == text
