"""Writes the seeded demo data into empty tables, and counts what is there."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, Table, func, insert, select

from tools.local import schema
from tools.local.numbering import counter_of
from tools.local.seed_changes import SEED_CHANGES
from tools.local.seed_incidents_closed import CLOSED_INCIDENTS
from tools.local.seed_incidents_recent import RECENT_INCIDENTS
from tools.local.seed_items import SEED_ITEMS, SEED_WAREHOUSES
from tools.local.seed_orders import SEED_COST_CENTRES, SEED_PURCHASE_ORDERS
from tools.local.seed_people import SEED_CIS, SEED_MANAGERS, SEED_USERS
from tools.local.seed_stock import SEED_RESERVATIONS, SEED_STOCK
from tools.local.seed_supply import SEED_CATALOGUE, SEED_SUPPLIERS
from tools.models import Incident, PurchaseOrder

SEED_INCIDENTS: tuple[Incident, ...] = CLOSED_INCIDENTS + RECENT_INCIDENTS


class SeedSummary(BaseModel):
    """How many rows each seeded table holds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    incidents: int
    changes: int
    cis: int
    skus: int
    warehouses: int
    stock_rows: int
    suppliers: int
    catalogue_entries: int
    purchase_orders: int
    cost_centres: int
    users: int


def seed(conn: Connection) -> SeedSummary:
    """Insert the demo data into empty tables (inside the caller's transaction)."""
    _seed_people(conn)
    _seed_itsm(conn)
    _seed_inventory(conn)
    _seed_procurement(conn)
    _seed_counters(conn)
    return summarise(conn)


def summarise(conn: Connection) -> SeedSummary:
    def count(table: Table) -> int:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

    return SeedSummary(
        incidents=count(schema.incidents),
        changes=count(schema.changes),
        cis=count(schema.configuration_items),
        skus=count(schema.items),
        warehouses=count(schema.warehouses),
        stock_rows=count(schema.stock),
        suppliers=count(schema.suppliers),
        catalogue_entries=count(schema.catalogue),
        purchase_orders=count(schema.purchase_orders),
        cost_centres=count(schema.cost_centres),
        users=count(schema.users),
    )


def _insert(conn: Connection, table: Table, rows: Iterable[dict[str, Any]]) -> None:
    batch = list(rows)
    if batch:
        conn.execute(insert(table), batch)


def _seed_people(conn: Connection) -> None:
    _insert(
        conn,
        schema.users,
        ({"id": uid, "display_name": name, "roles": " ".join(roles), "manager": SEED_MANAGERS[uid]}
         for uid, name, roles in SEED_USERS),
    )  # fmt: skip
    _insert(conn, schema.configuration_items, (ci.model_dump(exclude={"depends_on"}) for ci in SEED_CIS))
    _insert(
        conn,
        schema.ci_dependencies,
        ({"ci": ci.name, "depends_on": name, "position": n}
         for ci in SEED_CIS for n, name in enumerate(ci.depends_on)),
    )  # fmt: skip


def _seed_itsm(conn: Connection) -> None:
    _insert(conn, schema.incidents, (_incident_row(incident) for incident in SEED_INCIDENTS))
    _insert(
        conn,
        schema.work_notes,
        ({"incident": incident.number, **note.model_dump()}
         for incident in SEED_INCIDENTS for note in incident.work_notes),
    )  # fmt: skip
    _insert(
        conn, schema.changes, ({**s.change.model_dump(), "created_at": s.created_at} for s in SEED_CHANGES)
    )


def _incident_row(incident: Incident) -> dict[str, Any]:
    # Whoever had the incident assigned resolved it.
    resolved_by = incident.assigned_to if incident.resolved_at else None
    return {**incident.model_dump(exclude={"work_notes"}), "resolved_by": resolved_by}


def _seed_inventory(conn: Connection) -> None:
    _insert(conn, schema.warehouses, (warehouse.model_dump() for warehouse in SEED_WAREHOUSES))
    _insert(conn, schema.items, (item.model_dump() for item in SEED_ITEMS))
    _insert(conn, schema.stock, (level.model_dump(exclude={"available"}) for level in SEED_STOCK))
    _insert(
        conn,
        schema.reservations,
        ({**s.reservation.model_dump(), "created_at": s.created_at} for s in SEED_RESERVATIONS),
    )


def _seed_procurement(conn: Connection) -> None:
    _insert(conn, schema.suppliers, (supplier.model_dump() for supplier in SEED_SUPPLIERS))
    _insert(conn, schema.catalogue, (entry.model_dump() for entry in SEED_CATALOGUE))
    _insert(
        conn,
        schema.cost_centres,
        ({"code": c.code, "name": c.name, "budget_cents": schema.cents(c.budget),
          "committed_cents": schema.cents(c.committed)} for c in SEED_COST_CENTRES),
    )  # fmt: skip
    _insert(conn, schema.purchase_orders, (_order_row(order) for order in SEED_PURCHASE_ORDERS))
    _insert(
        conn,
        schema.po_lines,
        ({"document": order.number, "line_no": n, **line.model_dump(exclude={"line_total"})}
         for order in SEED_PURCHASE_ORDERS for n, line in enumerate(order.lines, 1)),
    )  # fmt: skip


def _order_row(order: PurchaseOrder) -> dict[str, Any]:
    fields = order.model_dump(exclude={"lines", "total_amount"})
    return {**fields, "total_cents": schema.cents(order.total_amount)}


def _seed_counters(conn: Connection) -> None:
    """Start each number sequence after the highest seeded number."""
    numbers = [
        *(incident.number for incident in SEED_INCIDENTS),
        *(s.change.number for s in SEED_CHANGES),
        *(order.number for order in SEED_PURCHASE_ORDERS),
        *(s.reservation.id for s in SEED_RESERVATIONS),
    ]
    counters: dict[str, int] = {}
    for name, value in map(counter_of, numbers):
        counters[name] = max(value, counters.get(name, 0))
    _insert(conn, schema.sequences, ({"name": name, "value": value} for name, value in counters.items()))
