"""The console script starts a command without the cyclic garbage collector and gives it back.

Pins: the command runs with the collector off; a command still running after the pause has it on
again; the process exits at once without waiting for the pause.
"""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import agent.cli
import agent.cli.app

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _collector_back_on() -> Iterator[None]:
    yield
    gc.enable()


def test_a_command_starts_with_the_collector_off(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bool] = []
    monkeypatch.setattr(agent.cli.app, "main", lambda: seen.append(gc.isenabled()))
    monkeypatch.setattr(agent.cli, "GC_PAUSE_S", 3600.0)

    agent.cli.main()

    assert seen == [False]


def test_the_collector_comes_back_after_the_pause() -> None:
    resume = agent.cli.pause_collector(0.05)
    assert not gc.isenabled()

    resume.join(timeout=30)

    assert gc.isenabled()


def test_a_short_command_exits_without_waiting_for_the_pause(tmp_path: Path) -> None:
    program = "import agent.cli; agent.cli.GC_PAUSE_S = 3600; agent.cli.main()"
    done = subprocess.run(
        [sys.executable, "-c", program, "tools"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "OPSLAYER_HOME": str(tmp_path / "home"), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    assert "create_purchase_order" in done.stdout
