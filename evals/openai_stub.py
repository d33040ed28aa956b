"""A scripted OpenAI-compatible chat endpoint on 127.0.0.1 that answers after a fixed delay.

For benchmarks and tests of the service with a real HTTP model endpoint (``OPENAI_BASE_URL``): the
agent's ``ChatOpenAI`` talks to it exactly as to OpenAI, and every answer takes ``delay_s`` (100 ms by
default), as a fast hosted model would. The script is the bench turn: after a user message, one
auto-tier read (``inventory_get_stock``); after the tool's result, an answer quoting it. Streaming
(``"stream": true``) sends the answer as server-sent chunks, as OpenAI does.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

READ_CALL = {"name": "inventory_get_stock", "arguments": {"sku": "LAP-14-PRO", "warehouse": "AMS-1"}}


def script(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The assistant message answering ``messages``: a read after the user, an answer after a tool."""
    last = messages[-1] if messages else {}
    if last.get("role") == "tool":
        return {"role": "assistant", "content": f"Stock: {str(last.get('content', ''))[:80]}"}
    call = {
        "id": f"call_{uuid.uuid4().hex[:12]}",
        "type": "function",
        "function": {"name": READ_CALL["name"], "arguments": json.dumps(READ_CALL["arguments"])},
    }
    return {"role": "assistant", "content": None, "tool_calls": [call]}


def build_app(delay_s: float = 0.1) -> Starlette:
    async def completions(request: Request) -> Response:
        body = await request.json()
        await asyncio.sleep(delay_s)
        message = script(body.get("messages", []))
        if body.get("stream"):
            return StreamingResponse(_chunks(message, body), media_type="text/event-stream")
        return JSONResponse(_completion(message, body))

    return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])


def _completion(message: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    finish = "tool_calls" if message.get("tool_calls") else "stop"
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "stub"),
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
    }


async def _chunks(message: dict[str, Any], body: dict[str, Any]) -> AsyncIterator[str]:
    base: dict[str, Any] = {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion.chunk"}
    base |= {"created": int(time.time()), "model": body.get("model", "stub")}
    if message.get("tool_calls"):
        call = {"index": 0, **message["tool_calls"][0]}
        deltas: list[dict[str, Any]] = [{"role": "assistant", "tool_calls": [call]}]
        finish = "tool_calls"
    else:
        words = str(message["content"]).split(" ")
        deltas = [{"role": "assistant", "content": ""}]
        deltas += [{"content": word + ("" if i == len(words) - 1 else " ")} for i, word in enumerate(words)]
        finish = "stop"
    for delta in deltas:
        yield f"data: {json.dumps({**base, 'choices': [{'index': 0, 'delta': delta}]})}\n\n"
    last = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}
    yield f"data: {json.dumps(last)}\n\n"
    yield "data: [DONE]\n\n"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_stub(delay_s: float = 0.1) -> Iterator[str]:
    """Serve the stub on a free port of 127.0.0.1 in a thread; yield its base URL (``.../v1``)."""
    port = free_port()
    config = uvicorn.Config(build_app(delay_s), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="openai-stub", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"the OpenAI stub did not start on 127.0.0.1:{port}")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def main() -> None:
    """``python -m evals.openai_stub --port P [--delay S]``: serve the stub in the foreground."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.1, help="seconds before each answer")
    options = parser.parse_args()
    uvicorn.run(build_app(options.delay), host="127.0.0.1", port=options.port, log_level="warning")


if __name__ == "__main__":
    main()
