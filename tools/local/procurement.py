"""ProcurementBackend on the local SQLite file: suppliers, catalogue, cost centres, requisitions, POs.

A purchase order commits its total to its cost centre when it is created and releases it when it
is cancelled; received orders stay committed (the money is spent). So a cost centre's
``committed`` is always the sum of its orders that are not cancelled.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, Table, Update, insert, select, update

from tools.checks import require_text, require_transition
from tools.errors import BudgetExceeded, Conflict, NotFound, UnknownSku, UnknownSupplier
from tools.local.engine import reading, writing
from tools.local.numbering import yearly_number
from tools.local.queries import find_by_key, require_user, text_filter
from tools.local.schema import (
    catalogue,
    cents,
    cost_centres,
    euros,
    items,
    po_lines,
    purchase_orders,
    requisition_lines,
    requisitions,
    suppliers,
)
from tools.models import (
    PO_TRANSITIONS,
    CatalogueEntry,
    CostCentre,
    NewPurchaseOrder,
    NewRequisition,
    OrderLine,
    POState,
    PurchaseOrder,
    Requisition,
    Supplier,
)

# A total may differ from the sum of its lines by rounding, never by more than a cent.
_TOLERANCE_CENTS = 1


def _utcnow() -> datetime:
    return datetime.now(UTC)


class LocalProcurement:
    """Suppliers and their catalogues, cost-centre budgets, requisitions and purchase orders."""

    def __init__(self, engine: Engine, *, now: Callable[[], datetime] | None = None) -> None:
        self._engine = engine
        self._now = now or _utcnow

    def search_suppliers(self, *, text: str | None = None, limit: int = 20) -> list[Supplier]:
        query = select(suppliers).where(text_filter(text, (suppliers.c.id, suppliers.c.name)))
        with reading(self._engine) as conn:
            rows = conn.execute(query.order_by(suppliers.c.id).limit(max(limit, 0)))
            return [Supplier(**row._asdict()) for row in rows]

    def get_supplier(self, supplier_id: str) -> Supplier:
        with reading(self._engine) as conn:
            return Supplier(**_supplier_row(conn, supplier_id)._asdict())

    def search_catalogue(
        self,
        *,
        text: str | None = None,
        sku: str | None = None,
        supplier_id: str | None = None,
        limit: int = 20,
    ) -> list[CatalogueEntry]:
        """Offers of active suppliers, cheapest first for each SKU."""
        searched = (catalogue.c.sku, catalogue.c.description, items.c.name, items.c.category)
        query = (
            select(catalogue)
            .join(items, items.c.sku == catalogue.c.sku)
            .join(suppliers, suppliers.c.id == catalogue.c.supplier_id)
            .where(suppliers.c.active, text_filter(text, searched))
        )
        if sku is not None:
            query = query.where(catalogue.c.sku == sku)
        if supplier_id is not None:
            query = query.where(catalogue.c.supplier_id == supplier_id)
        query = query.order_by(catalogue.c.sku, catalogue.c.unit_price, catalogue.c.supplier_id)
        with reading(self._engine) as conn:
            return [CatalogueEntry(**row._asdict()) for row in conn.execute(query.limit(max(limit, 0)))]

    def get_cost_centre(self, code: str) -> CostCentre:
        with reading(self._engine) as conn:
            return _cost_centre(_cost_centre_row(conn, code))

    def get_purchase_order(self, number: str) -> PurchaseOrder:
        with reading(self._engine) as conn:
            return _purchase_order(conn, _po_row(conn, number))

    def list_purchase_orders(
        self, *, state: POState | None = None, requester: str | None = None, limit: int = 20
    ) -> list[PurchaseOrder]:
        query = select(purchase_orders)
        if state is not None:
            query = query.where(purchase_orders.c.state == POState(state).value)
        if requester is not None:
            query = query.where(purchase_orders.c.requester == requester)
        newest_first = (purchase_orders.c.created_at.desc(), purchase_orders.c.number.desc())
        with reading(self._engine) as conn:
            rows = conn.execute(query.order_by(*newest_first).limit(max(limit, 0)))
            return [_purchase_order(conn, row) for row in rows]

    def create_requisition(self, new: NewRequisition, *, idempotency_key: str | None = None) -> Requisition:
        with writing(self._engine) as conn:
            if earlier := find_by_key(conn, requisitions, idempotency_key):
                return _requisition(conn, earlier)
            require_user(conn, new.requester)
            _cost_centre_row(conn, new.cost_centre)
            for line in new.lines:
                if conn.execute(select(items.c.sku).where(items.c.sku == line.sku)).first() is None:
                    raise UnknownSku(line.sku)
            now = self._now()
            number = yearly_number(conn, "REQ", now)
            conn.execute(
                insert(requisitions).values(
                    number=number,
                    **new.model_dump(exclude={"lines"}),
                    total_cents=_lines_total(new.lines),
                    state="open",
                    created_at=now,
                    idempotency_key=idempotency_key,
                )
            )
            _insert_lines(conn, requisition_lines, number, new.lines)
            return _requisition(conn, _row(conn, requisitions, number, "requisition"))

    def create_purchase_order(
        self, new: NewPurchaseOrder, *, idempotency_key: str | None = None
    ) -> PurchaseOrder:
        """Validate (every line from the supplier's catalogue, not below its price), commit the total
        to the cost centre and record the order as ``submitted``."""
        with writing(self._engine) as conn:
            if earlier := find_by_key(conn, purchase_orders, idempotency_key):
                return _purchase_order(conn, earlier)
            supplier = _active_supplier(conn, new.supplier_id)
            _require_catalogue(conn, new.supplier_id, new.lines)
            total = _checked_total(new)
            _cost_centre_row(conn, new.cost_centre)
            require_user(conn, new.requester)
            _commit(conn, new.cost_centre, total)
            now = self._now()
            number = yearly_number(conn, "PO", now)
            conn.execute(
                insert(purchase_orders).values(
                    number=number,
                    **new.model_dump(exclude={"lines", "total_amount"}),
                    total_cents=total,
                    currency=supplier.currency,
                    state=POState.SUBMITTED.value,
                    created_at=now,
                    idempotency_key=idempotency_key,
                )
            )
            _insert_lines(conn, po_lines, number, new.lines)
            return _purchase_order(conn, _po_row(conn, number))

    def transition_purchase_order(self, number: str, state: POState) -> PurchaseOrder:
        if POState(state) is POState.CANCELLED:
            return self.cancel_purchase_order(number, reason="cancelled")
        with writing(self._engine) as conn:
            current = POState(_po_row(conn, number).state)
            require_transition("purchase order", number, current, POState(state), PO_TRANSITIONS)
            conn.execute(_set_po(number, state=POState(state).value))
            return _purchase_order(conn, _po_row(conn, number))

    def cancel_purchase_order(self, number: str, *, reason: str) -> PurchaseOrder:
        """Cancel a draft, submitted or approved order and release its amount from the cost centre."""
        require_text("cancel_purchase_order", reason=reason)
        with writing(self._engine) as conn:
            row = _po_row(conn, number)
            require_transition(
                "purchase order", number, POState(row.state), POState.CANCELLED, PO_TRANSITIONS
            )
            conn.execute(
                update(cost_centres)
                .where(cost_centres.c.code == row.cost_centre)
                .values(committed_cents=cost_centres.c.committed_cents - row.total_cents)
            )
            conn.execute(_set_po(number, state=POState.CANCELLED.value, cancel_reason=reason))
            return _purchase_order(conn, _po_row(conn, number))


def _active_supplier(conn: Connection, supplier_id: str) -> Row[Any]:
    supplier = _supplier_row(conn, supplier_id)
    if not supplier.active:
        raise Conflict(f"supplier {supplier_id} ({supplier.name}) is inactive; choose another supplier")
    return supplier


def _require_catalogue(conn: Connection, supplier_id: str, lines: Sequence[OrderLine]) -> None:
    """Every line is offered by the supplier, at its catalogue price or above (never below)."""
    query = select(catalogue.c.sku, catalogue.c.unit_price).where(catalogue.c.supplier_id == supplier_id)
    prices: dict[str, float] = {sku: price for sku, price in conn.execute(query)}
    for n, line in enumerate(lines, 1):
        if line.sku not in prices:
            detail = f"not in the catalogue of supplier {supplier_id}; search the catalogue for who offers it"
            raise UnknownSku(line.sku, detail)
        if cents(line.unit_price) < cents(prices[line.sku]):
            raise Conflict(
                f"line {n} ({line.sku}): unit_price {line.unit_price:.2f} is below the catalogue price "
                f"{prices[line.sku]:.2f} of supplier {supplier_id}; order at the catalogue price"
            )


def _checked_total(new: NewPurchaseOrder) -> int:
    total = _lines_total(new.lines)
    if abs(cents(new.total_amount) - total) > _TOLERANCE_CENTS:
        given, summed = f"{new.total_amount:.2f}", f"{euros(total):.2f}"
        raise Conflict(f"total_amount {given} does not equal the sum of the line totals {summed}")
    return total


def _commit(conn: Connection, code: str, amount_cents: int) -> None:
    """Add to the committed amount only if the budget has room: one guarded UPDATE, no race."""
    centre = cost_centres.c
    committed = conn.execute(
        update(cost_centres)
        .where(centre.code == code, centre.budget_cents - centre.committed_cents >= amount_cents)
        .values(committed_cents=centre.committed_cents + amount_cents)
    )
    if committed.rowcount == 0:
        remaining = _cost_centre(_cost_centre_row(conn, code)).remaining
        raise BudgetExceeded(code, euros(amount_cents), remaining)


def _lines_total(lines: Sequence[OrderLine]) -> int:
    return sum(cents(line.line_total) for line in lines)


def _insert_lines(conn: Connection, table: Table, number: str, lines: Sequence[OrderLine]) -> None:
    rows = [
        {"document": number, "line_no": n, **line.model_dump(exclude={"line_total"})}
        for n, line in enumerate(lines, 1)
    ]
    conn.execute(insert(table), rows)


def _lines(conn: Connection, table: Table, number: str) -> tuple[OrderLine, ...]:
    rows = conn.execute(
        select(table.c.sku, table.c.quantity, table.c.unit_price)
        .where(table.c.document == number)
        .order_by(table.c.line_no)
    )
    return tuple(OrderLine(**row._asdict()) for row in rows)


def _set_po(number: str, **values: Any) -> Update:
    return update(purchase_orders).where(purchase_orders.c.number == number).values(**values)


def _row(conn: Connection, table: Table, key: str, kind: str) -> Row[Any]:
    primary = next(iter(table.primary_key.columns))
    row = conn.execute(select(table).where(primary == key)).first()
    if row is None:
        raise NotFound(kind, key)
    return row


def _po_row(conn: Connection, number: str) -> Row[Any]:
    return _row(conn, purchase_orders, number, "purchase order")


def _cost_centre_row(conn: Connection, code: str) -> Row[Any]:
    return _row(conn, cost_centres, code, "cost centre")


def _supplier_row(conn: Connection, supplier_id: str) -> Row[Any]:
    row = conn.execute(select(suppliers).where(suppliers.c.id == supplier_id)).first()
    if row is None:
        raise UnknownSupplier(supplier_id)
    return row


def _cost_centre(row: Row[Any]) -> CostCentre:
    return CostCentre(
        code=row.code, name=row.name, budget=euros(row.budget_cents), committed=euros(row.committed_cents)
    )


def _purchase_order(conn: Connection, row: Row[Any]) -> PurchaseOrder:
    fields = row._asdict()
    del fields["total_cents"], fields["idempotency_key"]
    lines = _lines(conn, po_lines, row.number)
    return PurchaseOrder(**fields, lines=lines, total_amount=euros(row.total_cents))


def _requisition(conn: Connection, row: Row[Any]) -> Requisition:
    fields = row._asdict()
    del fields["total_cents"], fields["idempotency_key"]
    lines = _lines(conn, requisition_lines, row.number)
    return Requisition(**fields, lines=lines, total_amount=euros(row.total_cents))
