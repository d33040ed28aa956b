"""A thread keeps only its latest checkpoint: each turn deletes what that one supersedes.

Pins: after a turn that waits for approval, after its resume and after a later turn, the thread has one
checkpoint and only that checkpoint's writes, and it still resumes, runs the approved call once and
shows its whole conversation; other threads are left alone; ``keep_checkpoint_history`` keeps them all;
a deletion that fails leaves the turn answered and the next turn deletes what it left.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import agent.run.session
from agent.operations import Operations
from agent.settings import Settings
from governance.executions import ExecutionStatus

WRITE_OFF = "write off 3 damaged MON-27-4K at AMS-1"


def _ops(home: Path, *, keep_history: bool = False) -> Operations:
    settings = Settings(home=home, grounding=False, keep_checkpoint_history=keep_history, _env_file=None)
    return Operations(settings)


def _rows(home: Path, table: str, thread: str) -> list[str]:
    with sqlite3.connect(home / "checkpoints.db") as conn:
        query = f"SELECT checkpoint_id FROM {table} WHERE thread_id = ?"
        return [row[0] for row in conn.execute(query, (thread,))]


def _only_latest(home: Path, thread: str) -> bool:
    [latest] = _rows(home, "checkpoints", thread)
    return all(checkpoint == latest for checkpoint in _rows(home, "writes", thread))


def test_a_thread_keeps_only_its_latest_checkpoint_and_still_resumes(tmp_path: Path) -> None:
    ops = _ops(tmp_path)
    other = ops.send("what is the stock of MON-27-4K at AMS-1?", actor="carol.desk")
    other_rows = _rows(tmp_path, "checkpoints", other.thread_id)

    waiting = ops.send(WRITE_OFF, actor="carol.desk")
    [request] = waiting.pending
    assert _only_latest(tmp_path, waiting.thread_id)
    assert _rows(tmp_path, "writes", waiting.thread_id)  # the interrupt it waits at is kept

    ops.vote(request.id, voter="frank.warehouse", approve=True, channel="test")
    resumed = ops.resume(waiting.thread_id)
    assert resumed.answer and _only_latest(tmp_path, waiting.thread_id)

    later = ops.send("what is the stock of MON-27-4K at AMS-1?", actor="carol.desk", thread=waiting.thread_id)
    assert later.answer and _only_latest(tmp_path, waiting.thread_id)
    [execution] = [e for e in ops.executions(thread=waiting.thread_id) if e.tool == "inventory_adjust_stock"]
    assert execution.status is ExecutionStatus.COMPLETED
    asked = [m["content"] for m in ops.thread(waiting.thread_id).messages if m["role"] == "human"]
    assert asked == [WRITE_OFF, "what is the stock of MON-27-4K at AMS-1?"]
    assert _rows(tmp_path, "checkpoints", other.thread_id) == other_rows


def test_keep_checkpoint_history_keeps_every_checkpoint(tmp_path: Path) -> None:
    ops = _ops(tmp_path, keep_history=True)

    turn = ops.send("what is the stock of MON-27-4K at AMS-1?", actor="carol.desk")

    assert len(_rows(tmp_path, "checkpoints", turn.thread_id)) > 1


def test_a_failed_deletion_leaves_the_turn_answered_and_the_next_turn_deletes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    ops = _ops(tmp_path)

    def broken(checkpointer: object, thread_id: str) -> None:
        raise sqlite3.OperationalError("database is locked")

    with monkeypatch.context() as patched:
        patched.setattr(agent.run.session, "forget_superseded", broken)
        first = ops.send("what is the stock of MON-27-4K at AMS-1?", actor="carol.desk")
    assert first.answer and len(_rows(tmp_path, "checkpoints", first.thread_id)) > 1
    assert f"superseded checkpoints of thread {first.thread_id}" in caplog.text

    second = ops.send("what is the stock of MON-27-4K at AMS-1?", actor="carol.desk", thread=first.thread_id)

    assert second.answer and _only_latest(tmp_path, first.thread_id)
