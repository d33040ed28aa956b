"""A turn as server-sent events, for ``Accept: text/event-stream``.

Events, in order: ``token`` (model tokens, when the model streams), ``governance`` (one per governance
step: a decision with its tier and rule ids, an approval requested, a notification sent, an execution
result), then ``result`` (the turn, as the JSON answer would carry it) or ``error`` (a problem document).
The turn runs in a worker thread; events cross to the event loop through a queue. A send with an
idempotency key keeps its ``result`` or ``error``; a retry gets a stream of that one event again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from fastapi import Request
from sse_starlette import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from agent.api.idempotency import REPLAYED
from agent.api.models import turn_out
from agent.api.problems import problem_body

if TYPE_CHECKING:
    from agent.api.idempotency import Keyed
    from agent.operations import Operations
    from agent.run.events import TurnEvent
    from agent.run.session import TurnResult
    from governance.idempotency import Answer

_DONE = object()


def wanted(request: Request) -> bool:
    return "text/event-stream" in request.headers.get("accept", "")


def instance(thread: str | None) -> str:
    """The path a send to ``thread`` (a new one: None) was made on, as its problems name it."""
    return "/v1/threads" if thread is None else f"/v1/threads/{thread}/messages"


def turn(
    ops: Operations, message: str, *, actor: str, thread: str | None, keyed: Keyed | None = None
) -> EventSourceResponse:
    """The turn's events; ``keyed``: the send holds an idempotency key, which keeps what it ends with."""
    events = _events(ops, message, actor=actor, thread=thread, instance=instance(thread), keyed=keyed)
    return EventSourceResponse(events)


def replay(answer: Answer) -> EventSourceResponse:
    """A kept answer again, for a retry: a stream of its one ``result`` or ``error`` event."""
    event = {"event": "error" if answer.status >= 400 else "result", "data": answer.body}

    async def again() -> AsyncIterator[dict[str, str]]:
        yield event

    return EventSourceResponse(again(), headers=REPLAYED)


async def _events(
    ops: Operations, message: str, *, actor: str, thread: str | None, instance: str, keyed: Keyed | None
) -> AsyncIterator[dict[str, str]]:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()

    def push(item: Any) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, item)

    def forward(event: TurnEvent) -> None:
        push((event.kind, dict(event.data)))

    def send() -> TurnResult:
        new_thread = None if keyed is None else keyed.new_thread_id
        return ops.send(
            message, actor=actor, thread=thread, new_thread_id=new_thread, channel="api", on_event=forward
        )

    def run() -> None:
        try:
            if keyed is not None:
                answer = keyed.answer(send)
                push(("error" if answer.status >= 400 else "result", json.loads(answer.body)))
            else:
                push(("result", turn_out(send()).model_dump(mode="json")))
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
