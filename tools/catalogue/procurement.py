"""Procurement tools: supplier catalogue, requisitions and purchase orders.

Spend policy reads ``facts.value``: what an order or requisition is worth at the catalogue prices of
the procurement system, never a figure the model states. A line priced below its catalogue offer,
or a SKU nobody offers, is refused as invalid arguments before the decision, so the model cannot
make an order look cheaper than it is. So is a cost centre the procurement system does not know:
an approver's edit to it is refused when it is made, not when the approved call fails to run.
``facts.cost_centre_remaining`` is the budget left on the cost centre when the call is decided. A
purchase order's ``total_amount`` must still equal the sum of its lines, checked here before any
backend is called.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tools.catalogue.inventory import MAX_QUANTITY, Sku
from tools.errors import InvalidArguments, NotFound, UnknownSupplier
from tools.models import (
    CatalogueEntry,
    NewPurchaseOrder,
    NewRequisition,
    OrderLine,
    PurchaseOrder,
    Requisition,
    Supplier,
)
from tools.spec import CallContext, SideEffect, Systems, ToolSpec

_ARGS = ConfigDict(extra="forbid", frozen=True)
MAX_AMOUNT = 10_000_000.0

SupplierId = Annotated[
    str,
    Field(
        pattern=r"^SUP-\d{3}$", description="Supplier id, e.g. SUP-001 (see procurement_search_suppliers)."
    ),
]
CostCentreCode = Annotated[
    str,
    Field(pattern=r"^CC-[A-Z-]+$", max_length=40, description="Cost centre to charge, e.g. CC-IT-OPS."),
]
PONumber = Annotated[
    str, Field(pattern=r"^PO-\d{4}-\d{4}$", description="Purchase order number, e.g. PO-2026-0042.")
]


class LineArgs(BaseModel):
    model_config = _ARGS

    sku: Sku
    quantity: int = Field(gt=0, le=MAX_QUANTITY, description="Number of units, at least 1.")
    unit_price: float = Field(
        gt=0, le=1_000_000, description="Price per unit in EUR, from procurement_search_catalogue."
    )

    def as_order_line(self) -> OrderLine:
        return OrderLine(sku=self.sku, quantity=self.quantity, unit_price=self.unit_price)


Lines = Annotated[
    tuple[LineArgs, ...], Field(min_length=1, max_length=50, description="Order lines, 1 to 50.")
]


def lines_total(lines: Iterable[LineArgs]) -> float:
    """Sum of the lines' totals, each rounded to cents as :class:`tools.models.OrderLine` does."""
    return sum(_cents(line.as_order_line().line_total) for line in lines) / 100


def _line_cents(sku: str, quantity: int, unit_price: float) -> int:
    return _cents(OrderLine(sku=sku, quantity=quantity, unit_price=unit_price).line_total)


def _cents(amount: float) -> int:
    return round(amount * 100)


# --- reads ----------------------------------------------------------------------------------------


class SearchCatalogueArgs(BaseModel):
    model_config = _ARGS

    text: str | None = Field(
        default=None, min_length=1, max_length=200, description="Words to look for in the description."
    )
    sku: Sku | None = Field(default=None, description="Only offers for this SKU.")
    supplier_id: SupplierId | None = Field(default=None, description="Only offers of this supplier.")
    limit: int = Field(default=10, ge=1, le=50, description="Maximum number of offers to return.")


class SearchSuppliersArgs(BaseModel):
    model_config = _ARGS

    text: str | None = Field(
        default=None, min_length=1, max_length=200, description="Words to look for in the supplier name."
    )
    limit: int = Field(default=10, ge=1, le=50, description="Maximum number of suppliers to return.")


class GetPurchaseOrderArgs(BaseModel):
    model_config = _ARGS

    number: PONumber


def _search_catalogue(args: SearchCatalogueArgs, ctx: CallContext) -> list[CatalogueEntry]:
    return ctx.systems.procurement.search_catalogue(
        text=args.text, sku=args.sku, supplier_id=args.supplier_id, limit=args.limit
    )


def _search_suppliers(args: SearchSuppliersArgs, ctx: CallContext) -> list[Supplier]:
    return ctx.systems.procurement.search_suppliers(text=args.text, limit=args.limit)


def _get_purchase_order(args: GetPurchaseOrderArgs, ctx: CallContext) -> PurchaseOrder:
    return ctx.systems.procurement.get_purchase_order(args.number)


# --- financial ------------------------------------------------------------------------------------


