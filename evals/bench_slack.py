"""Benchmark: the Slack app (``opslayer serve`` on 127.0.0.1, one process, and one ``opslayer worker``
process beside it, as deployed; the Web API is the stand-in of ``evals/slack_standin.py``; embedded
SQLite, the offline planner).

- **Acknowledgement**: after 10 events to warm up, 50 signed mentions POSTed at once to
  ``/slack/events`` over 50 open connections (aiohttp, as Slack keeps its connections alive); each
  request's time until its HTTP answer (Slack's limit is 3 s); p50 and p99, next to 50 concurrent
  ``GET /healthz`` on the same connections (what any request costs here). The server only records
  and queues each ask; the worker runs the turns meanwhile. Measured again with the worker inside
  ``opslayer serve`` (``ack_ms_worker_in_serve``), the embedded default.
- **Click → all cards updated**: for purchase orders that need two approvers (three cards each: two
  procurement managers and a finance controller), the deciding click's POST until the stand-in has
  received a ``chat.update`` with the outcome for every card of the request; p50.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from agent.operations import Operations
from agent.settings import Settings
from evals.bench_service import serving, working
from evals.slack_standin import SlackStandIn, click, mention, running_standin
from tools.local import add_budget, reset_local_systems

TARGETS = {"ack_p99_ms_max": 200, "click_to_cards_updated_p50_ms_max": 500}
SECRET = "bench-signing-secret"
ORDER = "order 22 laptops for the Berlin office"  # 30,305: a procurement manager and a finance controller
QUESTION = "how many 14-inch Pro laptops are in Amsterdam?"


def bench_slack(tmp_dir: Path) -> dict[str, Any]:
    """The figures with the worker in its own process (as deployed), and the acknowledgements again with
    the worker inside ``opslayer serve`` (the embedded default)."""
    report = _measure(tmp_dir / "worker-process", worker_process=True)
    in_serve = _measure(tmp_dir / "worker-in-serve", worker_process=False, clicks=0)
    report["ack_ms_worker_in_serve"] = in_serve["ack_ms"]
    return report


def _measure(
    home: Path, *, worker_process: bool, events: int = 50, clicks: int = 10, warm_up: int = 10
) -> dict[str, Any]:
    with running_standin() as (slack, api_url):
        settings = _settings(home, api_url)
        env = {**_env(settings), "OPSLAYER_SERVE_WORKER": "false" if worker_process else "true"}
        worker = working(env) if worker_process else contextlib.nullcontext()
        with serving(env, "--no-access-log") as base, worker:
            ops = Operations(settings)  # reads the same database as the server
            asyncio.run(_acknowledgements(base, warm_up, first=0))  # connections, caches, first turns
            _wait(lambda: len(ops.audit_events(kinds=["response"])) >= warm_up, timeout=600)
            health, acks = asyncio.run(_acknowledgements(base, events, first=warm_up))
            _wait(lambda: len(ops.audit_events(kinds=["response"])) >= warm_up + events, timeout=600)
            updates = _click_to_cards_updated(base, slack, ops, clicks) if clicks else [0.0]
    return {
        "events": events,
        "ack_ms": {"p50": _ms(statistics.median(acks)), "p99": _ms(_p99(acks)), "max": _ms(max(acks))},
        "healthz_same_burst_ms": {"p50": _ms(statistics.median(health)), "p99": _ms(_p99(health))},
        "click_to_cards_updated_ms": {"p50": _ms(statistics.median(updates)), "max": _ms(max(updates))},
        "requests_decided": len(updates),
        "targets": TARGETS,
    }


def _settings(home: Path, api_url: str) -> Settings:
    home.mkdir(parents=True, exist_ok=True)
    reset_local_systems(home / "systems.db")
    # Room in the budget for every order the bench approves: an order worth more than its cost centre
    # has left is denied before anyone could approve it (the policy's over-cost-centre-budget).
    add_budget(home / "systems.db", "CC-IT-OPS", 100_000_000)
    return Settings(
        _env_file=None,
        home=home,
        grounding=False,
        worker_poll_s=0.05,
        send_rate_per_minute=1_000_000,
        slack_bot_token="xoxb-bench",
        slack_signing_secret=SECRET,
        slack_api_url=api_url,
        public_url="https://ops.example.com",
    )


def _env(settings: Settings) -> dict[str, str]:
    """The environment of ``opslayer serve`` for these settings (one server process, its worker)."""
    return {
        "OPSLAYER_HOME": str(settings.home),
        "OPSLAYER_GROUNDING": "false",
        "OPSLAYER_WORKER_POLL_S": str(settings.worker_poll_s),
        "OPSLAYER_SEND_RATE_PER_MINUTE": str(settings.send_rate_per_minute),
        "OPSLAYER_SLACK_BOT_TOKEN": "xoxb-bench",
        "OPSLAYER_SLACK_SIGNING_SECRET": SECRET,
        "OPSLAYER_SLACK_API_URL": settings.slack_api_url,
        "OPSLAYER_PUBLIC_URL": str(settings.public_url),
    }


def _signed(body: str) -> dict[str, str]:
    ts = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


async def _acknowledgements(base: str, count: int, *, first: int) -> tuple[list[float], list[float]]:
    """Seconds to answer ``count`` concurrent ``GET /healthz`` (the reference: what any request costs
    here, with the same connections), then ``count`` concurrent signed events."""
    numbers = range(first, first + count)
    bodies = [mention("U0CAROL01", QUESTION, ts=f"1900000000.{i:06d}", channel=f"C0B{i}") for i in numbers]
    connector = aiohttp.TCPConnector(limit=count)
    async with aiohttp.ClientSession(base, connector=connector) as client:

        async def timed(path: str, body: str | None) -> float:
            started = time.perf_counter()
            if body is None:
                response = await client.get(path)
            else:
                headers = {"Content-Type": "application/json", **_signed(body)}
                response = await client.post(path, data=body.encode(), headers=headers)
            await response.read()
            response.raise_for_status()
            return time.perf_counter() - started

        # the first burst also opens the connections: Slack keeps its connections alive too
        health = list(await asyncio.gather(*(timed("/healthz", None) for _ in bodies)))
        acks = list(await asyncio.gather(*(timed("/slack/events", body) for body in bodies)))
        return health, acks


def _click_to_cards_updated(base: str, slack: SlackStandIn, ops: Operations, count: int) -> list[float]:
    with httpx.Client(base_url=base, timeout=30) as client:
        return [_decide_one(client, slack, ops, f"1910000000.{i:06d}") for i in range(count)]


def _decide_one(client: httpx.Client, slack: SlackStandIn, ops: Operations, ts: str) -> float:
    """Ask for an order in Slack, approve it from two cards; seconds from the deciding click until every
    card shows the outcome."""
    before = {request.id for request in ops.approvals()}
    _post(client, "/slack/events", mention("U0ALICE01", ORDER, ts=ts, channel="C0ORDERS"), form=False)
    request_id: str = _wait(lambda: _new_request(ops, before), timeout=60)
    _wait(lambda: len(_cards(slack, request_id)) == 3, timeout=60)
    _post(client, "/slack/interactivity", click("U0GRACE01", "approve", request_id, channel="D0GRACE01"))
    _wait(lambda: ops.approval(request_id).request.votes, timeout=60)
    started = time.perf_counter()
    _post(client, "/slack/interactivity", click("U0HEIDI01", "approve", request_id, channel="D0HEIDI01"))
    _wait(lambda: len(_outcomes(slack, request_id)) == 3, timeout=60, poll_s=0.002)
    return time.perf_counter() - started


def _post(client: httpx.Client, path: str, body: str, *, form: bool = True) -> None:
    kind = "application/x-www-form-urlencoded" if form else "application/json"
    client.post(path, content=body, headers={"Content-Type": kind, **_signed(body)}).raise_for_status()


def _new_request(ops: Operations, before: set[str]) -> str | None:
    return next((request.id for request in ops.approvals() if request.id not in before), None)


def _cards(slack: SlackStandIn, request_id: str) -> list[Any]:
    return [
        c
        for c in slack.of("chat.postMessage")
        if str(c.params.get("text", "")).startswith("Approval needed")
        and f"({request_id})" in str(c.params["text"])
    ]


def _outcomes(slack: SlackStandIn, request_id: str) -> set[tuple[str, str]]:
    return {
        (str(u.params.get("channel")), str(u.params.get("ts")))
        for u in slack.of("chat.update")
        if str(u.params.get("text", "")).startswith("Approved: ")
        and f"({request_id})" in str(u.params.get("text"))
    }


def _wait(check: Callable[[], Any], *, timeout: float, poll_s: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the Slack bench waited {timeout} s in vain")
        time.sleep(poll_s)
    return found


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory(prefix="opslayer-bench-slack-") as tmp:
        print(json.dumps(bench_slack(Path(tmp)), indent=2))
