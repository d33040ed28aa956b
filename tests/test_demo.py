"""`make demo` runs offline to the end, leaves a request for the review page and writes the impact report."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from agent.operations import Operations
from agent.settings import Settings


def test_the_demo_runs_offline_and_leaves_a_request_for_a_procurement_manager(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "OPSLAYER_"))}
    env |= {"OPSLAYER_HOME": str(tmp_path), "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", "agent", "demo"], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "audit chain intact" in out
    [report] = re.findall(r"HTML report written to (\S+)", out)
    assert Path(report).is_file() and Path(report).read_text().lower().startswith("<!doctype html>")
    [left] = re.findall(r"Decide (APR-[0-9A-F]+) on the review page", out)
    ops = Operations(Settings(home=tmp_path / "demo", _env_file=None))
    waiting = ops.approvals(actionable_by="grace.procure")
    assert [request.id for request in waiting] == [left]
    assert waiting[0].tool == "procurement_create_purchase_order"
