"""Opening and resetting the local systems' SQLite file."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, func, select

from tools.local.engine import local_engine, writing
from tools.local.inventory import LocalInventory
from tools.local.itsm import LocalITSM
from tools.local.procurement import LocalProcurement
from tools.local.schema import metadata, users
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


def _is_empty(conn: Connection) -> bool:
    return conn.execute(select(func.count()).select_from(users)).scalar_one() == 0
