"""Tables of the local reference systems (ITSM, inventory, procurement) in one SQLite file.

Money that is added up (order totals, budgets, commitments) is stored in integer cents so a
budget check is exact; unit prices are informational floats.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out; stored as naive UTC (naive input is taken as UTC)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None or value.tzinfo is None:
            return value
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def cents(amount: float) -> int:
    return round(amount * 100)


def euros(amount_cents: int) -> float:
    return amount_cents / 100


metadata = MetaData()


def _key() -> Column[str]:
    """An optional idempotency key: a second create with the same key finds the first record."""
    return Column("idempotency_key", String(200), unique=True)


def _user(name: str, *, nullable: bool = False) -> Column[str]:
    return Column(name, String(64), ForeignKey("users.id"), nullable=nullable)


users = Table(
    "users",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("display_name", String(120), nullable=False),
    Column("roles", String(200), nullable=False),  # space-separated role names
    Column("manager", String(64)),
)

configuration_items = Table(
    "configuration_items",
    metadata,
    Column("name", String(120), primary_key=True),
    Column("ci_class", String(20), nullable=False),
    Column("environment", String(20), nullable=False),
    _user("owner"),
    Column("support_group", String(120), nullable=False),
    Column("description", Text, nullable=False, default=""),
)

ci_dependencies = Table(
    "ci_dependencies",
    metadata,
    Column("ci", String(120), ForeignKey("configuration_items.name"), primary_key=True),
    Column("depends_on", String(120), ForeignKey("configuration_items.name"), primary_key=True),
    Column("position", Integer, nullable=False),
)

incidents = Table(
    "incidents",
    metadata,
    Column("number", String(20), primary_key=True),
    Column("short_description", String(160), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("priority", Integer, CheckConstraint("priority BETWEEN 1 AND 4"), nullable=False),
    Column("state", String(20), nullable=False),
    Column("service", String(120)),
    Column("ci", String(120), ForeignKey("configuration_items.name")),
    Column("assignment_group", String(120)),
    _user("assigned_to", nullable=True),
    _user("caller"),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("resolved_at", UtcDateTime),
    _user("resolved_by", nullable=True),
    Column("resolution_code", String(60)),
    Column("resolution_notes", Text),
    _key(),
)

work_notes = Table(
    "work_notes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident", String(20), ForeignKey("incidents.number"), nullable=False, index=True),
    _user("author"),
    Column("at", UtcDateTime, nullable=False),
    Column("text", Text, nullable=False),
)

changes = Table(
    "changes",
    metadata,
    Column("number", String(20), primary_key=True),
    Column("short_description", String(160), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("ci", String(120), ForeignKey("configuration_items.name"), nullable=False),
    Column("risk", String(20), nullable=False),
    Column("state", String(20), nullable=False),
    _user("requested_by"),
    Column("planned_start", UtcDateTime),
    Column("planned_end", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    _key(),
)

warehouses = Table(
    "warehouses",
    metadata,
    Column("code", String(10), primary_key=True),
    Column("name", String(120), nullable=False),
    Column("city", String(60), nullable=False),
)

items = Table(
    "items",
    metadata,
    Column("sku", String(40), primary_key=True),
    Column("name", String(160), nullable=False),
    Column("category", String(60), nullable=False),
    Column("unit", String(20), nullable=False),
    Column("unit_cost", Float, nullable=False),
)

stock = Table(
    "stock",
    metadata,
    Column("sku", String(40), ForeignKey("items.sku"), primary_key=True),
    Column("warehouse", String(10), ForeignKey("warehouses.code"), primary_key=True),
    Column("on_hand", Integer, nullable=False),
    Column("reserved", Integer, nullable=False, default=0),
    Column("reorder_point", Integer, nullable=False, default=0),
    CheckConstraint("reserved >= 0 AND reserved <= on_hand", name="reserved_within_on_hand"),
    CheckConstraint("reorder_point >= 0", name="reorder_point_not_negative"),
)


def _movement(name: str, *columns: Column[Any]) -> Table:
    return Table(
        name,
        metadata,
        Column("id", String(20), primary_key=True),
        Column("sku", String(40), ForeignKey("items.sku"), nullable=False),
        *columns,
        Column("created_at", UtcDateTime, nullable=False),
        _key(),
    )


reservations = _movement(
    "reservations",
    Column("warehouse", String(10), ForeignKey("warehouses.code"), nullable=False),
    Column("quantity", Integer, CheckConstraint("quantity > 0"), nullable=False),
    Column("reference", String(120), nullable=False),
)

transfers = _movement(
    "transfers",
    Column("from_warehouse", String(10), ForeignKey("warehouses.code"), nullable=False),
    Column("to_warehouse", String(10), ForeignKey("warehouses.code"), nullable=False),
    Column("quantity", Integer, CheckConstraint("quantity > 0"), nullable=False),
    Column("reason", Text, nullable=False, default=""),
)

adjustments = _movement(
    "adjustments",
    Column("warehouse", String(10), ForeignKey("warehouses.code"), nullable=False),
    Column("delta", Integer, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("reason", Text, nullable=False),
    Column("on_hand_after", Integer, nullable=False),
)

suppliers = Table(
    "suppliers",
    metadata,
    Column("id", String(20), primary_key=True),
    Column("name", String(160), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("lead_time_days", Integer, nullable=False),
    Column("active", Boolean, nullable=False),
)

catalogue = Table(
    "catalogue",
    metadata,
    Column("supplier_id", String(20), ForeignKey("suppliers.id"), primary_key=True),
    Column("sku", String(40), ForeignKey("items.sku"), primary_key=True),
    Column("description", String(200), nullable=False),
    Column("unit_price", Float, nullable=False),
    Column("lead_time_days", Integer, nullable=False),
)

cost_centres = Table(
    "cost_centres",
    metadata,
    Column("code", String(30), primary_key=True),
    Column("name", String(120), nullable=False),
    Column("budget_cents", Integer, nullable=False),
    Column("committed_cents", Integer, nullable=False),
    CheckConstraint("committed_cents >= 0 AND committed_cents <= budget_cents", name="within_budget"),
)


def _order(name: str, *columns: Column[Any]) -> Table:
    return Table(
        name,
        metadata,
        Column("number", String(20), primary_key=True),
        Column("cost_centre", String(30), ForeignKey("cost_centres.code"), nullable=False),
        _user("requester"),
        Column("total_cents", Integer, nullable=False),
        Column("state", String(20), nullable=False),
        Column("created_at", UtcDateTime, nullable=False),
        *columns,
        _key(),
    )


def _lines(name: str, parent: str) -> Table:
    return Table(
        name,
        metadata,
        Column("document", String(20), ForeignKey(f"{parent}.number"), primary_key=True),
        Column("line_no", Integer, primary_key=True),
        Column("sku", String(40), ForeignKey("items.sku"), nullable=False),
        Column("quantity", Integer, CheckConstraint("quantity > 0"), nullable=False),
        Column("unit_price", Float, nullable=False),
    )


purchase_orders = _order(
    "purchase_orders",
    Column("supplier_id", String(20), ForeignKey("suppliers.id"), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("cancel_reason", Text),
)
po_lines = _lines("po_lines", "purchase_orders")

requisitions = _order("requisitions", Column("justification", Text, nullable=False))
requisition_lines = _lines("requisition_lines", "requisitions")

sequences = Table(
    "sequences",
    metadata,
    Column("name", String(20), primary_key=True),
    Column("value", Integer, nullable=False),
)
