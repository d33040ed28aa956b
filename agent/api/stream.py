"""A turn as server-sent events, for ``Accept: text/event-stream``.

Events, in order: ``token`` (model tokens, when the model streams), ``governance`` (one per governance
step: a decision with its tier and rule ids, an approval requested, a notification sent, an execution
result), then ``result`` (the turn, as the JSON answer would carry it) or ``error`` (a problem document).
The turn runs in a worker thread; events cross to the event loop through a queue.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from fastapi import Request
from sse_starlette import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from agent.api.models import turn_out
from agent.api.problems import problem_body

if TYPE_CHECKING:
    from agent.operations import Operations
    from governance.audit import AuditEvent

GOVERNANCE_KINDS = ("decision", "approval_requested", "notification", "execution")
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

    live = _accepts_events(ops.send)

    def run() -> None:
        try:
            extra: dict[str, Any] = {"on_event": lambda event: push(_live(event))} if live else {}
            result = ops.send(message, actor=actor, thread=thread, channel="api", **extra)
            if not live:  # the service cannot report as it goes: the steps, once the turn is over
                for event in result.events:
                    if event.kind in GOVERNANCE_KINDS:
                        push(("governance", governance_step(event)))
            push(("result", turn_out(result).model_dump(mode="json")))
        except Exception as exc:
            push(("error", problem_body(exc, instance=instance)))
        finally:
            push(_DONE)

    # A client that leaves does not stop the turn: it runs to its end and is recorded.
    running = asyncio.ensure_future(run_in_threadpool(run))
    while (item := await queue.get()) is not _DONE:
        kind, data = item
        yield {"event": kind, "data": json.dumps(data, ensure_ascii=False, default=str)}
    await running


def governance_step(event: AuditEvent) -> dict[str, Any]:
    """One governance step as a stream event: the audit event's kind, seq and payload."""
    return {"kind": event.kind, "seq": event.seq, "at": event.at, **event.payload}


def _live(event: Any) -> tuple[str, Any]:
    """A ``TurnEvent``-like object (``kind``, ``data``) from the operations service's callback."""
    data = getattr(event, "data", None)
    return str(getattr(event, "kind", "governance")), data if data is not None else {}


def _accepts_events(send: Callable[..., Any]) -> bool:
    return "on_event" in inspect.signature(send).parameters
