"""Scale-out on PostgreSQL: the services of ``deploy/compose.yaml`` as local processes, on one database.

Two ``opslayer serve`` processes and two ``opslayer worker`` processes, started with the commands and
environment of the compose file (only the database URL, the home folder, the ports and the lease
length differ; grounding is off, as there is no Chroma server here). 20 threads that each need two
approvals are started through both servers; the approvers vote concurrently through both; one worker
is killed with SIGKILL while it holds a resume. Then every approved call has executed exactly once,
every thread has its answer, the audit chain verifies and nothing is left leased.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from evals.bench_service import create_token
from evals.openai_stub import free_port
from governance.executions import ExecutionLedger
from governance.store import engine_from_url
from governance.work import WorkQueue
from tests.pg.server import Databases
from tools.local import add_budget

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent
ORDER = "order 40 laptops for the Berlin office"
PO_TOOL = "procurement_create_purchase_order"
THREADS = 20
REQUESTERS = ("alice.requester", "bob.requester")
APPROVERS = ("grace.procure", "heidi.finance")
AUDITOR = "mia.audit"


def compose_services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    return services


def compose_env() -> dict[str, str]:
    """``deploy/opslayer.env``: what every opslayer process of the compose file shares."""
    pairs = (
        line.split("=", 1)
        for line in (DEPLOY / "opslayer.env").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )
    return {key.strip(): value.strip() for key, value in pairs}


def test_the_compose_file_runs_two_servers_and_two_workers_on_postgres() -> None:
    services = compose_services()

    assert [services[name]["command"][:2] for name in ("api-1", "api-2")] == [["opslayer", "serve"]] * 2
    assert [services[name]["command"][:2] for name in ("worker-1", "worker-2")] == [
        ["opslayer", "worker"]
    ] * 2
    for name in ("api-1", "api-2", "worker-1", "worker-2"):
        assert services[name]["environment"]["OPSLAYER_DATABASE_URL"].startswith("postgresql://")
    assert compose_env()["OPSLAYER_SERVE_WORKER"] == "false"


@dataclass
class Deployment:
    env: dict[str, str]
    servers: list[str]
    workers: dict[str, subprocess.Popen[bytes]]
    database_url: str
    logs: Path

    def token(self, person: str) -> str:
        return create_token(self.env, person)

    def log_tail(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text()[-3000:]}" for path in sorted(self.logs.iterdir())
        )


def _command(service: Mapping[str, Any], port: int | None) -> list[str]:
    command = [str(BIN / "opslayer"), *service["command"][1:]]
    if port is not None:
        command[command.index("--host") + 1] = "127.0.0.1"
        command[command.index("--port") + 1] = str(port)
    return command


@pytest.fixture
def deployment(tmp_path: Path, pg_databases: Databases, systems_template: Path) -> Iterator[Deployment]:
    url = pg_databases.create()
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(systems_template, home / "systems.db")
    add_budget(home / "systems.db", "CC-IT-OPS", 200_000_000)  # room in the budget for all 20 orders
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPSLAYER_", "OPENAI_"))}
    env |= compose_env()
    env |= {
        "OPSLAYER_DATABASE_URL": url,
        "OPSLAYER_HOME": str(home),
        "OPSLAYER_GROUNDING": "false",
        "OPSLAYER_WORKER_LEASE_S": "3",
        "OPSLAYER_WORKER_POLL_S": "0.05",
        "OPSLAYER_SEND_RATE_PER_MINUTE": "1000",
    }
    env.pop("OPSLAYER_CHROMA_URL")
    logs = tmp_path / "logs"
    logs.mkdir()
    services = compose_services()
    with ExitStack() as stack:

        def start(name: str, port: int | None) -> subprocess.Popen[bytes]:
            out = stack.enter_context((logs / f"{name}.log").open("wb"))
            process = subprocess.Popen(_command(services[name], port), env=env, stdout=out, stderr=out)
            stack.callback(_stop, process)
            return process

        ports = [free_port(), free_port()]
        for name, port in zip(("api-1", "api-2"), ports, strict=True):
            start(name, port)
        workers = {name: start(name, None) for name in ("worker-1", "worker-2")}
        servers = [f"http://127.0.0.1:{port}" for port in ports]
        made = Deployment(env=env, servers=servers, workers=workers, database_url=url, logs=logs)
        for server in servers:
            _wait_ready(server, made)
        yield made
    pg_databases.done(url)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(server: str, deployment: Deployment, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{server}/readyz", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{server}/readyz did not answer 200 in {timeout} s\n{deployment.log_tail()}")


def _purchase_orders(home: Path) -> int:
    with sqlite3.connect(home / "systems.db") as conn:
        return int(conn.execute("SELECT count(*) FROM purchase_orders").fetchone()[0])


def test_approved_orders_run_exactly_once_across_servers_and_a_killed_worker(deployment: Deployment) -> None:
    home = Path(deployment.env["OPSLAYER_HOME"])
    orders_before = _purchase_orders(home)
    tokens = {person: deployment.token(person) for person in (*REQUESTERS, *APPROVERS, AUDITOR)}

    def client(n: int, person: str) -> httpx.Client:
        server = deployment.servers[n % 2]
        return httpx.Client(
            base_url=server, headers={"Authorization": f"Bearer {tokens[person]}"}, timeout=60
        )

    def start_thread(n: int) -> tuple[str, str, str]:
        requester = REQUESTERS[n % 2]
        with client(n, requester) as http:
            reply = http.post("/v1/threads", json={"message": ORDER})
        assert reply.status_code in (200, 201), reply.text
        turn = reply.json()
        [request] = turn["pending"]
        return turn["thread_id"], request["id"], requester

    with ThreadPoolExecutor(max_workers=8) as pool:
        started = list(pool.map(start_thread, range(THREADS)))

    def vote(job: tuple[int, str, str]) -> int:
        n, request_id, approver = job
        with client(n, approver) as http:
            return http.post(f"/v1/approvals/{request_id}/approve", json={}).status_code

    votes = [
        (n + k, request_id, approver)
        for n, (_, request_id, _) in enumerate(started)
        for k, approver in enumerate(APPROVERS)
    ]
    queue = WorkQueue(engine_from_url(deployment.database_url), clock=lambda: datetime.now(UTC))
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = pool.map(vote, votes)
        killed = _kill_while_resuming(deployment.workers["worker-1"], queue, "worker-1")
        assert set(statuses) == {200}

    assert killed, f"worker-1 never held a resume to be killed in\n{deployment.log_tail()}"
    answers = _wait_for_answers(deployment, tokens, started)
    ledger = ExecutionLedger(engine_from_url(deployment.database_url), clock=lambda: datetime.now(UTC))
    orders = [r for r in ledger.list(limit=1000) if r.tool == PO_TOOL]
    assert len(orders) == THREADS and len({r.thread_id for r in orders}) == THREADS
    # A kill between the order's commit and the ledger's is an outcome nobody can know: the call stays
    # `started` for an operator to settle, and is never run again. Every other call completed once.
    completed = [r for r in orders if r.status.value == "completed"]
    failed = [(r.thread_id, r.status.value, r.result, r.error) for r in orders if r not in completed]
    assert {r.status.value for r in orders} <= {"completed", "started"}, failed
    created = _purchase_orders(home) - orders_before
    assert len(completed) <= created <= THREADS
    assert all("PO-" in str(answers.get(str(r.thread_id))) for r in completed), answers
    with httpx.Client(
        base_url=deployment.servers[0], headers={"Authorization": f"Bearer {tokens[AUDITOR]}"}
    ) as http:
        verified = http.get("/v1/audit/verify")
    assert verified.status_code == 200 and verified.json()["ok"] is True, verified.text
    assert queue.leased() == []


def _kill_while_resuming(worker: subprocess.Popen[bytes], queue: WorkQueue, worker_id: str) -> bool:
    """SIGKILL ``worker`` the moment it holds a resume lease; False if it never held one in 60 s."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(item.kind == "resume" and item.leased_by == worker_id for item in queue.leased()):
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            return True
        time.sleep(0.002)
    return False


def _wait_for_answers(
    deployment: Deployment,
    tokens: Mapping[str, str],
    started: list[tuple[str, str, str]],
    timeout: float = 120.0,
) -> dict[str, str | None]:
    answers: dict[str, str | None] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for thread_id, _, requester in started:
            if answers.get(thread_id):
                continue
            headers = {"Authorization": f"Bearer {tokens[requester]}"}
            reply = httpx.get(f"{deployment.servers[0]}/v1/threads/{thread_id}", headers=headers, timeout=30)
            answers[thread_id] = _answer(reply.json()) if reply.status_code == 200 else None
        if all(answers.values()):
            return answers
        time.sleep(0.25)
    missing = [t for t, a in answers.items() if not a]
    pytest.fail(f"threads without an answer after {timeout} s: {missing}\n{deployment.log_tail()}")


def _answer(thread: Mapping[str, Any]) -> str | None:
    """The last answer of a thread that waits for nothing."""
    if thread.get("pending"):
        return None
    answers = [
        m.get("text") or m.get("content")
        for m in thread.get("messages", [])
        if m.get("role") in ("assistant", "ai")
    ]
    return answers[-1] if answers else None
