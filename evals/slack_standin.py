"""A stand-in for Slack on 127.0.0.1: the Web API the app calls (recording every call), and requests
signed like Slack signs them (for sending events, commands and clicks to the app).

The Web API answers as Slack does for the methods the app uses (``auth.test``, ``chat.postMessage``,
``chat.update``, ``chat.postEphemeral``, ``views.open``, ``reactions.add``); a direct message to a
user id lands in a ``D…`` channel, as on Slack. ``fail`` makes a method answer ``ok: false``.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from evals.openai_stub import free_port

BOT_USER = "UBOT0001"
TEAM = "T0OPSLAYER"


@dataclass(frozen=True, kw_only=True)
class Call:
    method: str
    params: dict[str, Any]

    @property
    def blocks(self) -> list[dict[str, Any]]:
        return list(self.params.get("blocks") or [])

    @property
    def text(self) -> str:
        """Every text of the message: fallback and blocks, in order (to search in)."""
        return "\n".join([str(self.params.get("text", "")), *_texts(self.blocks)])


@dataclass
class SlackStandIn:
    """The recorded Web API calls; thread-safe."""

    calls: list[Call] = field(default_factory=list)
    fail: set[str] = field(default_factory=set)  # methods that answer ok: false
    fail_channels: set[str] = field(default_factory=set)  # channels every post to fails
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ts: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def of(self, method: str) -> list[Call]:
        with self._lock:
            return [call for call in self.calls if call.method == method]

    def wait_for(self, check: Callable[[SlackStandIn], Any], *, timeout: float = 20.0) -> Any:
        """Poll until ``check`` returns something truthy; its value (AssertionError naming the calls
        seen when time is up)."""
        deadline = time.monotonic() + timeout
        while True:
            found = check(self)
            if found:
                return found
            if time.monotonic() > deadline:
                seen = [(c.method, c.params.get("channel"), c.text[:80]) for c in self.calls]
                raise AssertionError(f"Slack never saw what the test waited for; calls: {seen}")
            time.sleep(0.02)

    def answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.calls.append(Call(method=method, params=params))
            ts = f"1700000000.{next(self._ts):06d}"
        channel = str(params.get("channel", ""))
        if method in self.fail or channel in self.fail_channels:
            return {"ok": False, "error": "channel_not_found"}
        if channel.startswith(("U", "W")):  # a direct message opens the app's DM with that person
            channel = "D" + channel[1:]
        if method == "auth.test":
            return {"ok": True, "user_id": BOT_USER, "bot_id": "B0BOT", "team_id": TEAM, "user": "opslayer"}
        if method == "chat.postMessage":
            return {"ok": True, "channel": channel, "ts": ts, "message": {"ts": ts}}
        if method == "chat.update":
            return {"ok": True, "channel": channel, "ts": params.get("ts")}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": ts}
        if method == "views.open":
            return {"ok": True, "view": {"id": "V0MODAL"}}
        return {"ok": True}


def _texts(blocks: list[Any]) -> Iterator[str]:
    for block in blocks:
        if isinstance(block, dict):
            for key, value in block.items():
                if key == "text" and isinstance(value, str):
                    yield value
                elif isinstance(value, dict | list):
                    yield from _texts([value] if isinstance(value, dict) else value)


def _build(standin: SlackStandIn) -> Starlette:
    async def api(request: Request) -> JSONResponse:
        raw = await request.body()
        if request.headers.get("content-type", "").startswith("application/json"):
            params: dict[str, Any] = json.loads(raw or b"{}")
        else:
            params = dict(urllib.parse.parse_qsl(raw.decode()))
        params.update(request.query_params)
        for key in ("blocks", "view"):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        return JSONResponse(standin.answer(request.path_params["method"], params))

    return Starlette(routes=[Route("/api/{method}", api, methods=["POST", "GET"])])


@contextmanager
def running_standin() -> Iterator[tuple[SlackStandIn, str]]:
    """The stand-in served on a free port of 127.0.0.1 in a thread; yields it and its API base URL."""
    standin = SlackStandIn()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(_build(standin), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="slack-standin", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"the Slack stand-in did not start on 127.0.0.1:{port}")
        time.sleep(0.01)
    try:
        yield standin, f"http://127.0.0.1:{port}/api/"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


# --- requests as Slack sends them to the app --------------------------------------------------------


def sign(body: str, secret: str, *, timestamp: int | None = None) -> dict[str, str]:
    """Slack's v0 signature headers for ``body``."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def event_body(event: dict[str, Any], *, event_id: str) -> str:
    return json.dumps(
        {
            "token": "unused",
            "team_id": TEAM,
            "api_app_id": "A0OPSLAYER",
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}],
        }
    )


def mention(
    user: str,
    text: str,
    *,
    ts: str,
    channel: str = "C0OPS",
    event_id: str | None = None,
    thread_ts: str | None = None,
) -> str:
    """An ``app_mention`` event (in the thread ``thread_ts`` when given)."""
    event: dict[str, Any] = {
        "type": "app_mention",
        "user": user,
        "text": f"<@{BOT_USER}> {text}",
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
    }
    if thread_ts is not None:
        event["thread_ts"] = thread_ts
    return event_body(event, event_id=event_id or f"Ev{ts.replace('.', '')}")


def direct_message(user: str, text: str, *, ts: str, event_id: str | None = None) -> str:
    event = {
        "type": "message",
        "channel_type": "im",
        "user": user,
        "text": text,
        "ts": ts,
        "channel": "D0" + user,
    }
    return event_body(event, event_id=event_id or f"Ev{ts.replace('.', '')}")


def form(payload: dict[str, Any]) -> str:
    """An interactivity request body: ``payload=<json>``, form-encoded."""
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def click(user: str, action_id: str, approval_id: str, *, channel: str) -> str:
    return form(
        {
            "type": "block_actions",
            "user": {"id": user, "team_id": TEAM},
            "api_app_id": "A0OPSLAYER",
            "team": {"id": TEAM},
            "trigger_id": f"trigger-{user}-{action_id}",
            "channel": {"id": channel},
            "container": {"type": "message", "channel_id": channel, "message_ts": "1700000000.000001"},
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": f"approval:{approval_id}",
                    "value": approval_id,
                }
            ],
        }
    )


def submission(user: str, view: dict[str, Any], values: dict[str, str]) -> str:
    """A modal submitted with ``values`` (block id → the text typed into its one input)."""
    state = {
        block: {"value": {"type": "plain_text_input", "value": value}} for block, value in values.items()
    }
    return form(
        {
            "type": "view_submission",
            "user": {"id": user, "team_id": TEAM},
            "api_app_id": "A0OPSLAYER",
            "team": {"id": TEAM},
            "view": {**view, "id": "V0MODAL", "team_id": TEAM, "state": {"values": state}},
        }
    )


def command(user: str, text: str, *, channel: str = "C0OPS", trigger: str = "trigger-command") -> str:
    return urllib.parse.urlencode(
        {
            "command": "/opslayer",
            "text": text,
            "user_id": user,
            "channel_id": channel,
            "team_id": TEAM,
            "trigger_id": trigger,
            "api_app_id": "A0OPSLAYER",
        }
    )
