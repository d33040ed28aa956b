"""Seeded stock levels per warehouse and the reservations that explain every reserved unit.

Quantities are generated from a fixed random seed (cheap items are stocked in larger numbers;
about one row in seven sits below its reorder point), then a few rows the demo relies on are
set by hand.
"""

from __future__ import annotations

import random
from datetime import timedelta

from tools.local.seed_items import SEED_ITEMS, SEED_WAREHOUSES
from tools.local.seed_records import ANCHOR, SeedReservation
from tools.models import Item, Reservation, StockLevel

# (sku, warehouse) -> (on hand, reserved, reorder point)
_DEMO_ROWS: dict[tuple[str, str], tuple[int, int, int]] = {
    ("SSD-1TB-NVME", "AMS-1"): (64, 4, 20),
    ("SSD-1TB-NVME", "BER-2"): (6, 0, 15),
    ("LAP-14-PRO", "AMS-1"): (22, 6, 10),
    ("LAP-14-PRO", "BER-2"): (8, 5, 12),
    ("MON-27-4K", "AMS-1"): (18, 2, 8),
    ("PAL-EUR-NEW", "WAW-1"): (240, 0, 150),
}

_REFERENCES = ("SO-{n}", "SO-{n}", "WO-{n}", "Kitting for new starters, order {n}", "Store replenishment {n}")


def _typical_quantity(item: Item) -> int:
    for threshold, quantity in ((1000, 6), (300, 15), (100, 30), (20, 80), (5, 200)):
        if item.unit_cost >= threshold:
            return quantity
    return 1000


def _levels(rng: random.Random, item: Item) -> list[StockLevel]:
    codes = [warehouse.code for warehouse in SEED_WAREHOUSES]
    held = set(rng.sample(codes, k=rng.randint(2, 5))) | {w for sku, w in _DEMO_ROWS if sku == item.sku}
    return [_level(rng, item, code) for code in sorted(held)]


def _level(rng: random.Random, item: Item, warehouse: str) -> StockLevel:
    typical = _typical_quantity(item)
    reorder_point = max(1, typical // 2)
    on_hand = rng.randint(reorder_point, typical * 2)
    if rng.random() < 0.12:
        on_hand = rng.randint(0, reorder_point - 1)
    reserved = rng.randint(1, on_hand // 3) if on_hand >= 3 and rng.random() < 0.3 else 0
    demo = _DEMO_ROWS.get((item.sku, warehouse))
    if demo:
        on_hand, reserved, reorder_point = demo
    return StockLevel(
        sku=item.sku, warehouse=warehouse, on_hand=on_hand, reserved=reserved, reorder_point=reorder_point
    )


def _reservations(rng: random.Random, levels: tuple[StockLevel, ...]) -> tuple[SeedReservation, ...]:
    seeded: list[SeedReservation] = []
    for level in (level for level in levels if level.reserved):
        reference = rng.choice(_REFERENCES).format(n=rng.randint(480000, 489999))
        reservation = Reservation(
            id=f"RES-{len(seeded) + 1:06d}",
            sku=level.sku,
            warehouse=level.warehouse,
            quantity=level.reserved,
            reference=reference,
        )
        created_at = ANCHOR - timedelta(hours=rng.randint(2, 24 * 20))
        seeded.append(SeedReservation(created_at=created_at, reservation=reservation))
    return tuple(seeded)


_RNG = random.Random(1101)
SEED_STOCK: tuple[StockLevel, ...] = tuple(level for item in SEED_ITEMS for level in _levels(_RNG, item))
SEED_RESERVATIONS: tuple[SeedReservation, ...] = _reservations(_RNG, SEED_STOCK)
