"""Contract every ProcurementBackend honours: validated orders, exact budget commitments, PO states.

Each test reads the catalogue and budgets it needs through the protocol. After every refused
order, the cost centre's committed amount and the list of orders are exactly as before.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tools.errors import (
    BudgetExceeded,
    Conflict,
    InvalidTransition,
    NotFound,
    UnknownSku,
    UnknownSupplier,
)
from tools.models import NewPurchaseOrder, NewRequisition, OrderLine, POState
from tools.protocols import ProcurementBackend

SUPPLIER, CENTRE = "SUP-001", "CC-IT-OPS"


def _lines(procurement: ProcurementBackend, supplier_id: str = SUPPLIER) -> tuple[OrderLine, ...]:
    entries = procurement.search_catalogue(supplier_id=supplier_id, limit=2)
    assert len(entries) == 2, f"{supplier_id} needs two catalogue entries"
    return tuple(
        OrderLine(sku=entry.sku, quantity=n + 1, unit_price=entry.unit_price)
        for n, entry in enumerate(entries)
    )


def _order(lines: tuple[OrderLine, ...], **overrides: object) -> NewPurchaseOrder:
    fields: dict[str, object] = {
        "supplier_id": SUPPLIER,
        "cost_centre": CENTRE,
        "requester": "grace.procure",
        "lines": lines,
        "total_amount": round(sum(line.line_total for line in lines), 2),
    }
    return NewPurchaseOrder.model_validate(fields | overrides)


def _numbers(procurement: ProcurementBackend) -> list[str]:
    return [order.number for order in procurement.list_purchase_orders(limit=10_000)]


@contextmanager
def _unchanged(procurement: ProcurementBackend, centre: str = CENTRE) -> Iterator[None]:
    """Assert that the block neither commits budget nor creates an order."""
    committed, orders = procurement.get_cost_centre(centre).committed, _numbers(procurement)
    yield
    assert procurement.get_cost_centre(centre).committed == pytest.approx(committed, abs=0.001)
    assert _numbers(procurement) == orders


# --- reading --------------------------------------------------------------------------------------


def test_suppliers_and_catalogue_are_searchable(procurement: ProcurementBackend) -> None:
    supplier = procurement.get_supplier(SUPPLIER)
    assert supplier.id == SUPPLIER and supplier.active
    assert SUPPLIER in {s.id for s in procurement.search_suppliers(text=supplier.name.split()[0].upper())}
    offers = procurement.search_catalogue(sku="SSD-1TB-NVME")
    assert offers and {offer.sku for offer in offers} == {"SSD-1TB-NVME"}
    assert [offer.unit_price for offer in offers] == sorted(offer.unit_price for offer in offers)
    assert all(offer.sku == "SSD-1TB-NVME" for offer in procurement.search_catalogue(text="ssd 1TB nvme"))
    assert len(procurement.search_catalogue(limit=5)) == 5


def test_unknown_ids_raise_not_found(procurement: ProcurementBackend) -> None:
    with pytest.raises(UnknownSupplier):
        procurement.get_supplier("SUP-999")
    with pytest.raises(NotFound):
        procurement.get_cost_centre("CC-NOPE")
    with pytest.raises(NotFound):
        procurement.get_purchase_order("PO-1999-9999")
    with pytest.raises(NotFound):
        procurement.cancel_purchase_order("PO-1999-9999", reason="test")


# --- purchase orders ------------------------------------------------------------------------------


def test_purchase_order_is_submitted_and_commits_its_total(procurement: ProcurementBackend) -> None:
    lines = _lines(procurement)
    before = procurement.get_cost_centre(CENTRE)
    order = procurement.create_purchase_order(_order(lines))
    assert re.fullmatch(r"PO-\d{4}-\d{4}", order.number)
    assert (order.state, order.supplier_id, order.cost_centre, order.requester) == (
        POState.SUBMITTED,
        SUPPLIER,
        CENTRE,
        "grace.procure",
    )
    assert order.lines == lines
    assert order.total_amount == pytest.approx(sum(line.line_total for line in lines), abs=0.001)
    after = procurement.get_cost_centre(CENTRE)
    assert after.committed == pytest.approx(before.committed + order.total_amount, abs=0.001)
    assert procurement.get_purchase_order(order.number) == order
    assert procurement.list_purchase_orders(state=POState.SUBMITTED, requester="grace.procure")[0] == order


def test_unknown_supplier_is_refused(procurement: ProcurementBackend) -> None:
    lines = _lines(procurement)
    with _unchanged(procurement), pytest.raises(UnknownSupplier):
        procurement.create_purchase_order(_order(lines, supplier_id="SUP-999"))


def test_inactive_supplier_is_refused(procurement: ProcurementBackend) -> None:
    inactive = [s for s in procurement.search_suppliers(limit=1000) if not s.active]
    if not inactive:
        pytest.skip("this backend has no inactive supplier")
    with _unchanged(procurement), pytest.raises(Conflict):
        procurement.create_purchase_order(_order(_lines(procurement), supplier_id=inactive[0].id))


def test_sku_outside_the_suppliers_catalogue_is_refused(procurement: ProcurementBackend) -> None:
    offered = {entry.sku for entry in procurement.search_catalogue(supplier_id=SUPPLIER, limit=10_000)}
    other = next(e for e in procurement.search_catalogue(limit=10_000) if e.sku not in offered)
    lines = (*_lines(procurement), OrderLine(sku=other.sku, quantity=1, unit_price=other.unit_price))
    with _unchanged(procurement), pytest.raises(UnknownSku) as refused:
        procurement.create_purchase_order(_order(lines))
    assert other.sku in str(refused.value) and SUPPLIER in str(refused.value)
    unknown = (OrderLine(sku="NOPE-0000", quantity=1, unit_price=10.0),)
    with _unchanged(procurement), pytest.raises(UnknownSku):
        procurement.create_purchase_order(_order(unknown))


def test_a_line_below_the_catalogue_price_is_refused(procurement: ProcurementBackend) -> None:
    first, second = _lines(procurement)
    cheap = first.model_copy(update={"unit_price": round(first.unit_price - 0.01, 2)})
    with _unchanged(procurement), pytest.raises(Conflict) as refused:
        procurement.create_purchase_order(_order((second, cheap)))
    message = str(refused.value)
    assert "line 2" in message and first.sku in message and SUPPLIER in message
    assert f"{cheap.unit_price:.2f}" in message and f"{first.unit_price:.2f}" in message


def test_a_line_above_the_catalogue_price_is_ordered_at_its_own_price(
    procurement: ProcurementBackend,
) -> None:
    first, second = _lines(procurement)
    dear = first.model_copy(update={"unit_price": first.unit_price + 10})
    order = procurement.create_purchase_order(_order((dear, second)))
    assert order.lines == (dear, second)


def test_total_that_is_not_the_sum_of_the_lines_is_refused(procurement: ProcurementBackend) -> None:
    lines = _lines(procurement)
    total = round(sum(line.line_total for line in lines), 2)
    with _unchanged(procurement), pytest.raises(Conflict) as refused:
        procurement.create_purchase_order(_order(lines, total_amount=total + 5))
    assert f"{total:.2f}" in str(refused.value) and f"{total + 5:.2f}" in str(refused.value)


def test_order_beyond_the_remaining_budget_is_refused(procurement: ProcurementBackend) -> None:
    remaining = procurement.get_cost_centre(CENTRE).remaining
    entry = procurement.search_catalogue(supplier_id=SUPPLIER, limit=1)[0]
    quantity = math.ceil((remaining + 1) / entry.unit_price)
    lines = (OrderLine(sku=entry.sku, quantity=quantity, unit_price=entry.unit_price),)
    with _unchanged(procurement), pytest.raises(BudgetExceeded) as refused:
        procurement.create_purchase_order(_order(lines))
    assert refused.value.remaining == pytest.approx(remaining, abs=0.001)


def test_unknown_cost_centre_is_refused(procurement: ProcurementBackend) -> None:
    with _unchanged(procurement), pytest.raises(NotFound):
        procurement.create_purchase_order(_order(_lines(procurement), cost_centre="CC-NOPE"))


def test_create_with_a_used_idempotency_key_commits_once(procurement: ProcurementBackend) -> None:
    lines, key = _lines(procurement), f"po-{uuid.uuid4().hex}"
    before = procurement.get_cost_centre(CENTRE).committed
    first = procurement.create_purchase_order(_order(lines), idempotency_key=key)
    assert procurement.create_purchase_order(_order(lines), idempotency_key=key) == first
    after = procurement.get_cost_centre(CENTRE).committed
    assert after == pytest.approx(before + first.total_amount, abs=0.001)


def test_cancelling_releases_the_committed_amount(procurement: ProcurementBackend) -> None:
    before = procurement.get_cost_centre(CENTRE).committed
    order = procurement.create_purchase_order(_order(_lines(procurement)))
    procurement.transition_purchase_order(order.number, POState.APPROVED)
    cancelled = procurement.cancel_purchase_order(order.number, reason="Duplicate of an earlier order")
    assert (cancelled.state, cancelled.cancel_reason) == (POState.CANCELLED, "Duplicate of an earlier order")
    assert procurement.get_cost_centre(CENTRE).committed == pytest.approx(before, abs=0.001)
    assert procurement.get_purchase_order(order.number) == cancelled


def test_purchase_order_state_machine(procurement: ProcurementBackend) -> None:
    number = procurement.create_purchase_order(_order(_lines(procurement))).number
    with pytest.raises(InvalidTransition) as refused:
        procurement.transition_purchase_order(number, POState.RECEIVED)
    assert set(refused.value.allowed) == {"approved", "cancelled"}
    procurement.transition_purchase_order(number, POState.APPROVED)
    assert procurement.transition_purchase_order(number, POState.RECEIVED).state is POState.RECEIVED
    committed = procurement.get_cost_centre(CENTRE).committed
    with pytest.raises(InvalidTransition) as final:
        procurement.cancel_purchase_order(number, reason="too late")
    assert final.value.allowed == []
    assert procurement.get_cost_centre(CENTRE).committed == pytest.approx(committed, abs=0.001)


def test_cancelled_order_cannot_be_cancelled_again(procurement: ProcurementBackend) -> None:
    number = procurement.create_purchase_order(_order(_lines(procurement))).number
    procurement.cancel_purchase_order(number, reason="not needed")
    committed = procurement.get_cost_centre(CENTRE).committed
    with pytest.raises(InvalidTransition):
        procurement.cancel_purchase_order(number, reason="not needed")
    assert procurement.get_cost_centre(CENTRE).committed == pytest.approx(committed, abs=0.001)


# --- requisitions ---------------------------------------------------------------------------------


def test_requisition_is_recorded_without_committing_budget(procurement: ProcurementBackend) -> None:
    lines, key = _lines(procurement), f"req-{uuid.uuid4().hex}"
    new = NewRequisition(
        requester="alice.requester", cost_centre=CENTRE, lines=lines, justification="Laptops for new starters"
    )
    with _unchanged(procurement):
        requisition = procurement.create_requisition(new, idempotency_key=key)
        assert procurement.create_requisition(new, idempotency_key=key) == requisition
    assert re.fullmatch(r"REQ-\d{4}-\d{4}", requisition.number)
    assert (requisition.state, requisition.lines) == ("open", lines)
    assert requisition.total_amount == pytest.approx(sum(line.line_total for line in lines), abs=0.001)
