"""Creating the governance tables: processes starting together on a new database, on each engine."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from sqlalchemy import Engine, inspect

from governance.approvals import ApprovalStore
from governance.audit import AuditLog
from governance.executions import ExecutionLedger
from governance.usage import SqlUsageLedger
from tests.pg.engines import OpenEngine


def _open_all(engine: Engine) -> None:
    audit = AuditLog(engine)
    ExecutionLedger(engine, clock=lambda: datetime.now(UTC))
    SqlUsageLedger(engine)
    ApprovalStore(engine, audit=audit, clock=lambda: datetime.now(UTC))


def test_stores_opened_at_once_by_several_processes_create_each_table_once(
    open_engine: OpenEngine,
) -> None:
    """CREATE TABLE IF NOT EXISTS alone lets two sessions both create; the second then fails."""
    engines = [open_engine() for _ in range(6)]
    start = threading.Barrier(len(engines))
    errors: list[Exception] = []

    def open_stores(engine: Engine) -> None:
        start.wait(timeout=60)
        try:
            _open_all(engine)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_stores, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert set(inspect(engines[0]).get_table_names()) == {
        "audit_events",
        "executions",
        "usage_events",
        "approval_requests",
        "approval_votes",
        "approval_nudges",
    }
