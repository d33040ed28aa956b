"""Inventory tools: items, stock per warehouse, reservations, transfers and adjustments.

The facts of transfers and adjustments carry their value (quantity × unit cost) so policy can
ask for approval above an amount without trusting the model to state it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tools.models import Adjustment, AdjustmentKind, Item, Reservation, StockLevel, Transfer
from tools.spec import CallContext, SideEffect, Systems, ToolSpec

_ARGS = ConfigDict(extra="forbid", frozen=True)
MAX_QUANTITY = 100_000

Sku = Annotated[
    str,
    Field(
        pattern=r"^[A-Z0-9][A-Z0-9-]{2,31}$",
        description="Stock keeping unit in upper case, e.g. 'LAP-14-PRO' or 'SSD-1TB-NVME'.",
    ),
]
WarehouseCode = Annotated[
    str,
    Field(
        pattern=r"^[A-Z]{3}-\d$",
        description="Warehouse code, e.g. AMS-1 (Amsterdam), BER-2 (Berlin), LON-1, MAD-1, WAW-1.",
    ),
]
Quantity = Annotated[int, Field(gt=0, le=MAX_QUANTITY, description="Number of units, at least 1.")]
Reason = Annotated[
    str, Field(min_length=5, max_length=500, description="Why this is done; kept in the stock history.")
]


# --- reads ----------------------------------------------------------------------------------------


class SearchItemsArgs(BaseModel):
    model_config = _ARGS

    text: str | None = Field(
        default=None, min_length=1, max_length=200, description="Words to look for in SKU and item name."
    )
    category: str | None = Field(
        default=None,
        min_length=2,
        max_length=40,
        description="Only items in this category, e.g. 'laptops', 'monitors', 'storage', 'networking'.",
    )
    limit: int = Field(default=10, ge=1, le=50, description="Maximum number of items to return.")


class GetStockArgs(BaseModel):
    model_config = _ARGS

    sku: Sku
    warehouse: WarehouseCode | None = Field(default=None, description="Only this warehouse; omit for all.")


def _search_items(args: SearchItemsArgs, ctx: CallContext) -> list[Item]:
    return ctx.systems.inventory.search_items(text=args.text, category=args.category, limit=args.limit)


def _get_stock(args: GetStockArgs, ctx: CallContext) -> list[StockLevel]:
    return ctx.systems.inventory.get_stock(args.sku, args.warehouse)


# --- writes ---------------------------------------------------------------------------------------


class ReserveStockArgs(BaseModel):
    model_config = _ARGS

    sku: Sku
    warehouse: WarehouseCode
    quantity: Quantity
    reference: str = Field(
        min_length=3,
        max_length=80,
        description="What the units are reserved for, e.g. an incident number or 'onboarding J. Doe'.",
    )


class TransferStockArgs(BaseModel):
    model_config = _ARGS

    sku: Sku
    from_warehouse: WarehouseCode = Field(description="Warehouse the units leave.")
    to_warehouse: WarehouseCode = Field(description="Warehouse the units arrive at; not from_warehouse.")
    quantity: Quantity
    reason: Reason

    @model_validator(mode="after")
    def _distinct_warehouses(self) -> TransferStockArgs:
        if self.from_warehouse == self.to_warehouse:
            raise ValueError("from_warehouse and to_warehouse must be different warehouses")
        return self


class AdjustStockArgs(BaseModel):
    model_config = _ARGS

    sku: Sku
    warehouse: WarehouseCode
    delta: int = Field(
        ge=-MAX_QUANTITY,
        le=MAX_QUANTITY,
        description="Change to units on hand: negative removes, positive adds; never 0.",
    )
    kind: AdjustmentKind = Field(
        description="cycle_count: correct the count after counting (either sign); "
        "write_off: remove damaged, lost or obsolete units (delta must be negative)."
    )
    reason: Reason

    @field_validator("delta")
    @classmethod
    def _not_zero(cls, delta: int) -> int:
        if delta == 0:
            raise ValueError("delta must not be 0")
        return delta

    @model_validator(mode="after")
    def _write_off_removes(self) -> AdjustStockArgs:
        if self.kind is AdjustmentKind.WRITE_OFF and self.delta > 0:
            raise ValueError("a write_off removes units: delta must be negative")
        return self


class SetReorderPointArgs(BaseModel):
    model_config = _ARGS

    sku: Sku
    warehouse: WarehouseCode
    reorder_point: int = Field(
        ge=0, le=MAX_QUANTITY, description="Reorder when available units fall to this level; 0 disables."
    )


def _reserve_stock(args: ReserveStockArgs, ctx: CallContext) -> Reservation:
    return ctx.systems.inventory.reserve_stock(
        args.sku, args.warehouse, args.quantity, reference=args.reference, idempotency_key=ctx.idempotency_key
    )


def _transfer_stock(args: TransferStockArgs, ctx: CallContext) -> Transfer:
    return ctx.systems.inventory.transfer_stock(
        args.sku,
        args.from_warehouse,
        args.to_warehouse,
        args.quantity,
        reason=args.reason,
        idempotency_key=ctx.idempotency_key,
    )


def _adjust_stock(args: AdjustStockArgs, ctx: CallContext) -> Adjustment:
    return ctx.systems.inventory.adjust_stock(
        args.sku,
        args.warehouse,
        args.delta,
        kind=args.kind,
        reason=args.reason,
        idempotency_key=ctx.idempotency_key,
    )


def _set_reorder_point(args: SetReorderPointArgs, ctx: CallContext) -> StockLevel:
    return ctx.systems.inventory.set_reorder_point(args.sku, args.warehouse, args.reorder_point)


# --- facts for policy -----------------------------------------------------------------------------


def _stock_value(systems: Systems, sku: str, units: int) -> Mapping[str, Any]:
    unit_cost = systems.inventory.get_item(sku).unit_cost
    return {"value": round(units * unit_cost, 2), "unit_cost": unit_cost}


def _transfer_stock_facts(args: TransferStockArgs, systems: Systems) -> Mapping[str, Any]:
    return _stock_value(systems, args.sku, args.quantity)


def _adjust_stock_facts(args: AdjustStockArgs, systems: Systems) -> Mapping[str, Any]:
    return _stock_value(systems, args.sku, abs(args.delta))


INVENTORY_TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        name="inventory_search_items",
        description=(
            "Search the item master by text (SKU or name) and category. Returns items with SKU, "
            "name, category and unit cost. Use it to find the SKU before any stock tool."
        ),
        args_model=SearchItemsArgs,
        side_effect=SideEffect.READ,
        handler=_search_items,
    ),
    ToolSpec(
        name="inventory_get_stock",
        description=(
            "Get stock levels of one SKU, per warehouse or in one warehouse: on hand, reserved, "
            "available (on hand minus reserved) and reorder point."
        ),
        args_model=GetStockArgs,
        side_effect=SideEffect.READ,
        handler=_get_stock,
    ),
    ToolSpec(
        name="inventory_reserve_stock",
        description=(
            "Reserve available units of a SKU in one warehouse for a purpose (the reference), so "
            "nobody else takes them. Fails if fewer units are available. Returns the reservation."
        ),
        args_model=ReserveStockArgs,
        side_effect=SideEffect.WRITE,
        handler=_reserve_stock,
    ),
    ToolSpec(
        name="inventory_transfer_stock",
        description=(
            "Move units of a SKU from one warehouse to another. Only available (unreserved) units "
            "can move. Transfers of high value may need a warehouse manager's approval."
        ),
        args_model=TransferStockArgs,
        side_effect=SideEffect.WRITE,
        handler=_transfer_stock,
        facts=_transfer_stock_facts,
    ),
    ToolSpec(
        name="inventory_adjust_stock",
        description=(
            "Correct units on hand of a SKU in one warehouse after a cycle count, or write off "
            "damaged or lost units. Stock never goes below zero. Adjustments of high value may need "
            "approval."
        ),
        args_model=AdjustStockArgs,
        side_effect=SideEffect.WRITE,
        handler=_adjust_stock,
        facts=_adjust_stock_facts,
    ),
    ToolSpec(
        name="inventory_set_reorder_point",
        description="Set the reorder point of a SKU in one warehouse. Returns the updated stock level.",
        args_model=SetReorderPointArgs,
        side_effect=SideEffect.WRITE,
        handler=_set_reorder_point,
    ),
)
