"""Opening and resetting the local systems' SQLite file."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, func, select, update

from tools.local.engine import local_engine, writing
from tools.local.inventory import LocalInventory
from tools.local.itsm import LocalITSM
from tools.local.procurement import LocalProcurement
from tools.local.schema import cost_centres, metadata, users
from tools.local.seed import SeedSummary, seed
from tools.spec import Systems


def open_local_systems(path: Path, *, now: Callable[[], datetime] | None = None) -> Systems:
    """The local ITSM, inventory and procurement systems on ``path``, created and seeded on first use."""
    engine = local_engine(path)
    with writing(engine) as conn:
        metadata.create_all(conn)
        if _is_empty(conn):
            seed(conn)
    return Systems(
        itsm=LocalITSM(engine, now=now),
        inventory=LocalInventory(engine, now=now),
        procurement=LocalProcurement(engine, now=now),
    )


def reset_local_systems(path: Path) -> SeedSummary:
    """Drop every table of the local systems on ``path`` and seed them afresh."""
    engine = local_engine(path)
    try:
        with writing(engine) as conn:
            metadata.drop_all(conn)
            metadata.create_all(conn)
            return seed(conn)
    finally:
        engine.dispose()


def add_budget(path: Path, cost_centre: str, cents: int) -> None:
    """Give ``cost_centre`` of the local systems on ``path`` ``cents`` more budget: room for a test's or a
    benchmark's many orders, which the shipped policy denies once a cost centre has too little left."""
    engine = local_engine(path)
    try:
        with writing(engine) as conn:
            raised = cost_centres.c.budget_cents + cents
            conn.execute(
                update(cost_centres).where(cost_centres.c.code == cost_centre).values(budget_cents=raised)
            )
    finally:
        engine.dispose()


def _is_empty(conn: Connection) -> bool:
    return conn.execute(select(func.count()).select_from(users)).scalar_one() == 0
