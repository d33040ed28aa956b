"""Contract every InventoryBackend honours: stock moves exactly, never goes negative, never oversells.

Each test reads the stock it starts from through the protocol, so only the SKU
``SSD-1TB-NVME`` held at AMS-1 (and known to BER-2) is assumed to exist.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tools.errors import Conflict, InsufficientStock, NotFound, UnknownSku
from tools.models import AdjustmentKind, StockLevel
from tools.protocols import InventoryBackend

SKU, SOURCE, DESTINATION = "SSD-1TB-NVME", "AMS-1", "BER-2"


def _level(inventory: InventoryBackend, sku: str, warehouse: str) -> StockLevel:
    [level] = inventory.get_stock(sku, warehouse)
    return level


def _key() -> str:
    return f"test-{uuid.uuid4().hex}"


# --- reading --------------------------------------------------------------------------------------


def test_warehouses_and_items_are_readable(inventory: InventoryBackend) -> None:
    assert {"AMS-1", "BER-2"} <= {warehouse.code for warehouse in inventory.list_warehouses()}
    item = inventory.get_item(SKU)
    assert item.sku == SKU and item.unit_cost > 0
    found = inventory.search_items(text="ssd 1tb nvme")
    assert SKU in {i.sku for i in found}
    assert {i.category for i in inventory.search_items(category=item.category.upper())} == {item.category}
    assert len(inventory.search_items(limit=3)) == 3


def test_stock_levels_are_consistent(inventory: InventoryBackend) -> None:
    levels = inventory.get_stock(SKU)
    assert SOURCE in {level.warehouse for level in levels}
    for level in levels:
        assert level.sku == SKU and 0 <= level.reserved <= level.on_hand
        assert level.available == level.on_hand - level.reserved


def test_unknown_sku_and_warehouse_raise_not_found(inventory: InventoryBackend) -> None:
    with pytest.raises(UnknownSku):
        inventory.get_item("NOPE-0000")
    with pytest.raises(UnknownSku):
        inventory.get_stock("NOPE-0000")
    with pytest.raises(UnknownSku):
        inventory.reserve_stock("NOPE-0000", SOURCE, 1, reference="SO-1")
    with pytest.raises(NotFound) as missing:
        inventory.reserve_stock(SKU, "XXX-9", 1, reference="SO-1")
    assert missing.value.kind == "warehouse"


# --- reservations ---------------------------------------------------------------------------------


def test_reservation_reserves_exactly_the_quantity(inventory: InventoryBackend) -> None:
    before = _level(inventory, SKU, SOURCE)
    reservation = inventory.reserve_stock(SKU, SOURCE, 3, reference="SO-480001")
    assert (reservation.sku, reservation.warehouse, reservation.quantity) == (SKU, SOURCE, 3)
    assert reservation.reference == "SO-480001" and reservation.id.startswith("RES-")
    after = _level(inventory, SKU, SOURCE)
    assert (after.on_hand, after.reserved) == (before.on_hand, before.reserved + 3)


def test_reservation_beyond_availability_fails_and_changes_nothing(inventory: InventoryBackend) -> None:
    before = _level(inventory, SKU, SOURCE)
    with pytest.raises(InsufficientStock) as refused:
        inventory.reserve_stock(SKU, SOURCE, before.available + 1, reference="SO-480002")
    assert (refused.value.requested, refused.value.available) == (before.available + 1, before.available)
    assert _level(inventory, SKU, SOURCE) == before


def test_second_reservation_fails_when_both_together_exceed_availability(inventory: InventoryBackend) -> None:
    before = _level(inventory, SKU, SOURCE)
    quantity = before.available // 2 + 1
    inventory.reserve_stock(SKU, SOURCE, quantity, reference="SO-480003")
    with pytest.raises(InsufficientStock):
        inventory.reserve_stock(SKU, SOURCE, quantity, reference="SO-480004")
    assert _level(inventory, SKU, SOURCE).reserved == before.reserved + quantity


def test_concurrent_reservations_never_oversell(inventory: InventoryBackend) -> None:
    before = _level(inventory, SKU, SOURCE)
    quantity, attempts = max(1, before.available // 5), 12

    def reserve(n: int) -> bool:
        try:
            inventory.reserve_stock(SKU, SOURCE, quantity, reference=f"SO-49{n:04d}")
        except InsufficientStock:
            return False
        return True

    with ThreadPoolExecutor(max_workers=6) as pool:
        succeeded = sum(pool.map(reserve, range(attempts)))
    assert succeeded == before.available // quantity
    assert _level(inventory, SKU, SOURCE).reserved == before.reserved + succeeded * quantity


def test_reservation_with_a_used_idempotency_key_reserves_once(inventory: InventoryBackend) -> None:
    before, key = _level(inventory, SKU, SOURCE), _key()
    first = inventory.reserve_stock(SKU, SOURCE, 2, reference="SO-480005", idempotency_key=key)
    assert inventory.reserve_stock(SKU, SOURCE, 2, reference="SO-480005", idempotency_key=key) == first
    assert _level(inventory, SKU, SOURCE).reserved == before.reserved + 2


# --- transfers ------------------------------------------------------------------------------------


def test_transfer_moves_exactly_the_quantity(inventory: InventoryBackend) -> None:
    source, destination = _level(inventory, SKU, SOURCE), _level(inventory, SKU, DESTINATION)
    transfer = inventory.transfer_stock(SKU, SOURCE, DESTINATION, 10, reason="BER-2 below reorder point")
    assert (transfer.from_warehouse, transfer.to_warehouse, transfer.quantity) == (SOURCE, DESTINATION, 10)
    assert transfer.id.startswith("TRF-")
    after_source, after_destination = _level(inventory, SKU, SOURCE), _level(inventory, SKU, DESTINATION)
    assert (after_source.on_hand, after_source.reserved) == (source.on_hand - 10, source.reserved)
    assert after_destination.on_hand == destination.on_hand + 10


def test_transfer_creates_stock_at_a_warehouse_that_held_none(inventory: InventoryBackend) -> None:
    codes = {warehouse.code for warehouse in inventory.list_warehouses()}
    for item in inventory.search_items(limit=200):
        levels = {level.warehouse: level for level in inventory.get_stock(item.sku)}
        source = next((level for level in levels.values() if level.available > 0), None)
        if source is not None and codes - set(levels):
            break
    else:
        pytest.fail("no item with free stock that some warehouse does not hold")
    target = sorted(codes - set(levels))[0]
    inventory.transfer_stock(item.sku, source.warehouse, target, 1, reason="first stock")
    assert {level.warehouse: level.on_hand for level in inventory.get_stock(item.sku)}[target] == 1


def test_transfer_beyond_availability_fails_and_changes_nothing(inventory: InventoryBackend) -> None:
    source, destination = _level(inventory, SKU, SOURCE), _level(inventory, SKU, DESTINATION)
    with pytest.raises(InsufficientStock):
        inventory.transfer_stock(SKU, SOURCE, DESTINATION, source.available + 1)
    assert (_level(inventory, SKU, SOURCE), _level(inventory, SKU, DESTINATION)) == (source, destination)


def test_transfer_to_the_same_or_an_unknown_warehouse_is_refused(inventory: InventoryBackend) -> None:
    before = _level(inventory, SKU, SOURCE)
    with pytest.raises(Conflict):
        inventory.transfer_stock(SKU, SOURCE, SOURCE, 1)
    with pytest.raises(NotFound):
        inventory.transfer_stock(SKU, SOURCE, "XXX-9", 1)
    assert _level(inventory, SKU, SOURCE) == before


def test_transfer_with_a_used_idempotency_key_moves_once(inventory: InventoryBackend) -> None:
    before, key = _level(inventory, SKU, SOURCE), _key()
    first = inventory.transfer_stock(SKU, SOURCE, DESTINATION, 4, idempotency_key=key)
    assert inventory.transfer_stock(SKU, SOURCE, DESTINATION, 4, idempotency_key=key) == first
    assert _level(inventory, SKU, SOURCE).on_hand == before.on_hand - 4


# --- adjustments and reorder points ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("delta", "kind"),
    [(5, AdjustmentKind.CYCLE_COUNT), (-2, AdjustmentKind.CYCLE_COUNT), (-1, AdjustmentKind.WRITE_OFF)],
)
def test_adjustment_changes_on_hand_by_delta(
    inventory: InventoryBackend, delta: int, kind: AdjustmentKind
) -> None:
    before = _level(inventory, SKU, SOURCE)
    adjustment = inventory.adjust_stock(SKU, SOURCE, delta, kind=kind, reason="cycle count aisle 4")
    assert adjustment.id.startswith("ADJ-") and adjustment.kind is kind
    assert adjustment.on_hand_after == before.on_hand + delta
    assert _level(inventory, SKU, SOURCE).on_hand == before.on_hand + delta


def test_adjustment_cannot_remove_reserved_or_missing_stock(inventory: InventoryBackend) -> None:
    before = _level(inventory, SKU, SOURCE)
    with pytest.raises(InsufficientStock):
        inventory.adjust_stock(
            SKU, SOURCE, -(before.available + 1), kind=AdjustmentKind.WRITE_OFF, reason="damaged in storage"
        )
    assert _level(inventory, SKU, SOURCE) == before


def test_write_off_must_remove_stock(inventory: InventoryBackend) -> None:
    with pytest.raises(Conflict):
        inventory.adjust_stock(SKU, SOURCE, 3, kind=AdjustmentKind.WRITE_OFF, reason="found in returns")


def test_adjustment_with_a_used_idempotency_key_applies_once(inventory: InventoryBackend) -> None:
    before, key = _level(inventory, SKU, SOURCE), _key()
    kind = AdjustmentKind.WRITE_OFF
    first = inventory.adjust_stock(SKU, SOURCE, -1, kind=kind, reason="dropped", idempotency_key=key)
    assert inventory.adjust_stock(SKU, SOURCE, -1, kind=kind, reason="dropped", idempotency_key=key) == first
    assert _level(inventory, SKU, SOURCE).on_hand == before.on_hand - 1


def test_set_reorder_point(inventory: InventoryBackend) -> None:
    before = _level(inventory, SKU, SOURCE)
    level = inventory.set_reorder_point(SKU, SOURCE, before.reorder_point + 7)
    assert level.reorder_point == before.reorder_point + 7
    assert _level(inventory, SKU, SOURCE) == level
    assert (level.on_hand, level.reserved) == (before.on_hand, before.reserved)
