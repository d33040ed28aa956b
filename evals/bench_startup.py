"""Start-up cost of the CLI: wall time of `opslayer --help` and `opslayer approvals list` against a bare
`python -c pass` measured in the same run (interleaved: one round runs each command once), and which
heavy packages each command imports.

Targets (issue "ready for surfaces"): `--help` ≤ 10× and `approvals list` ≤ 15× a bare Python start,
and neither imports torch, langgraph or chromadb.

``library_floor`` is the wall time of importing only the libraries `approvals list` cannot do without
(typer, rich, pydantic-settings for the settings, SQLAlchemy for the governance database), started as
the console script starts a command (the cyclic garbage collector paused, see :func:`agent.cli.main`):
what is left above it is opslayer's own cost.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

_HEAVY = ("torch", "langgraph", "chromadb", "langchain_core", "sentence_transformers")
_RUNS = 11
_LIBRARIES = ("typer", "rich.console", "rich.table", "pydantic_settings", "sqlalchemy")
_FLOOR = f"import gc; gc.disable(); import {', '.join(_LIBRARIES)}"

# Runs the CLI in-process with the arguments given, then reports the heavy modules it imported.
_PROBE = """
import json, sys
sys.argv = ["opslayer", *sys.argv[1:]]
from agent.cli import main
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)), file=sys.stderr)
"""


def bench_startup(home: Path) -> dict[str, Any]:
    env = {**os.environ, "OPSLAYER_HOME": str(home), "COLUMNS": "100"}
    env.pop("OPENAI_API_KEY", None)
    commands = {
        "python": [sys.executable, "-c", "pass"],
        "help": [sys.executable, "-c", _PROBE.format(heavy=_HEAVY), "--help"],
        "approvals_list": [sys.executable, "-c", _PROBE.format(heavy=_HEAVY), "approvals", "list"],
        "library_floor": [sys.executable, "-c", _FLOOR],
    }
    wall = _interleaved(commands, env)
    bare = wall["python"]
    report: dict[str, Any] = {"python_start_s": round(bare, 4), "runs": _RUNS}
    for name in ("help", "approvals_list"):
        report[name] = {
            "wall_s": round(wall[name], 4),
            "ratio_to_python": round(wall[name] / bare, 1),
            "heavy_imports": _heavy_imports(commands[name], env),
        }
    floor = wall["library_floor"]
    report["library_floor"] = {
        "imports": list(_LIBRARIES),
        "wall_s": round(floor, 4),
        "ratio_to_python": round(floor / bare, 1),
        "approvals_list_above_floor_s": round(wall["approvals_list"] - floor, 4),
    }
    report["targets"] = {"help_ratio_max": 10, "approvals_list_ratio_max": 15, "heavy_imports": []}
    return report


def _interleaved(commands: dict[str, list[str]], env: dict[str, str]) -> dict[str, float]:
    """The median wall time of each command over ``_RUNS`` rounds, each round running every command
    once in turn: a shared machine that slows down mid-run slows all of them alike, so the ratios to
    the bare start hold (timed one command after another, the bare start alone ranged 20–35 ms)."""
    for command in commands.values():
        subprocess.run(command, env=env, capture_output=True, check=True)  # warm the file cache
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(_RUNS):
        for name, command in commands.items():
            start = time.perf_counter()
            subprocess.run(command, env=env, capture_output=True, check=True)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(runs) for name, runs in times.items()}


def _heavy_imports(command: list[str], env: dict[str, str]) -> list[str]:
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return list(json.loads(done.stderr.strip().splitlines()[-1]))
