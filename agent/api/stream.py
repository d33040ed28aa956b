"""A turn as server-sent events, for ``Accept: text/event-stream``.

Events, in order: ``token`` (model tokens, when the model streams), ``governance`` (one per governance
step: a decision with its tier and rule ids, an approval requested, a notification sent, an execution
result), then ``result`` (the turn, as the JSON answer would carry it) or ``error`` (a problem document).
The turn runs in a worker thread; events cross to the event loop through a queue.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from fastapi import Request
from sse_starlette import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from agent.api.models import turn_out
from agent.api.problems import problem_body

if TYPE_CHECKING:
    from agent.operations import Operations
    from agent.run.events import TurnEvent

_DONE = object()


def wanted(request: Request) -> bool:
    return "text/event-stream" in request.headers.get("accept", "")


def turn(ops: Operations, message: str, *, actor: str, thread: str | None) -> EventSourceResponse:
    instance = "/v1/threads" if thread is None else f"/v1/threads/{thread}/messages"
    return EventSourceResponse(_events(ops, message, actor=actor, thread=thread, instance=instance))


async def _events(
    ops: Operations, message: str, *, actor: str, thread: str | None, instance: str
) -> AsyncIterator[dict[str, str]]:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()

    def push(item: Any) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, item)

    def forward(event: TurnEvent) -> None:
        push((event.kind, dict(event.data)))

    def run() -> None:
        try:
            result = ops.send(message, actor=actor, thread=thread, channel="api", on_event=forward)
            push(("result", turn_out(result).model_dump(mode="json")))
        except Exception as exc:
            about = {} if thread is None else {"thread_id": thread}  # as the JSON problem names it
            push(("error", {**problem_body(exc, instance=instance), **about}))
        finally:
            push(_DONE)

    # A client that leaves does not stop the turn: it runs to its end and is recorded.
    running = asyncio.ensure_future(run_in_threadpool(run))
    while (item := await queue.get()) is not _DONE:
        kind, data = item
        yield {"event": kind, "data": json.dumps(data, ensure_ascii=False, default=str)}
    await running
