"""The Slack routes of ``opslayer serve``: ``/slack/events``, ``/slack/interactivity`` (both verified)
and ``/slack/step-up/{secret}`` (a single-use link to the review page).

Every request to the first two is checked before bolt sees it: Slack's v0 signature (HMAC-SHA256 of
``v0:{timestamp}:{body}`` with the signing secret), a timestamp within 5 minutes of now, and a
signature never seen before (a replayed request). A refused request gets 401, changes nothing, and is
audited as ``access_denied`` with what was wrong.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import html
import json
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler

from agent.slack.app import STEP_UP_PATH, SlackFrontEnd
from agent.slack.store import SlackStore, StepUpRefused

WINDOW = timedelta(minutes=5)


class RequestVerifier:
    """Slack's request signing, with a clock the tests move and replay detection in the database."""

    def __init__(self, signing_secret: str, store: SlackStore, *, clock: Callable[[], datetime]) -> None:
        self._secret = signing_secret.encode()
        self._store = store
        self._clock = clock

    def check(
        self, body: bytes, headers: Mapping[str, str], *, event_id: str | None
    ) -> tuple[str | None, bool]:
        """(Why the request is refused, or None when it is Slack's, fresh and new; whether its event, if
        any, arrives for the first time)."""
        timestamp = headers.get("x-slack-request-timestamp")
        signature = headers.get("x-slack-signature")
        if not timestamp or not signature:
            return "unsigned request (no X-Slack-Signature or X-Slack-Request-Timestamp)", False
        signed = b"v0:" + timestamp.encode() + b":" + body
        expected = "v0=" + hmac.new(self._secret, signed, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            return "forged request: the signature does not match", False
        if (
            not timestamp.isdigit()
            or abs(self._clock().timestamp() - int(timestamp)) > WINDOW.total_seconds()
        ):
            return "stale request: its timestamp is more than 5 minutes from now", False
        new, first = self._store.admit(timestamp, signature, event_id=event_id, window=WINDOW)
        if not new:
            return "replayed request: this signature was seen already", False
        return None, first


def mount(app: FastAPI, front: SlackFrontEnd) -> None:
    """Add the Slack routes to ``app``."""
    settings = front.settings
    assert settings.slack_signing_secret is not None  # the caller mounts only when it is set
    verifier = RequestVerifier(
        settings.slack_signing_secret.get_secret_value(), front.store, clock=front.clock
    )
    handler = AsyncSlackRequestHandler(front.bolt)

    async def slack(request: Request) -> Response:
        body = await request.body()
        admitting = functools.partial(_admit, verifier, body, request.headers)
        refusal, event_id = await asyncio.get_running_loop().run_in_executor(front.writes, admitting)
        if refusal is not None:
            await asyncio.to_thread(
                front.ops.refused,
                None,
                reason=refusal,
                channel="slack",
                path=request.url.path,
                retry=request.headers.get("x-slack-retry-num"),
            )
            return JSONResponse({"error": refusal}, status_code=401)
        if event_id is False:
            return Response(status_code=200)  # a retry of an event handled already: acknowledged, not re-run
        if event_id:  # an event needs only its 200: what was asked is recorded after the answer
            front.in_background(front.on_event(json.loads(body)))
            return Response(status_code=200)
        return await handler.handle(request)  # clicks, commands, modals: bolt answers them

    for path in ("/slack/events", "/slack/interactivity"):
        app.add_api_route(path, slack, methods=["POST"], include_in_schema=False)

    async def step_up(secret: str) -> Response:
        try:
            approval_id = await asyncio.to_thread(front.store.redeem_step_up, secret)
        except StepUpRefused as refused:
            await asyncio.to_thread(
                front.ops.refused, None, reason=f"step-up link: {refused}", channel="slack"
            )
            return HTMLResponse(_page("This link cannot be used", str(refused)), status_code=410)
        return RedirectResponse(front.review_url(approval_id) or f"/approvals/{approval_id}", status_code=303)

    app.add_api_route(STEP_UP_PATH + "{secret}", step_up, methods=["GET"], include_in_schema=False)


def _admit(
    verifier: RequestVerifier, body: bytes, headers: Mapping[str, str]
) -> tuple[str | None, str | bool | None]:
    """One trip to the database per request: (why it is refused, or None) and, for an event, its id —
    False when that event was handled already (Slack sends it again when it was acknowledged late)."""
    event_id = _event_id(body)
    refusal, first = verifier.check(body, headers, event_id=event_id)
    if refusal is not None or event_id is None:
        return refusal, None
    return None, event_id if first else False


def _event_id(body: bytes) -> str | None:
    """The id of an event callback (JSON); None for commands and clicks (form-encoded) and the rest."""
    if not body.startswith(b"{"):
        return None
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    event_id = (
        parsed.get("event_id")
        if isinstance(parsed, dict) and parsed.get("type") == "event_callback"
        else None
    )
    return event_id if isinstance(event_id, str) and event_id else None


def _page(title: str, text: str) -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>"
        "<p>Ask for a new link: open the approval from its Slack card again, or from the review page.</p>"
        "</body></html>"
    )
