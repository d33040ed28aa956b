"""`opslayer worker`: `--once` does one sweep and says how much it did; the long-running worker stops
cleanly (exit 0, after the item in hand) on SIGTERM and on SIGINT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from agent.cli.app import app
from agent.worker import read_published_head
from evals.openai_stub import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_once_does_one_sweep(cli: CliRunner, tmp_path: Path) -> None:
    done = cli.invoke(app, ["worker", "--once", "--id", "nightly"])

    assert done.exit_code == 0, done.output
    # the first head publication and the first oversight pass
    assert done.output.strip() == "worker nightly: 2 item(s) done"
    assert read_published_head(tmp_path / "home" / "audit-head.json").seq >= 0


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_the_worker_stops_cleanly_on_a_signal(tmp_path: Path, stop: signal.Signals) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSLAYER_") and k != "OPENAI_API_KEY"}
    env.update(OPSLAYER_HOME=str(tmp_path / "home"), OPSLAYER_GROUNDING="false")
    head = tmp_path / "home" / "audit-head.json"
    port = free_port()
    command = ["worker", "--id", "w-test", "--metrics-port", str(port)]
    worker = subprocess.Popen(
        [sys.executable, "-c", "from agent.cli import main; main()", *command],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not head.exists():  # its first sweep is done: it is in its loop
            assert worker.poll() is None, worker.communicate()[1]
            assert time.monotonic() < deadline, "the worker never published the head"
            time.sleep(0.05)
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30)
        worker.send_signal(stop)
        out, err = worker.communicate(timeout=60)
    finally:
        worker.kill()

    assert worker.returncode == 0, err
    assert out.startswith("worker w-test: polling every 0.2 s")
    assert metrics.status_code == 200 and "opslayer_approvals_pending 0.0" in metrics.text
    assert f"{stop.name}: stopping after the item in hand" in err and "worker w-test stopped" in err
