"""``OPSLAYER_DATABASE_URL`` puts every store on PostgreSQL: a whole approval round trip runs there.

Pins: the governance stores and the LangGraph checkpoints live in the database the URL names (no
``governance.db`` or ``checkpoints.db`` is written under the home); a second process (another
``Operations``) sees the thread, its approvals and the audit chain; a plain ``postgresql://`` URL works.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, make_url

from agent.operations import Operations
from agent.settings import Settings
from agent.wiring import governance_engine
from governance.approvals import ApprovalStatus
from governance.executions import ExecutionStatus
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
