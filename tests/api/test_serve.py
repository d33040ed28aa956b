"""The API served for real: uvicorn on 127.0.0.1 with its in-process worker, and the CLI around it.

Pins: the README session works over a socket — a token from `opslayer tokens create`, alice's
order, two approvals that return at once, and the worker (not the test) resuming the thread into one
purchase order; the peer address uvicorn reports is the socket's (a forwarded-for header cannot make
a stranger a trusted proxy); `tokens create` prints the token alone on its last line, and list and
revoke work on it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from functools import cached_property
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from agent import wiring
from agent.api import create_app
from agent.cli.app import app as cli_app
from agent.operations import Operations
from agent.settings import Settings
from evals.openai_stub import free_port
from tests.api.conftest import world_settings


class Served:
    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            create_app(settings, worker=True),
            host="127.0.0.1",
            port=self.port,
            proxy_headers=False,
            log_level="warning",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture
def served_settings(tmp_path: Path, systems_template: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    return world_settings(
        tmp_path / "home",
        systems_template,
        serve_worker=True,
        worker_poll_s=0.05,
        trusted_header="X-Forwarded-User",
        trusted_proxies=("10.0.0.0/8",),
    )


@pytest.fixture
def cli_home(served_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("OPSLAYER_HOME", str(served_settings.home))
    monkeypatch.setenv("OPSLAYER_GROUNDING", "false")
    return CliRunner()


def token(cli: CliRunner, person: str) -> str:
    done = cli.invoke(cli_app, ["tokens", "create", "--as", person, "--expires", "1d"])
    assert done.exit_code == 0, done.output
    return done.output.splitlines()[-1]


def test_the_readme_session_over_a_socket_with_the_worker(
    served_settings: Settings, cli_home: CliRunner
) -> None:
    alice, grace, heidi = (token(cli_home, p) for p in ("alice.requester", "grace.procure", "heidi.finance"))

    with Served(served_settings) as served, httpx.Client(base_url=served.url, timeout=60) as http:
        assert http.get("/readyz").json()["ready"] is True

        def call(method: str, path: str, who: str, **kwargs: Any) -> Any:
            response = http.request(method, path, headers={"Authorization": f"Bearer {who}"}, **kwargs)
            assert response.status_code < 300, response.text
            return response.json()

        turn = call("POST", "/v1/threads", alice, json={"message": "order 40 laptops for the Berlin office"})
        request_id = turn["pending"][0]["id"]
        call("POST", f"/v1/approvals/{request_id}/approve", grace, json={})
        last = call("POST", f"/v1/approvals/{request_id}/approve", heidi, json={})
        assert last["approval"]["status"] == "approved" and last["can_resume"]

        orders: list[dict[str, Any]] = []
        deadline = time.monotonic() + 60
        while not orders and time.monotonic() < deadline:  # the worker resumes the thread
            items = call("GET", "/v1/executions", alice)["items"]
            orders = [e for e in items if e["tool"] == "procurement_create_purchase_order"]
            time.sleep(0.1)
        thread = call("GET", f"/v1/threads/{turn['thread_id']}", alice)

    assert [o["status"] for o in orders] == ["completed"]
    assert "PO-" in thread["messages"][-1]["content"]


def test_the_peer_is_the_socket_not_a_forwarded_header(served_settings: Settings) -> None:
    with Served(served_settings) as served, httpx.Client(base_url=served.url) as http:
        forged = http.get(
            "/v1/me", headers={"X-Forwarded-User": "grace.procure", "X-Forwarded-For": "10.1.2.3"}
        )
    assert forged.status_code == 401 and "configured proxies" in forged.json()["detail"]


def test_tokens_are_created_listed_and_revoked_from_the_cli(
    cli_home: CliRunner, served_settings: Settings
) -> None:
    made = cli_home.invoke(cli_app, ["tokens", "create", "--as", "alice.requester"])
    secret = made.output.splitlines()[-1]
    token_id = secret.split("_")[1]

    listed = cli_home.invoke(cli_app, ["tokens", "list", "--json"])
    revoked = cli_home.invoke(cli_app, ["tokens", "revoke", token_id, "--as", "alice.requester"])
    unknown = cli_home.invoke(cli_app, ["tokens", "revoke", "0" * 16, "--as", "alice.requester"])
    bad = cli_home.invoke(cli_app, ["tokens", "create", "--as", "alice.requester", "--expires", "soon"])

    assert secret.startswith("opl_") and secret not in listed.output and token_id in listed.output
    assert revoked.exit_code == 0 and f"Token {token_id} of alice.requester revoked" in revoked.output
    assert unknown.exit_code == 2 and "no API token" in unknown.output
    assert bad.exit_code == 2 and "--expires" in bad.output


@pytest.mark.parametrize("processes", [[], ["--workers", "2"]], ids=["one-process", "two-processes"])
def test_opslayer_serve_on_a_fresh_home_answers_readyz(tmp_path: Path, processes: list[str]) -> None:
    import os
    import signal
    import subprocess
    import sys

    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPSLAYER_OPENAI_API_KEY")}
    env |= {"OPSLAYER_HOME": str(tmp_path / "fresh"), "OPSLAYER_GROUNDING": "false"}
    root = Path(__file__).resolve().parents[2]
    server = subprocess.Popen(
        [sys.executable, "-m", "agent", "serve", "--port", str(port), *processes],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        ready = None
        deadline = time.monotonic() + 90
        while ready is None and server.poll() is None and time.monotonic() < deadline:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=30)
            except httpx.TransportError:
                time.sleep(0.2)
        assert ready is not None, f"serve did not answer: {server.stdout.read() if server.stdout else ''}"
        assert ready.status_code == 200 and ready.json()["ready"] is True
        assert httpx.get(f"http://127.0.0.1:{port}/v1/me").status_code == 401
    finally:
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=60)
    assert server.returncode == 0, output
    assert "Application shutdown complete" in output


_GC_PROBE = """
import gc, json, sys
from fastapi.testclient import TestClient
from agent.api import create_app
from agent.settings import Settings

