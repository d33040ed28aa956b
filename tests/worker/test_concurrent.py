"""Two workers, each with its own engines and checkpointer as a process of its own would have, share one
queue while votes arrive: every approved call runs exactly once, every thread is answered once, the
audit chain verifies and nothing is left leased — on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections import Counter

from agent.operations import Operations
from agent.worker import Worker
from governance.executions import ExecutionStatus
from governance.work import RESUME
from tests.worker.conftest import WRITE_OFF, WRITE_OFF_APPROVES, WRITE_OFF_ASKS, MakeSettings

THREADS = 12
QUANTITY = 2  # WRITE_OFF's


def _on_hand(ops: Operations) -> int:
    [level] = ops.systems.inventory.get_stock("SSD-1TB-NVME", "AMS-1")
    return level.on_hand


def _resumes_open(ops: Operations) -> bool:
    return any(item.kind == RESUME for item in ops.stores.work.pending() + ops.stores.work.leased())


def test_two_workers_resume_every_thread_once(make_settings: MakeSettings, engine_name: str) -> None:
    settings = make_settings(engine_name, worker_poll_s=0.01)
    asking = Operations(settings)
    pending = [asking.send(WRITE_OFF, actor=WRITE_OFF_ASKS).pending[0] for _ in range(THREADS)]
    stock_before = _on_hand(asking)
    workers = [Worker(settings, worker_id=f"w{n}") for n in (1, 2)]
    stop = threading.Event()
    running = [threading.Thread(target=worker.run, args=(stop,)) for worker in workers]
    for thread in running:
        thread.start()
    voting = Operations(settings)  # an API server of its own
    try:
        for request in pending:
            outcome = voting.vote(request.id, voter=WRITE_OFF_APPROVES, approve=True, channel="api")
            assert outcome.can_resume
        deadline = time.monotonic() + 120
        while _resumes_open(voting):
            assert time.monotonic() < deadline, "the workers did not finish"
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in running:
            thread.join(timeout=60)

    threads = {request.thread_id for request in pending}
    writes = [
        e
        for e in voting.executions(limit=1000)
        if e.tool == "inventory_adjust_stock" and not e.key.startswith("notify:")
    ]
    assert sorted(e.thread_id or "" for e in writes) == sorted(threads)  # one per thread, no more
    assert all(e.status is ExecutionStatus.COMPLETED for e in writes)
    answers = Counter(e.thread_id for e in voting.audit_events(kinds=["response"]))
    assert answers == Counter({thread: 1 for thread in threads})
    assert voting.audit_events(kinds=["error", "work_dead"]) == []
    assert _on_hand(voting) == stock_before - QUANTITY * THREADS  # the backend saw each write once
    assert voting.verify().ok
    assert voting.stores.work.leased() == [] and voting.stores.work.dead() == []
