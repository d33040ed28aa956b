"""What an approval authorises: one proposal, found only by the call and stage that made it, used once.

A request is keyed by (thread, tool call id, stage); the stage is set by the agent ("plan", or a
re-check's stage), never by the model. Asking again under a key returns the stored request only for
the same tool and the same proposed arguments. An approved request is consumed by exactly one
execution key for exactly its digest. Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from governance.approvals import ApprovalStatus, ApprovalStore, ApprovalUnusable, RequestKeyTaken
from governance.audit import AuditLog
from governance.store import SchemaOutdated
from tests.governance.test_approvals import GRACE, World, new_world, open_stores, po
from tests.pg.engines import OpenEngine

T0 = datetime(2026, 11, 20, 12, tzinfo=UTC)


@pytest.fixture
def world(open_engine: OpenEngine) -> World:
    """The approvals suite's world, on SQLite and on PostgreSQL."""
    return new_world(open_engine)


def test_the_same_call_id_at_another_stage_is_another_request(world: World) -> None:
    planned = world.ask(po(600.0))
    rechecked = world.ask(po(600.0), stage="recheck-abc")

    assert planned.id != rechecked.id
    assert (planned.stage, rechecked.stage) == ("plan", "recheck-abc")
    assert world.ask(po(600.0), stage="recheck-abc") == rechecked


def test_a_key_never_returns_a_request_for_other_arguments_or_another_tool(world: World) -> None:
    request = world.ask(po(600.0))

    with pytest.raises(RequestKeyTaken, match="other arguments"):
        world.ask(po(27_000.0))  # a model reusing the id with a bigger order
    assert [r.args for r in world.store.for_thread("t-1")] == [request.args]
    assert len(world.events("approval_requested")) == 1


def test_an_approval_is_consumed_by_one_execution_only(world: World) -> None:
    request = world.ask(po(600.0))
    world.vote(request.id, GRACE)

    used = world.store.consume(request.id, execution_key="exec-1", args_digest=request.args_digest)
    again = world.store.consume(request.id, execution_key="exec-1", args_digest=request.args_digest)

    assert used.consumed_by == again.consumed_by == "exec-1"  # a resume of the same execution
    with pytest.raises(ApprovalUnusable, match="already used by execution exec-1"):
        world.store.consume(request.id, execution_key="exec-2", args_digest=request.args_digest)
    assert world.store.get(request.id).consumed_by == "exec-1"  # type: ignore[union-attr]


def test_an_approval_cannot_be_used_for_other_arguments_or_before_it_is_approved(world: World) -> None:
    request = world.ask(po(600.0))

    with pytest.raises(ApprovalUnusable, match="is pending, not approved"):
        world.store.consume(request.id, execution_key="exec-1", args_digest=request.args_digest)
    world.vote(request.id, GRACE)
    other = world.ask(po(700.0), call="call-2")
    with pytest.raises(ApprovalUnusable, match="other arguments"):
        world.store.consume(request.id, execution_key="exec-1", args_digest=other.args_digest)
    with pytest.raises(ApprovalUnusable, match="no approval request"):
        world.store.consume("APR-00000000", execution_key="exec-1", args_digest=request.args_digest)
    assert world.store.get(request.id).consumed_by is None  # type: ignore[union-attr]


def test_executions_racing_for_one_approval_from_other_processes_get_it_once(world: World) -> None:
    request = world.ask(po(600.0))
    world.vote(request.id, GRACE)
    stores = [open_stores(world.open_engine(), world.clock)[1] for _ in range(4)]
    start = threading.Barrier(len(stores), timeout=60)
    won: list[str] = []

    def use(store: ApprovalStore, n: int) -> None:
        start.wait()
        try:
            store.consume(request.id, execution_key=f"exec-{n}", args_digest=request.args_digest)
        except ApprovalUnusable:
            return
        won.append(f"exec-{n}")

    threads = [threading.Thread(target=use, args=(store, n)) for n, store in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(won) == 1
    assert world.store.get(request.id).consumed_by == won[0]  # type: ignore[union-attr]
    assert world.store.get(request.id).status is ApprovalStatus.APPROVED  # type: ignore[union-attr]


def test_a_table_from_an_older_version_is_named_at_start(open_engine: OpenEngine) -> None:
    engine = open_engine()
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE approval_requests (id VARCHAR(32) PRIMARY KEY)")

    with pytest.raises(SchemaOutdated, match=r"approval_requests.*lacks the column\(s\) thread_id"):
        ApprovalStore(engine, audit=AuditLog(engine), clock=lambda: T0)