before = gc.get_threshold()
app = create_app(Settings(_env_file=None), worker=False, service_process=sys.argv[1] == "serve")
with TestClient(app):
    seen = {"before": before, "after": gc.get_threshold(), "frozen": gc.get_freeze_count()}
    print(json.dumps(seen | {"agent_built": "session" in app.state.operations.__dict__}))
"""


@pytest.mark.parametrize("role", ["serve", "test"])
def test_only_a_service_process_builds_the_agent_at_start_and_tunes_the_collector(
    role: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSLAYER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    done = subprocess.run(
        [sys.executable, "-c", _GC_PROBE, role], capture_output=True, text=True, check=True, timeout=120
    )
    seen = json.loads(done.stdout.strip().splitlines()[-1])

    if role == "serve":  # `opslayer serve`: the agent built before the first request; startup objects
        # frozen, young collections far less often
        assert seen["agent_built"] and seen["after"] == [50_000, 20, 10] and seen["frozen"] > 10_000
    else:  # an app built in a test process leaves the process's collector alone, and builds on first use
        assert not seen["agent_built"] and seen["after"] == seen["before"] and seen["frozen"] == 0


def test_a_service_process_whose_agent_cannot_be_built_yet_still_starts(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class ChromaNotUpYet(Operations):
        @cached_property
        def session(self) -> Any:
            raise ConnectionError("chroma:8000 refused the connection")

    monkeypatch.setattr(wiring, "tune_garbage_collector", lambda: None)  # the test process's collector stays
    app = create_app(settings, operations=ChromaNotUpYet(settings), worker=False, service_process=True)
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
    assert "could not build the agent ahead of the first turn" in caplog.text
    assert "chroma:8000 refused the connection" in caplog.text
