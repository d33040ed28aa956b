"""A worker killed with SIGKILL mid-resume leaves its work to another once the lease runs out, and the
approved call still runs exactly once — killed before the resume ran anything, or after it ran but
before the lease was completed; on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.operations import Operations
from agent.settings import Settings
from agent.worker import Worker
from governance.executions import ExecutionStatus
from governance.work import RESUME, WorkState
from tests.worker.conftest import WRITE_OFF, WRITE_OFF_APPROVES, WRITE_OFF_ASKS, MakeSettings

ROOT = Path(__file__).resolve().parents[2]
LEASE_S = 1.0


def _environment(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSLAYER_") and k != "OPENAI_API_KEY"}
    env.update(
        OPSLAYER_HOME=str(settings.home),
        OPSLAYER_GROUNDING="false",
        OPSLAYER_WORKER_LEASE_S=str(LEASE_S),
    )
    if settings.database_url is not None:
        env["OPSLAYER_DATABASE_URL"] = settings.database_url.get_secret_value()
    return env


def _wait_for(
    condition: Callable[[], bool], what: str, *, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + 120
    while not condition():
        if process is not None and process.poll() is not None:
            stderr = process.stderr.read().decode() if process.stderr is not None else ""
            pytest.fail(f"the worker process ended early: {stderr[-2000:]}")
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


@pytest.mark.parametrize("when", ["before", "after"])
def test_work_of_a_killed_worker_is_finished_by_another(
    make_settings: MakeSettings, engine_name: str, when: str, tmp_path: Path
) -> None:
    settings = make_settings(engine_name, worker_lease_s=LEASE_S)
    ops = Operations(settings)
    [request] = ops.send(WRITE_OFF, actor=WRITE_OFF_ASKS).pending
    ops.vote(request.id, voter=WRITE_OFF_APPROVES, approve=True, channel="api")
    marker = tmp_path / "blocked"
    doomed = subprocess.Popen(
        [sys.executable, "-m", "tests.worker.killed_worker", when, str(marker)],
        cwd=ROOT,
        env=_environment(settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for(marker.exists, "the worker blocked mid-resume", process=doomed)
        [held] = [item for item in ops.stores.work.leased() if item.kind == RESUME]
        assert held.leased_by == f"doomed-{when}"
    finally:
        doomed.kill()
        doomed.wait(timeout=60)

    rescuer = Worker(settings, worker_id="rescuer")

    def finished() -> bool:
        rescuer.run_once()
        item = ops.stores.work.get(RESUME, request.thread_id)
        return item is not None and item.state is WorkState.DONE

    _wait_for(finished, "another worker finished the thread")
    writes = [
        e
        for e in ops.executions(thread=request.thread_id)
        if e.tool == "inventory_adjust_stock" and not e.key.startswith("notify:")
    ]
    assert [e.status for e in writes] == [ExecutionStatus.COMPLETED]
    assert len(ops.audit_events(thread=request.thread_id, kinds=["response"])) == 1
    item = ops.stores.work.get(RESUME, request.thread_id)
    assert item is not None and item.attempts == 2  # the dead worker's lease, then the rescuer's
    assert ops.verify().ok and ops.stores.work.leased() == []
