"""Threads: start one, send a message, read one. Sending runs the governed turn; with
``Accept: text/event-stream`` it streams the turn as server-sent events (:mod:`agent.api.stream`). A
send with an ``Idempotency-Key`` runs once however often it is retried (:mod:`agent.api.idempotency`)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from agent.api import idempotency, stream
from agent.api.auth import Caller
from agent.api.context import Config, Ops
from agent.api.idempotency import IdempotencyKey, Keyed
from agent.api.models import MessageIn, ThreadOut, TurnOut, thread_out, turn_out
from agent.api.problems import Forbidden, NotFound, RateLimited
from agent.operations import Operations, make_thread_id
from agent.settings import Settings
from governance.idempotency import Answer

ThreadId = Annotated[
    str, Path(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$", description="The thread's id")
]

_STREAMS: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}
}

router = APIRouter(prefix="/v1/threads", tags=["threads"])


@router.post("", status_code=201, response_model=TurnOut, responses=_STREAMS, summary="Start a thread")
def start_thread(
    body: MessageIn, caller: Caller, ops: Ops, settings: Config, request: Request, key: IdempotencyKey
) -> Any:
    """Send the first message of a new thread; the turn's result (or its events, streamed)."""
    if key is not None:
        return keyed_send(ops, settings, request, key, body.message, actor=caller.id, thread=None)
    check_rate(ops, caller.id, settings)
    if stream.wanted(request):
        return stream.turn(ops, body.message, actor=caller.id, thread=None)
    return turn_out(ops.send(body.message, actor=caller.id, channel="api"))


@router.post("/{thread_id}/messages", response_model=TurnOut, responses=_STREAMS, summary="Send a message")
def send_message(
    thread_id: ThreadId,
    body: MessageIn,
    caller: Caller,
    ops: Ops,
    settings: Config,
    request: Request,
    key: IdempotencyKey,
) -> Any:
    """Continue a thread you started (409 while another turn runs on it or it waits for approval)."""
    if ops.thread_owner(thread_id) != caller.id:  # the starter sees it: no visibility check on the hot path
        visible_thread(ops, caller.id, thread_id)
        raise Forbidden(
            f"only the person who started thread {thread_id!r} may send to it", thread_id=thread_id
        )
    if key is not None:
        return keyed_send(ops, settings, request, key, body.message, actor=caller.id, thread=thread_id)
    check_rate(ops, caller.id, settings)
    if stream.wanted(request):
        return stream.turn(ops, body.message, actor=caller.id, thread=thread_id)
    return turn_out(ops.send(body.message, actor=caller.id, thread=thread_id, channel="api"))


@router.get("/{thread_id}", response_model=ThreadOut, summary="Read a thread")
def read_thread(thread_id: ThreadId, caller: Caller, ops: Ops) -> ThreadOut:
    """Messages, citations, pending approvals and the thread's governance events."""
    visible_thread(ops, caller.id, thread_id)
    return thread_out(ops.thread(thread_id))


def keyed_send(
    ops: Operations,
    settings: Settings,
    request: Request,
    key: str,
    message: str,
    *,
    actor: str,
    thread: str | None,
) -> Response:
    """A send with an idempotency key: the answer kept for it when it ran before (counted against no
    rate), else the turn, run once, its answer kept. A new thread's id is chosen before it runs."""
    operation = stream.instance(thread)
    keys = ops.stores.idempotency
    claimed = keys.claim(
        actor,
        key,
        fingerprint=idempotency.fingerprint(operation, message),
        thread_id=thread or make_thread_id(),
    )
    if isinstance(claimed, Answer):
        return (
            stream.replay(claimed) if stream.wanted(request) else idempotency.response(claimed, replayed=True)
        )
    keyed = Keyed(keys, claimed, thread=thread, operation=operation)
    try:
        check_rate(ops, actor, settings)
    except RateLimited:
        keyed.refused()
        raise
    if stream.wanted(request):
        return stream.turn(ops, message, actor=actor, thread=thread, keyed=keyed)
    answer = keyed.answer(
        lambda: ops.send(
            message, actor=actor, thread=thread, new_thread_id=keyed.new_thread_id, channel="api"
        )
    )
    return idempotency.response(answer, replayed=False)


def visible_thread(ops: Operations, person_id: str, thread_id: str) -> None:
    """404 — the same as for a thread that does not exist — unless ``person_id`` may see it."""
    if not thread_id.strip() or not ops.may_see_thread(person_id, thread_id):
        raise NotFound(f"no thread {thread_id!r}", thread_id=thread_id)


def check_rate(ops: Operations, person_id: str, settings: Settings) -> None:
    """At most ``send_rate_per_minute`` messages a minute, counted from the audit trail (every process
    appends there, so the limit holds across processes and channels)."""
    allowed = settings.send_rate_per_minute
    now = datetime.now(UTC)
    oldest_counted = ops.requests_since(person_id, now - _MINUTE, nth_newest=allowed)
    if oldest_counted is None:
        return
    wait = max(1, math.ceil((oldest_counted + _MINUTE - now).total_seconds()))
    raise RateLimited(f"at most {allowed} messages a minute; try again in {wait} s", retry_after=wait)


_MINUTE = timedelta(minutes=1)
