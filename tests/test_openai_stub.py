"""The scripted OpenAI-compatible endpoint the service benchmarks use: the agent's ChatOpenAI talks
to it over real HTTP on 127.0.0.1 and runs the bench turn (one auto-tier read, then an answer)."""

from __future__ import annotations

from pathlib import Path

import httpx

from agent.operations import Operations
from agent.settings import Settings
from evals.openai_stub import running_stub


def test_a_turn_runs_against_the_stub_over_http(tmp_path: Path) -> None:
    with running_stub(delay_s=0.0) as url:
        settings = Settings(
            home=tmp_path / "home",
            grounding=False,
            openai_api_key="sk-test",
            openai_base_url=url,
            _env_file=None,
        )
        turn = Operations(settings).send("How many 14-inch laptops in AMS-1?", actor="carol.desk")

    assert turn.answer is not None and turn.answer.startswith("Stock:") and '"on_hand"' in turn.answer
    assert [(call.tool, call.tier, call.status) for call in turn.calls] == [
        ("inventory_get_stock", "auto", "completed")
    ]


def test_streaming_answers_arrive_as_chunks_ending_in_done() -> None:
    body = {
        "model": "m",
        "stream": True,
        "messages": [{"role": "tool", "content": "on hand 22", "tool_call_id": "c"}],
    }
    with (
        running_stub(delay_s=0.0) as url,
        httpx.stream("POST", f"{url}/chat/completions", json=body) as reply,
    ):
        lines = [line for line in reply.iter_lines() if line.startswith("data: ")]

    assert lines[-1] == "data: [DONE]" and len(lines) > 3
    assert reply.headers["content-type"].startswith("text/event-stream")
