"""Seeded suppliers and their catalogues.

Every category has a primary supplier that lists all of its items; other suppliers list a
deterministic random subset, priced within -6%..+10% of the item's unit cost.
"""

from __future__ import annotations

import random

from tools.local.seed_items import SEED_ITEMS
from tools.models import CatalogueEntry, Supplier


def _supplier(supplier_id: str, name: str, lead_time_days: int, *, active: bool = True) -> Supplier:
    return Supplier(id=supplier_id, name=name, lead_time_days=lead_time_days, active=active)


SEED_SUPPLIERS: tuple[Supplier, ...] = (
    _supplier("SUP-001", "Nordtech Distribution B.V.", 5),
    _supplier("SUP-002", "Rhein Computer Handel GmbH", 4),
    _supplier("SUP-003", "Albion IT Supplies Ltd", 6),
    _supplier("SUP-004", "Vistula Logistics Equipment Sp. z o.o.", 7),
    _supplier("SUP-005", "Iberia Office & Packaging S.L.", 5),
    _supplier("SUP-006", "Lowlands Packaging B.V.", 3),
    _supplier("SUP-007", "SafeWork PPE GmbH", 4),
    _supplier("SUP-008", "ScanPoint Systems B.V.", 10),
    # Set inactive by the quarterly vendor review (see INC0010025); its catalogue is still on file.
    _supplier("SUP-009", "Baltic Print Consumables OÜ", 6, active=False),
    _supplier("SUP-010", "Printwise Supplies Ltd", 3),
    _supplier("SUP-011", "NetCore Networks GmbH", 12),
    _supplier("SUP-012", "Datacentre Parts Europe B.V.", 8),
    _supplier("SUP-013", "Mobilis Devices S.A.", 9),
    _supplier("SUP-014", "ErgoOffice Furniture GmbH", 14),
    _supplier("SUP-015", "Continental Cable Co. Sp. z o.o.", 5),
    _supplier("SUP-016", "Handling Solutions Europe NV", 11),
    _supplier("SUP-017", "MemoryWorks Storage Ltd", 4),
)

# category -> (primary supplier, *other suppliers)
_OFFERED_BY: dict[str, tuple[str, ...]] = {
    "laptops": ("SUP-001", "SUP-002", "SUP-003"),
    "monitors": ("SUP-001", "SUP-002", "SUP-003"),
    "docking": ("SUP-001", "SUP-002"),
    "storage": ("SUP-017", "SUP-001", "SUP-002"),
    "memory": ("SUP-017", "SUP-002"),
    "cables": ("SUP-015", "SUP-001", "SUP-003"),
    "peripherals": ("SUP-002", "SUP-001", "SUP-003"),
    "mobile": ("SUP-013", "SUP-001"),
    "printing supplies": ("SUP-010", "SUP-009", "SUP-005"),
    "printers": ("SUP-008", "SUP-010"),
    "scanning": ("SUP-008",),
    "networking": ("SUP-011", "SUP-001"),
    "datacentre": ("SUP-012", "SUP-011"),
    "packaging": ("SUP-006", "SUP-005", "SUP-004"),
    "pallets": ("SUP-004", "SUP-016"),
    "material handling": ("SUP-016", "SUP-004"),
    "safety": ("SUP-007", "SUP-004"),
    "office": ("SUP-014", "SUP-005"),
    "security": ("SUP-001", "SUP-011"),
    "power": ("SUP-015", "SUP-012", "SUP-001"),
}


def _catalogue() -> tuple[CatalogueEntry, ...]:
    rng = random.Random(20261101)
    lead_times = {supplier.id: supplier.lead_time_days for supplier in SEED_SUPPLIERS}
    entries = []
    for item in SEED_ITEMS:
        primary, *others = _OFFERED_BY[item.category]
        for supplier_id in (primary, *(other for other in others if rng.random() < 0.6)):
            entries.append(
                CatalogueEntry(
                    supplier_id=supplier_id,
                    sku=item.sku,
                    description=f"{item.name} (vendor part {rng.randint(100000, 999999)})",
                    unit_price=round(item.unit_cost * rng.randint(94, 110) / 100, 2),
                    lead_time_days=lead_times[supplier_id] + rng.randint(0, 3),
                )
            )
    return tuple(entries)


SEED_CATALOGUE: tuple[CatalogueEntry, ...] = _catalogue()
