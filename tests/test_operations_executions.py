"""Operations.executions for someone who may see only some threads: one read of the ledger.

Pins: for a person who is neither an auditor nor a settler, the executions of the threads they may see
are the same, newest first and page by page, as reading the ledger thread by thread and merging, and
the ledger is read with one statement however many threads they have.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event

from agent.operations import Operations
from agent.settings import Settings
from governance.executions import ExecutionRecord

QUESTIONS = (
    "how many SSD-1TB-NVME do we have at AMS-1?",
    "move 10 SSD-1TB-NVME from AMS-1 to BER-2",
    "how many MON-27-4K do we have at BER-2?",
)


@pytest.fixture
def ops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Operations:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    return Operations(Settings(home=tmp_path / "home", grounding=False, _env_file=None))


@contextmanager
def _ledger_reads() -> Iterator[list[str]]:
    """Statements that read the executions table, on any engine, while the block runs."""
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "FROM executions" in statement:
            seen.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", count)


def _thread_by_thread(ops: Operations, threads: list[str], limit: int) -> list[ExecutionRecord]:
    """How the service read them before: one ledger read per thread, merged newest first."""
    found = [r for t in sorted(threads) for r in ops.stores.executions.list(thread_id=t, limit=limit)]
    found.sort(key=lambda r: r.key)
    found.sort(key=lambda r: r.started_at, reverse=True)
    return found[:limit]


def test_executions_of_the_threads_someone_may_see_are_one_ledger_read(ops: Operations) -> None:
    alices = [ops.send(text, actor="alice.requester").thread_id for text in QUESTIONS]
    ops.send(QUESTIONS[0], actor="bob.requester")  # not hers: never shown to her
    assert not ops.is_auditor("alice.requester") and not ops.may_settle("alice.requester")

    for limit in (1, 2, 50):
        with _ledger_reads() as reads:
            shown = ops.executions(visible_to="alice.requester", limit=limit)
        assert shown == _thread_by_thread(ops, alices, limit)
        assert len(reads) == 1

    assert len(ops.executions(visible_to="alice.requester")) == len(QUESTIONS)
    with _ledger_reads() as reads:
        one = ops.executions(visible_to="alice.requester", thread=alices[1])
    assert one == _thread_by_thread(ops, alices[1:2], 50) and len(reads) == 1
