"""InventoryBackend on the local SQLite file: items, stock per warehouse, reservations, moves.

Every movement is one transaction whose stock change is a guarded ``UPDATE`` (the guard is the
availability check itself), so two concurrent movements can never take the same units.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Row, Table, Update, func, insert, select, update

from tools.checks import require_positive, require_text
from tools.errors import Conflict, InsufficientStock, InvalidArguments, NotFound, UnknownSku
from tools.local.engine import reading, writing
from tools.local.numbering import movement_id
from tools.local.queries import find_by_key, text_filter
from tools.local.schema import adjustments, items, reservations, stock, transfers, warehouses
from tools.models import (
    Adjustment,
    AdjustmentKind,
    Item,
    Reservation,
    StockLevel,
    Transfer,
    Warehouse,
)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class LocalInventory:
    """Warehouses, items and stock levels; stock is never negative and never over-reserved."""

    def __init__(self, engine: Engine, *, now: Callable[[], datetime] | None = None) -> None:
        self._engine = engine
        self._now = now or _utcnow

    def list_warehouses(self) -> list[Warehouse]:
        with reading(self._engine) as conn:
            rows = conn.execute(select(warehouses).order_by(warehouses.c.code))
            return [Warehouse(**row._asdict()) for row in rows]

    def search_items(
        self, *, text: str | None = None, category: str | None = None, limit: int = 20
    ) -> list[Item]:
        query = select(items).where(text_filter(text, (items.c.sku, items.c.name, items.c.category)))
        if category is not None:
            query = query.where(func.lower(items.c.category) == category.lower())
        with reading(self._engine) as conn:
            rows = conn.execute(query.order_by(items.c.sku).limit(max(limit, 0)))
            return [Item(**row._asdict()) for row in rows]

    def get_item(self, sku: str) -> Item:
        with reading(self._engine) as conn:
            return Item(**_item_row(conn, sku)._asdict())

    def get_stock(self, sku: str, warehouse: str | None = None) -> list[StockLevel]:
        """Levels of ``sku`` in every warehouse holding it, or in ``warehouse`` (zero if it holds none)."""
        with reading(self._engine) as conn:
            _item_row(conn, sku)
            if warehouse is None:
                rows = conn.execute(select(stock).where(stock.c.sku == sku).order_by(stock.c.warehouse))
                return [StockLevel(**row._asdict()) for row in rows]
            _require_warehouse(conn, warehouse)
            return [_level(conn, sku, warehouse)]

    def reserve_stock(
        self, sku: str, warehouse: str, quantity: int, *, reference: str, idempotency_key: str | None = None
    ) -> Reservation:
        require_positive("reserve_stock", quantity=quantity)
        require_text("reserve_stock", reference=reference)
        with writing(self._engine) as conn:
            if earlier := find_by_key(conn, reservations, idempotency_key):
                return _reservation(earlier)
            _require_place(conn, sku, warehouse)
            _take(conn, sku, warehouse, quantity, reserved=stock.c.reserved + quantity)
            record = {"sku": sku, "warehouse": warehouse, "quantity": quantity, "reference": reference}
            ident = self._record(conn, reservations, "RES", record, idempotency_key)
            return Reservation(id=ident, **record)

    def transfer_stock(
        self,
        sku: str,
        from_warehouse: str,
        to_warehouse: str,
        quantity: int,
        *,
        reason: str = "",
        idempotency_key: str | None = None,
    ) -> Transfer:
        require_positive("transfer_stock", quantity=quantity)
        if from_warehouse == to_warehouse:
            raise Conflict(f"a transfer needs two different warehouses; both are {from_warehouse}")
        with writing(self._engine) as conn:
            if earlier := find_by_key(conn, transfers, idempotency_key):
                return _transfer(earlier)
            _require_place(conn, sku, from_warehouse)
            _require_warehouse(conn, to_warehouse)
            _take(conn, sku, from_warehouse, quantity, on_hand=stock.c.on_hand - quantity)
            _receive(conn, sku, to_warehouse, quantity)
            record = {
                "sku": sku,
                "from_warehouse": from_warehouse,
                "to_warehouse": to_warehouse,
                "quantity": quantity,
                "reason": reason,
            }
            return Transfer(id=self._record(conn, transfers, "TRF", record, idempotency_key), **record)

    def adjust_stock(
        self,
        sku: str,
        warehouse: str,
        delta: int,
        *,
        kind: AdjustmentKind,
        reason: str,
        idempotency_key: str | None = None,
    ) -> Adjustment:
        _check_adjustment(delta, AdjustmentKind(kind))
        require_text("adjust_stock", reason=reason)
        with writing(self._engine) as conn:
            if earlier := find_by_key(conn, adjustments, idempotency_key):
                return _adjustment(earlier)
            _require_place(conn, sku, warehouse)
            if delta < 0:
                _take(conn, sku, warehouse, -delta, on_hand=stock.c.on_hand + delta)
            else:
                _receive(conn, sku, warehouse, delta)
            after = _level(conn, sku, warehouse).on_hand
            record = {
                "sku": sku,
                "warehouse": warehouse,
                "delta": delta,
                "kind": AdjustmentKind(kind).value,
                "reason": reason,
                "on_hand_after": after,
            }
            return Adjustment(id=self._record(conn, adjustments, "ADJ", record, idempotency_key), **record)

    def set_reorder_point(self, sku: str, warehouse: str, reorder_point: int) -> StockLevel:
        if reorder_point < 0:
            raise InvalidArguments("set_reorder_point", ["reorder_point must be 0 or more"])
        with writing(self._engine) as conn:
            _require_place(conn, sku, warehouse)
            changed = conn.execute(_stock_update(sku, warehouse).values(reorder_point=reorder_point))
            if changed.rowcount == 0:
                conn.execute(
                    insert(stock).values(sku=sku, warehouse=warehouse, on_hand=0, reorder_point=reorder_point)
                )
            return _level(conn, sku, warehouse)

    def _record(
        self, conn: Connection, table: Table, prefix: str, record: dict[str, Any], key: str | None
    ) -> str:
        """Insert a movement record under a fresh id and return the id."""
        ident = movement_id(conn, prefix)
        conn.execute(insert(table).values(id=ident, **record, created_at=self._now(), idempotency_key=key))
        return ident


def _check_adjustment(delta: int, kind: AdjustmentKind) -> None:
    if delta == 0:
        raise InvalidArguments("adjust_stock", ["delta must not be 0"])
    if kind is AdjustmentKind.WRITE_OFF and delta > 0:
        raise Conflict(f"a write-off removes stock, so its delta must be negative (got {delta})")


def _stock_update(sku: str, warehouse: str) -> Update:
    return update(stock).where(stock.c.sku == sku, stock.c.warehouse == warehouse)


def _take(conn: Connection, sku: str, warehouse: str, quantity: int, **values: ColumnElement[int]) -> None:
    """Apply ``values`` only if ``quantity`` unreserved units are there; else raise, changing nothing."""
    guarded = _stock_update(sku, warehouse).where(stock.c.on_hand - stock.c.reserved >= quantity)
    if conn.execute(guarded.values(**values)).rowcount == 0:
        raise InsufficientStock(sku, warehouse, quantity, _level(conn, sku, warehouse).available)


def _receive(conn: Connection, sku: str, warehouse: str, quantity: int) -> None:
    """Add units, creating the stock row the first time a warehouse holds this SKU."""
    added = conn.execute(_stock_update(sku, warehouse).values(on_hand=stock.c.on_hand + quantity))
    if added.rowcount == 0:
        conn.execute(insert(stock).values(sku=sku, warehouse=warehouse, on_hand=quantity))


def _level(conn: Connection, sku: str, warehouse: str) -> StockLevel:
    row = conn.execute(select(stock).where(stock.c.sku == sku, stock.c.warehouse == warehouse)).first()
    if row is None:
        return StockLevel(sku=sku, warehouse=warehouse, on_hand=0, reserved=0, reorder_point=0)
    return StockLevel(**row._asdict())


def _item_row(conn: Connection, sku: str) -> Row[Any]:
    row = conn.execute(select(items).where(items.c.sku == sku)).first()
    if row is None:
        raise UnknownSku(sku)
    return row


def _require_warehouse(conn: Connection, code: str) -> None:
    if conn.execute(select(warehouses.c.code).where(warehouses.c.code == code)).first() is None:
        raise NotFound("warehouse", code)


def _require_place(conn: Connection, sku: str, warehouse: str) -> None:
    _item_row(conn, sku)
    _require_warehouse(conn, warehouse)


def _reservation(row: Row[Any]) -> Reservation:
    return Reservation(**_without_bookkeeping(row))


def _transfer(row: Row[Any]) -> Transfer:
    return Transfer(**_without_bookkeeping(row))


def _adjustment(row: Row[Any]) -> Adjustment:
    return Adjustment(**_without_bookkeeping(row))


def _without_bookkeeping(row: Row[Any]) -> dict[str, Any]:
    fields = row._asdict()
    del fields["created_at"], fields["idempotency_key"]
    return fields
