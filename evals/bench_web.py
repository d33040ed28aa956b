"""Benchmark: the review page's server time with 10,000 pending approval requests (embedded SQLite).

The app runs in-process and is called through Starlette's test client, so the figures are the
server's time to render a page (no socket, no browser). Measured, each over ``calls`` requests:

- **queue**: ``GET /`` for the warehouse manager, who may act on every one of the 10,000 requests
  (his first page of 50, and the first page of what else he may see);
- **queue, nothing for you**: ``GET /`` for the procurement manager, for whom none of them waits (the
  store reads only the requests that may concern her, so this costs what a page does; no target);
- **request**: ``GET /approvals/{id}`` for requests drawn across the queue;
- **impact**: ``GET /impact`` for a manager: the figures of the last 30 days counted over the trail
  of that queue, with the report's four matplotlib charts (reported, no target).
"""

from __future__ import annotations

import random
import re
import time
from pathlib import Path
from typing import Any

from evals.bench_service import _fill_queue, _percentile, _seeded_home

TARGETS = {"queue_p99_ms_max": 100, "request_p99_ms_max": 50}
APPROVER = "frank.warehouse"  # may act on every write-off of the queue
BYSTANDER = "grace.procure"  # may act on none of them
MANAGER = "judy.cio"  # manages people: may read the impact figures


def bench_web(tmp_dir: Path, *, pending: int = 10_000, calls: int = 200) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from agent.api import create_app
    from agent.operations import Operations
    from agent.settings import Settings

    home = _seeded_home(tmp_dir / "web-home")
    _fill_queue(home, pending)
    settings = Settings(_env_file=None, home=home, grounding=False, serve_worker=False)
    ops = Operations(settings)
    app = create_app(settings, operations=ops, worker=False)
    ids = [r.id for r in ops.approvals(limit=pending)]
    picks = random.Random(7).choices(ids, k=calls)
    with TestClient(app) as approver, TestClient(app) as bystander, TestClient(app) as manager:
        _sign_in(approver, ops.create_token(APPROVER, expires_in=None).token)
        _sign_in(bystander, ops.create_token(BYSTANDER, expires_in=None).token)
        _sign_in(manager, ops.create_token(MANAGER, expires_in=None).token)
        queue = _timed(lambda _: approver.get("/"), calls)
        nothing = _timed(lambda _: bystander.get("/"), max(10, calls // 10))
        request = _timed(lambda n: approver.get(f"/approvals/{picks[n]}"), calls)
        impact = _timed(lambda _: manager.get("/impact"), max(5, calls // 20))
    return {
        "pending": len(ids),
        "queue_page": queue,
        "queue_page_nothing_for_you": nothing,
        "request_page": request,
        "impact_page": impact,
        "targets": TARGETS,
    }


def _sign_in(client: Any, token: str) -> None:
    form = client.get("/login").text
    found = re.search(r'name="csrf" value="([^"]+)"', form)
    assert found is not None
    done = client.post("/login", data={"token": token, "csrf": found.group(1)})
    done.raise_for_status()


def _timed(call: Any, calls: int) -> dict[str, Any]:
    times = []
    for n in range(calls):
        start = time.perf_counter()
        response = call(n)
        times.append(time.perf_counter() - start)
        response.raise_for_status()
    ordered = sorted(times)
    return {
        "calls": calls,
        "p50_ms": round(_percentile(ordered, 50) * 1000, 1),
        "p99_ms": round(_percentile(ordered, 99) * 1000, 1),
    }


def main() -> None:
    import json
    import tempfile

    with tempfile.TemporaryDirectory(prefix="opslayer-bench-web-") as tmp:
        print(json.dumps(bench_web(Path(tmp)), indent=2))


if __name__ == "__main__":
    main()
