"""Start-up cost of the CLI: wall time of `opslayer --help` and `opslayer approvals list` against a bare
`python -c pass` measured in the same run, and which heavy packages each command imports.

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
_RUNS = 7
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
    bare = _median([sys.executable, "-c", "pass"], env)
    report: dict[str, Any] = {"python_start_s": round(bare, 4)}
    for name, args in (("help", ["--help"]), ("approvals_list", ["approvals", "list"])):
        command = [sys.executable, "-c", _PROBE.format(heavy=_HEAVY), *args]
        wall = _median(command, env)
        report[name] = {
            "wall_s": round(wall, 4),
            "ratio_to_python": round(wall / bare, 1),
            "heavy_imports": _heavy_imports(command, env),
        }
    floor = _median([sys.executable, "-c", _FLOOR], env)
    report["library_floor"] = {
        "imports": list(_LIBRARIES),
        "wall_s": round(floor, 4),
        "ratio_to_python": round(floor / bare, 1),
        "approvals_list_above_floor_s": round(report["approvals_list"]["wall_s"] - floor, 4),
    }
    report["targets"] = {"help_ratio_max": 10, "approvals_list_ratio_max": 15, "heavy_imports": []}
    return report


def _median(command: list[str], env: dict[str, str]) -> float:
    subprocess.run(command, env=env, capture_output=True, check=True)  # warm the file cache
    times = []
    for _ in range(_RUNS):
        start = time.perf_counter()
        subprocess.run(command, env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _heavy_imports(command: list[str], env: dict[str, str]) -> list[str]:
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return list(json.loads(done.stderr.strip().splitlines()[-1]))