class CreateRequisitionArgs(BaseModel):
    model_config = _ARGS

    cost_centre: CostCentreCode
    lines: Lines
    justification: str = Field(
        min_length=10, max_length=2000, description="Business reason for the purchase, for the approver."
    )


class CreatePurchaseOrderArgs(BaseModel):
    model_config = _ARGS

    supplier_id: SupplierId
    cost_centre: CostCentreCode
    lines: Lines
    total_amount: float = Field(
        gt=0, le=MAX_AMOUNT, description="Order total in EUR: exactly the sum of quantity × unit_price."
    )

    @model_validator(mode="after")
    def _total_is_sum_of_lines(self) -> CreatePurchaseOrderArgs:
        expected = lines_total(self.lines)
        # Compared in whole cents: float sums of prices differ from the total only in noise.
        if _cents(self.total_amount) != _cents(expected):
            raise ValueError(
                f"total_amount {self.total_amount:.2f} is not the sum of the lines ({expected:.2f})"
            )
        return self


class CancelPurchaseOrderArgs(BaseModel):
    model_config = _ARGS

    number: PONumber
    reason: str = Field(min_length=5, max_length=500, description="Why the order is cancelled.")


def _create_requisition(args: CreateRequisitionArgs, ctx: CallContext) -> Requisition:
    new = NewRequisition(
        requester=ctx.actor_id,
        cost_centre=args.cost_centre,
        lines=tuple(line.as_order_line() for line in args.lines),
        justification=args.justification,
    )
    return ctx.systems.procurement.create_requisition(new, idempotency_key=ctx.idempotency_key)


def _create_purchase_order(args: CreatePurchaseOrderArgs, ctx: CallContext) -> PurchaseOrder:
    new = NewPurchaseOrder(
        supplier_id=args.supplier_id,
        cost_centre=args.cost_centre,
        requester=ctx.actor_id,
        lines=tuple(line.as_order_line() for line in args.lines),
        total_amount=args.total_amount,
    )
    return ctx.systems.procurement.create_purchase_order(new, idempotency_key=ctx.idempotency_key)


def _cancel_purchase_order(args: CancelPurchaseOrderArgs, ctx: CallContext) -> PurchaseOrder:
    return ctx.systems.procurement.cancel_purchase_order(args.number, reason=args.reason)


# --- facts for policy -----------------------------------------------------------------------------


_REQUISITION = "procurement_create_requisition"
_PURCHASE_ORDER = "procurement_create_purchase_order"


def _create_requisition_facts(args: CreateRequisitionArgs, systems: Systems) -> Mapping[str, Any]:
    """A requisition names no supplier: each line is valued at the lowest offer for its SKU."""
    remaining = _cost_centre_remaining(systems, _REQUISITION, args.cost_centre)
    skus = dict.fromkeys(line.sku for line in args.lines)
    offers = {sku: _first(systems.procurement.search_catalogue(sku=sku, limit=1)) for sku in skus}
    valued = _valued(_REQUISITION, args.lines, offers, offered_by="any active supplier")
    return {**valued, "cost_centre_remaining": remaining}


def _create_purchase_order_facts(args: CreatePurchaseOrderArgs, systems: Systems) -> Mapping[str, Any]:
    """Each line is valued at the catalogue offer of the order's supplier for its SKU."""
    supplier = _active_supplier(systems, args.supplier_id)
    remaining = _cost_centre_remaining(systems, _PURCHASE_ORDER, args.cost_centre)
    offers = {
        sku: _first(systems.procurement.search_catalogue(sku=sku, supplier_id=supplier, limit=1))
        for sku in dict.fromkeys(line.sku for line in args.lines)
    }
    valued = _valued(_PURCHASE_ORDER, args.lines, offers, offered_by=f"supplier {supplier}")
    return {**valued, "cost_centre_remaining": remaining}


def _active_supplier(systems: Systems, supplier_id: str) -> str:
    try:
        supplier = systems.procurement.get_supplier(supplier_id)
    except UnknownSupplier as exc:
        problem = f"supplier_id: {exc}; find suppliers with procurement_search_suppliers"
        raise InvalidArguments(_PURCHASE_ORDER, [problem]) from exc
    if not supplier.active:
        problem = (
            f"supplier_id: supplier {supplier_id} ({supplier.name}) is inactive; order from a supplier "
            "that procurement_search_catalogue lists"
        )
        raise InvalidArguments(_PURCHASE_ORDER, [problem])
    return supplier_id


