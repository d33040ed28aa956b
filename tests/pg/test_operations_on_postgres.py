"""``OPSLAYER_DATABASE_URL`` puts every store on PostgreSQL: a whole approval round trip runs there.

Pins: the governance stores and the LangGraph checkpoints live in the database the URL names (no
``governance.db`` or ``checkpoints.db`` is written under the home); a second process (another
``Operations``) sees the thread, its approvals and the audit chain; a plain ``postgresql://`` URL works;
a process opens no more connections than ``OPSLAYER_DATABASE_POOL_SIZE`` allows each of its two pools,
and closing the service gives them all back; each turn leaves a thread one checkpoint (the saver's
``keep_latest`` prune) and it still resumes.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import inspect, make_url, text

from agent.operations import Operations
from agent.settings import Settings
from agent.wiring import governance_engine
from governance.approvals import ApprovalStatus
from governance.executions import ExecutionStatus
from governance.store import engine_from_url
from tests.pg.server import Databases


def _settings(home: Path, url: str) -> Settings:
    return Settings(home=home, database_url=url, grounding=False, _env_file=None)


def test_an_approved_order_runs_once_with_every_store_on_postgres(
    tmp_path: Path, pg_databases: Databases
) -> None:
    url = pg_databases.create()
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    home = tmp_path / "home"
    asking = Operations(_settings(home, plain))

    turn = asking.send("order 40 laptops for the Berlin office", actor="alice.requester")
    [request] = turn.pending
    deciding = Operations(_settings(home, url))  # another process: nothing shared but the database
    deciding.vote(request.id, voter="grace.procure", approve=True, channel="api")
    outcome = deciding.vote(request.id, voter="heidi.finance", approve=True, channel="api")
    resuming = Operations(_settings(home, url))
    assert resuming.waiting_for(turn.thread_id) == [request.id]
    done = resuming.resume(turn.thread_id)

    assert outcome.can_resume and outcome.request.status is ApprovalStatus.APPROVED
    assert done.answer is not None and "PO-" in done.answer
    executions = resuming.executions(thread=turn.thread_id)
    [order] = [e for e in executions if e.tool == "procurement_create_purchase_order"]
    assert order.status is ExecutionStatus.COMPLETED
    assert resuming.verify().ok and resuming.head().seq == asking.head().seq
    assert not (home / "governance.db").exists() and not (home / "checkpoints.db").exists()
    tables = set(inspect(governance_engine(resuming.settings)).get_table_names())
    assert {"audit_events", "approval_requests", "executions", "checkpoints"} <= tables
    pg_databases.done(url)


def test_a_process_opens_at_most_its_pool_size_of_connections_and_threads_wait_for_one(
    tmp_path: Path, pg_databases: Databases
) -> None:
    url = pg_databases.create()
    settings = Settings(
        home=tmp_path, database_url=url, database_pool_size=2, grounding=False, _env_file=None
    )
    ops = Operations(settings)
    asks = ["write off 1 damaged MON-27-4K at AMS-1"] * 8  # 18 in stock

    with ThreadPoolExecutor(max_workers=8) as pool:  # more threads than connections
        turns = list(pool.map(lambda ask: ops.send(ask, actor="carol.desk", channel="api"), asks))
        requests = [turn.pending[0].id for turn in turns]
        votes = list(
            pool.map(lambda r: ops.vote(r, voter="frank.warehouse", approve=True, channel="api"), requests)
        )
        done = list(pool.map(lambda turn: ops.resume(turn.thread_id), turns))
        opened = _connections(url)

    assert all(vote.can_resume for vote in votes) and all(turn.answer for turn in done)
    completed = [e for e in ops.executions(limit=50) if e.status is ExecutionStatus.COMPLETED]
    assert sorted(e.tool for e in completed) == ["inventory_adjust_stock"] * 8 and ops.verify().ok
    assert opened <= 2 + 2  # the governance stores' pool and the checkpoints' pool
    ops.close()
    assert _connections(url) == 0  # every pool given back
    assert ops.send("How many 14-inch Pro laptops are in Amsterdam?", actor="carol.desk").answer  # reopens
    ops.close()
    pg_databases.done(url)


def test_each_turn_leaves_the_thread_one_checkpoint_on_postgres(
    tmp_path: Path, pg_databases: Databases
) -> None:
    url = pg_databases.create()
    ops = Operations(_settings(tmp_path, url))

    turn = ops.send("write off 3 damaged MON-27-4K at AMS-1", actor="carol.desk")
    waiting = _checkpoints(url, turn.thread_id)
    [request] = turn.pending
    ops.vote(request.id, voter="frank.warehouse", approve=True, channel="api")
    done = ops.resume(turn.thread_id)

    assert waiting == 1 and _checkpoints(url, turn.thread_id) == 1
    assert done.answer and [e.status for e in ops.executions(thread=turn.thread_id)] == [
        ExecutionStatus.COMPLETED
    ]
    ops.close()
    pg_databases.done(url)


def _checkpoints(url: str, thread: str) -> int:
    engine = engine_from_url(url)
    try:
        with engine.connect() as conn:
            query = text("SELECT count(*) FROM checkpoints WHERE thread_id = :thread")
            return int(conn.execute(query, {"thread": thread}).scalar_one())
    finally:
        engine.dispose()


def _connections(url: str) -> int:
    """Connections open to the test's database, other than the one counting them."""
    counting = engine_from_url(url)
    query = text("SELECT count(*) FROM pg_stat_activity WHERE datname = :db AND pid <> pg_backend_pid()")
    try:
        with counting.connect() as conn:
            return int(conn.execute(query, {"db": make_url(url).database}).scalar_one())
    finally:
        counting.dispose()
