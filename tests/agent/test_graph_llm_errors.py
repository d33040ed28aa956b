"""LLM endpoint failures and runaway models, with the real ChatOpenAI against a scripted endpoint.

Pins: a timeout, 429, 5xx, a refused key or a malformed reply raises ``PlannerUnavailable`` with a
message naming the problem, executes nothing, is audited, and the thread takes a new message
afterwards; a model that never stops calling tools is stopped after ``round_limit`` rounds with a
clear answer.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from agent.run.errors import PlannerUnavailable
from tests.agent.graph_support import ScriptedLLM, World, answer, calls, po_call, tool_call


def error(status: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"message": message, "type": "test", "code": None}})


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        pytest.param(httpx.ReadTimeout("read timed out"), "timed out", id="timeout"),
        pytest.param(httpx.ConnectError("connection refused"), "could not be reached", id="unreachable"),
        pytest.param(error(429, "Rate limit reached"), "(429): rate limited", id="429"),
        pytest.param(error(500, "internal error"), "failed (500)", id="500"),
        pytest.param(error(503, "overloaded"), "failed (503)", id="503"),
        pytest.param(error(401, "Incorrect API key provided"), "(401): the API key was refused", id="401"),
        pytest.param(
            httpx.Response(
                200, content=b'{"id": "chatcmpl-1", "choi', headers={"content-type": "application/json"}
            ),
            "malformed reply",
            id="malformed-json",
        ),
        pytest.param(
            httpx.Response(200, json={"object": "chat.completion"}), "malformed reply", id="no-choices"
        ),
    ],
)
def test_endpoint_errors_execute_nothing_and_the_thread_continues(
    world: World, llm: ScriptedLLM, reply: Any, message: str
) -> None:
    llm.queue(reply)

    with pytest.raises(PlannerUnavailable, match="nothing was executed") as failure:
        world.send("Order 40 monitors", thread_id="t-llm")

    assert message in str(failure.value)
    assert world.executions() == []
    assert world.deps.approvals.for_thread("t-llm") == []
    [audited] = world.events("t-llm", "error")
    assert audited.payload["type"] == "PlannerUnavailable"

    llm.queue(answer("Back online. What should I order?"))
    turn = world.send("Are you there?", thread_id="t-llm")

    assert turn.answer == "Back online. What should I order?"
    assert [m["content"] for m in llm.requests[-1]["messages"] if m["role"] == "user"] == [
        "Order 40 monitors",
        "Are you there?",
    ]


def test_endpoint_error_after_tool_calls_keeps_every_call_answered(world: World, llm: ScriptedLLM) -> None:
    stock = {"sku": "SSD-1TB-NVME", "warehouse": "AMS-1"}
    llm.queue(calls(tool_call("inventory_get_stock", stock, id="read")), error(500, "boom"))
    with pytest.raises(PlannerUnavailable):
        world.send("How many SSDs in Amsterdam?", thread_id="t-mid")

    llm.queue(answer("60 available."))
    turn = world.send("Try again please", thread_id="t-mid")

    assert turn.answer == "60 available."
    roles = [m["role"] for m in llm.requests[-1]["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "user"]
    assert len(world.executions("t-mid")) == 1


def test_a_runaway_model_stops_after_the_round_limit(make_world: Any, llm: ScriptedLLM) -> None:
    world: World = make_world(settings={"round_limit": 3})
    stock = {"sku": "SSD-1TB-NVME", "warehouse": "AMS-1"}
    llm.forever(lambda n: calls(tool_call("inventory_get_stock", stock, id=f"again{n}")))

    turn = world.send("How many SSDs in Amsterdam?")

    assert turn.answer is not None
    assert "stopped after 3 planning rounds" in turn.answer
    assert len(llm.requests) == 3
    assert len(world.executions(turn.thread_id)) == 3


def test_the_round_limit_does_not_carry_over_to_the_next_message(make_world: Any, llm: ScriptedLLM) -> None:
    world: World = make_world(settings={"round_limit": 2})
    llm.queue(calls(po_call(10, id="po1")), calls(po_call(10, id="po2")))
    first = world.send("Order monitors", thread_id="t-rounds")
    assert first.answer is not None and "stopped after 2 planning rounds" in first.answer

    llm.queue(answer("Done."))
    assert world.send("Thanks", thread_id="t-rounds").answer == "Done."
    assert len(world.new_purchase_orders()) == 2