def _cost_centre_remaining(systems: Systems, tool: str, code: str) -> float:
    """The budget left on cost centre ``code``; ``InvalidArguments`` naming it when the procurement
    system does not know it, so neither the model nor an approver's edit can charge a cost centre
    that would only be refused once the approved call runs."""
    try:
        return systems.procurement.get_cost_centre(code).remaining
    except NotFound as exc:
        problem = (
            f"cost_centre: cost centre {code!r} is not known to the procurement system; "
            "ask the person you are helping which cost centre to charge"
        )
        raise InvalidArguments(tool, [problem]) from exc


def _first(offers: list[CatalogueEntry]) -> CatalogueEntry | None:
    return offers[0] if offers else None


def _valued(
    tool: str,
    lines: tuple[LineArgs, ...],
    offers: Mapping[str, CatalogueEntry | None],
    *,
    offered_by: str,
) -> Mapping[str, Any]:
    """``value``: the lines at catalogue prices, each at the larger of its own and the catalogue price,
    so it never understates. Raise ``InvalidArguments`` naming every line the catalogue does not back."""
    problems: list[str] = []
    value = 0
    for n, line in enumerate(lines):
        offer = offers[line.sku]
        if offer is None:
            problems.append(
                f"lines.{n}.sku: {line.sku} is not offered by {offered_by}; "
                "find who offers it with procurement_search_catalogue"
            )
        elif _cents(line.unit_price) < _cents(offer.unit_price):
            problems.append(
                f"lines.{n}.unit_price: {line.unit_price:.2f} for {line.sku} is below the catalogue price "
                f"{offer.unit_price:.2f} of supplier {offer.supplier_id}; use the catalogue price "
                "(procurement_search_catalogue)"
            )
        else:
            value += _line_cents(line.sku, line.quantity, max(line.unit_price, offer.unit_price))
    if problems:
        raise InvalidArguments(tool, problems)
    prices = {sku: offer.unit_price for sku, offer in offers.items() if offer is not None}
    return {"value": value / 100, "lines_total": lines_total(lines), "catalogue_prices": prices}


PROCUREMENT_TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        name="procurement_search_catalogue",
        description=(
            "Search suppliers' catalogue offers by text, SKU or supplier. Returns supplier id, SKU, "
            "unit price and lead time. Use it to find prices before a requisition or purchase order."
        ),
        args_model=SearchCatalogueArgs,
        side_effect=SideEffect.READ,
        handler=_search_catalogue,
    ),
    ToolSpec(
        name="procurement_search_suppliers",
        description="Search suppliers by name. Returns id, name, currency, lead time and whether active.",
        args_model=SearchSuppliersArgs,
        side_effect=SideEffect.READ,
        handler=_search_suppliers,
    ),
    ToolSpec(
        name="procurement_get_purchase_order",
        description="Get one purchase order by number, with its lines, total, state and requester.",
        args_model=GetPurchaseOrderArgs,
        side_effect=SideEffect.READ,
        handler=_get_purchase_order,
    ),
    ToolSpec(
        name="procurement_create_requisition",
        description=(
            "Raise a purchase requisition (a request to buy, not yet an order) on a cost centre for "
            "the user you are helping. Use catalogue prices (procurement_search_catalogue): a line "
            "priced below the lowest offer for its SKU is refused. Larger amounts may need approval."
        ),
        args_model=CreateRequisitionArgs,
        side_effect=SideEffect.FINANCIAL,
        handler=_create_requisition,
        facts=_create_requisition_facts,
    ),
    ToolSpec(
        name="procurement_create_purchase_order",
        description=(
            "Create a purchase order with one supplier, charged to a cost centre, requested by the "
            "user you are helping. Every line must be offered by that supplier at its catalogue "
            "price (use procurement_search_catalogue); a line priced below it is refused. "
            "total_amount must equal the sum of the lines. Orders above spend limits need a "
            "procurement manager's approval."
        ),
        args_model=CreatePurchaseOrderArgs,
        side_effect=SideEffect.FINANCIAL,
        handler=_create_purchase_order,
        facts=_create_purchase_order_facts,
    ),
    ToolSpec(
        name="procurement_cancel_purchase_order",
        description=(
            "Cancel a purchase order that has not been received yet, with a reason. Returns the "
            "cancelled order."
        ),
        args_model=CancelPurchaseOrderArgs,
        side_effect=SideEffect.FINANCIAL,
        handler=_cancel_purchase_order,
    ),
)
