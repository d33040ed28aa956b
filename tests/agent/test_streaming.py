"""Streaming a turn: ``on_event`` gets each governance step as it is audited and, from a model that
streams, the answer's tokens — before ``send`` returns, in order, without changing the turn.

Pins: governance events arrive in audit order while the turn runs (each already in the trail); notify,
execution and approval steps carry what a front end shows; a streaming model's answer arrives as tokens
after the steps that led to it (ChatOpenAI too, through the real client asked with ``stream``), and the
offline planner gives none; only a turn with a listener asks the model to stream; a listener that
raises does not change the turn; ``recording()`` nests and its listener sees each event once.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_core.messages import AIMessage, ToolCall
from langchain_core.outputs import ChatGenerationChunk

from agent.operations import Operations
from agent.run.events import TurnEvent
from agent.settings import Settings
from evals.scripted import ScriptedChatModel
from governance.audit import AuditEvent, AuditLog, EventKind, recording
from governance.store import sqlite_engine
from tests.agent.graph_support import LLM_BASE_URL, Clock, ScriptedLLM

STOCK = "how many SSD-1TB-NVME in AMS-1?"
WRITE_OFF = "write off 3 damaged MON-27-4K at AMS-1"
NOTE = "add a note to INC0010047 saying the fix is deployed"
GET_STOCK = ToolCall(name="inventory_get_stock", args={"sku": "SSD-1TB-NVME", "warehouse": "AMS-1"}, id="c1")
ANSWER = "AMS-1 has 60 SSD-1TB-NVME available."


@pytest.fixture
def make_ops(tmp_path: Path, systems_template: Path) -> Any:
    def build(name: str = "home", model: Any = None) -> Operations:
        home = tmp_path / name
        home.mkdir()
        settings = Settings(home=home, grounding=False, _env_file=None)
        shutil.copyfile(systems_template, settings.systems_db)
        return Operations(settings, model=model, clock=Clock())

    return build


def _scripted() -> ScriptedChatModel:
    model = ScriptedChatModel()
    model.load([AIMessage(content="", tool_calls=[GET_STOCK]), AIMessage(content=ANSWER)])
    return model


def _steps(events: list[TurnEvent]) -> list[str]:
    return [e.data["step"] for e in events if e.kind == "governance"]


def test_governance_steps_arrive_in_audit_order_while_the_turn_runs(make_ops: Any) -> None:
    ops: Operations = make_ops()
    seen: list[tuple[TurnEvent, int]] = []
    returned = False

    def listen(event: TurnEvent) -> None:
        assert not returned
        newest = ops.audit_events(thread=event.data["thread_id"])[-1].seq
        seen.append((event, newest))

    turn = ops.send(WRITE_OFF, actor="carol.desk", on_event=listen)
    returned = True

    events = [event for event, _ in seen]
    assert _steps(events) == ["decision", "approval_requested"]
    assert all(event.data["seq"] <= newest for event, newest in seen)  # appended before it was told
    decision, asked = (event.data for event in events)
    assert decision["tier"] == "approve" and decision["rule_ids"] == ["write-off"]
    assert decision["tool"] == "inventory_adjust_stock" and decision["tool_call_id"] == asked["tool_call_id"]
    assert asked["request_id"] == turn.pending[0].id and asked["still_needed"] == "1 × warehouse_manager"
    audited = [e.seq for e in turn.events if e.kind in ("decision", "approval_requested")]
    assert [event.data["seq"] for event in events] == audited


def test_notify_and_execution_steps_carry_recipients_and_status(make_ops: Any) -> None:
    seen: list[TurnEvent] = []

    make_ops().send(NOTE, actor="carol.desk", on_event=seen.append)

    assert _steps(seen) == ["decision", "decision", "notification", "execution"]
    plan, recheck, notified, executed = (event.data for event in seen)
    assert (plan["tier"], plan["stage"], recheck["stage"]) == ("notify", "plan", "recheck")
    assert notified["recipients"] == ["dave.incident"]
    assert (executed["tool"], executed["status"]) == ("itsm_add_work_note", "completed")
    assert not [event for event in seen if event.kind == "token"]  # the offline planner does not stream


def test_a_resumed_turn_streams_its_execution(make_ops: Any) -> None:
    ops: Operations = make_ops()
    [request] = ops.send(WRITE_OFF, actor="carol.desk").pending
    ops.vote(request.id, voter="frank.warehouse", approve=True, channel="test")
    seen: list[TurnEvent] = []

    ops.resume(request.thread_id, on_event=seen.append)

    assert _steps(seen) == ["decision", "execution"]  # the re-check, then the run
    assert seen[-1].data["status"] == "completed" and seen[-1].data["tool"] == "inventory_adjust_stock"


def test_a_streaming_model_sends_its_answer_as_tokens_after_the_steps_before_it(make_ops: Any) -> None:
    seen: list[TurnEvent] = []

    turn = make_ops(model=_scripted()).send(STOCK, actor="carol.desk", on_event=seen.append)

    kinds = [event.kind for event in seen]
    tokens = [event.data["text"] for event in seen if event.kind == "token"]
    assert "".join(tokens) == ANSWER == turn.answer
    assert len(tokens) == len(ANSWER.split())
    assert kinds.index("token") > max(i for i, kind in enumerate(kinds) if kind == "governance")
    assert _steps(seen) == ["decision", "decision", "execution"]


def test_a_raising_listener_leaves_the_turn_as_it_would_be(
    make_ops: Any, caplog: pytest.LogCaptureFixture
) -> None:
    calls = 0

    def broken(event: TurnEvent) -> None:
        nonlocal calls
        calls += 1
        raise ConnectionError("client went away")

    streamed = make_ops("a", _scripted()).send(STOCK, actor="carol.desk", on_event=broken)
    quiet = make_ops("b", _scripted()).send(STOCK, actor="carol.desk")

    assert calls == 1  # dropped after its first failure
    assert "listener failed" in caplog.text
    assert streamed.answer == quiet.answer == ANSWER
    assert _trail(streamed.events) == _trail(quiet.events)


class _CountedStreams(ScriptedChatModel):
    streams: int = 0

    def _stream(self, *args: Any, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        self.streams += 1
        yield from super()._stream(*args, **kwargs)


def test_only_a_turn_with_a_listener_asks_the_model_to_stream(make_ops: Any) -> None:
    quiet, streamed = _CountedStreams(), _CountedStreams()
    for model in (quiet, streamed):
        model.load([AIMessage(content="", tool_calls=[GET_STOCK]), AIMessage(content=ANSWER)])

    first = make_ops("a", quiet).send(STOCK, actor="carol.desk")
    second = make_ops("b", streamed).send(STOCK, actor="carol.desk", on_event=lambda event: None)

    assert first.answer == second.answer == ANSWER
    assert (quiet.calls, quiet.streams) == (2, 0)
    assert (streamed.calls, streamed.streams) == (2, 2)


def test_recordings_nest_and_a_listener_sees_each_event_once(tmp_path: Path) -> None:
    log = AuditLog(sqlite_engine(tmp_path / "audit.db"))
    told: list[int] = []
    inner_told: list[int] = []

    with recording(lambda event: told.append(event.seq)) as outer:
        log.append(EventKind.REQUEST, {"n": 1})
        with recording(lambda event: inner_told.append(event.seq)) as inner:
            log.append(EventKind.DECISION, {"n": 2})
        log.append(EventKind.RESPONSE, {"n": 3})

    assert [e.seq for e in outer] == told == [1, 2, 3]
    assert [e.seq for e in inner] == inner_told == [2]


def test_a_failing_audit_listener_never_fails_the_append(tmp_path: Path) -> None:
    log = AuditLog(sqlite_engine(tmp_path / "audit.db"))

    def broken(event: AuditEvent) -> None:
        raise RuntimeError("boom")

    with recording(broken) as recorded:
        log.append(EventKind.REQUEST, {"n": 1})
        log.append(EventKind.REQUEST, {"n": 2})

    assert [e.seq for e in recorded] == [1, 2] and log.verify().ok


def _trail(events: list[AuditEvent]) -> list[tuple[str, Any]]:
    return [
        (e.kind, {k: v for k, v in e.payload.items() if k not in ("approval_id", "expires_at")})
        for e in events
    ]


def _sse(*deltas: dict[str, Any], finish: str) -> httpx.Response:
    """A streamed chat completion: one server-sent chunk per delta, then the finish and [DONE]."""

    def chunk(delta: dict[str, Any], reason: str | None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": reason, "logprobs": None}
        body = {"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4.1-mini"}
        return f"data: {json.dumps({**body, 'choices': [choice]})}\n\n"

    text = "".join(chunk(delta, None) for delta in deltas) + chunk({}, finish) + "data: [DONE]\n\n"
    return httpx.Response(200, text=text, headers={"content-type": "text/event-stream"})


def test_chatopenai_streams_its_answer_through_the_real_client(
    tmp_path: Path, systems_template: Path, llm: ScriptedLLM
) -> None:
    settings = Settings(
        home=tmp_path / "home",
        grounding=False,
        openai_api_key="sk-test",
        openai_base_url=LLM_BASE_URL,
        llm_max_retries=0,
        _env_file=None,
    )
    settings.home.mkdir()
    shutil.copyfile(systems_template, settings.systems_db)
    call = {
        "index": 0,
        "id": "c1",
        "type": "function",
        "function": {"name": GET_STOCK["name"], "arguments": ""},
    }
    arguments = {"index": 0, "function": {"arguments": json.dumps(GET_STOCK["args"])}}
    llm.queue(
        _sse({"role": "assistant", "tool_calls": [call]}, {"tool_calls": [arguments]}, finish="tool_calls"),
        _sse({"role": "assistant", "content": "AMS-1 has "}, {"content": "60 available."}, finish="stop"),
    )
    seen: list[TurnEvent] = []

    turn = Operations(settings, clock=Clock()).send(STOCK, actor="carol.desk", on_event=seen.append)

    assert all(request["stream"] for request in llm.requests)
    assert [e.data["text"] for e in seen if e.kind == "token"] == ["AMS-1 has ", "60 available."]
    assert turn.answer == "AMS-1 has 60 available."
    assert _steps(seen) == ["decision", "decision", "execution"]
