"""Seeded purchase orders (priced from the seeded catalogue) and the cost centres they commit to.

A cost centre's ``committed`` is derived from the orders, so the two can never disagree: it is
the sum of the totals of its orders that are not cancelled.
"""

from __future__ import annotations

from tools.local.seed_records import at
from tools.local.seed_supply import SEED_CATALOGUE
from tools.models import CostCentre, OrderLine, POState, PurchaseOrder

# created (UTC), supplier, cost centre, requester, state, cancel reason, lines of (sku, quantity)
_ORDERS: tuple[tuple[str, str, str, str, str, str | None, tuple[tuple[str, int], ...]], ...] = (
    ("2026-08-18 09:30", "SUP-001", "CC-IT-OPS", "grace.procure", "received", None,
     (("LAP-14-PRO", 20), ("DOCK-USBC-90W", 20), ("MON-27-QHD", 20))),
    ("2026-08-25 11:05", "SUP-006", "CC-WAREHOUSE", "frank.warehouse", "received", None,
     (("BOX-M-400", 2000), ("TAPE-PP-50", 360), ("FILL-AIR-ROLL", 20))),
    ("2026-09-01 08:40", "SUP-007", "CC-WAREHOUSE", "ken.warehouse2", "received", None,
     (("PPE-VEST-HV-L", 60), ("PPE-GLV-CUT-9", 120), ("PPE-BOOT-S3-44", 15))),
    ("2026-09-03 14:20", "SUP-011", "CC-IT-OPS", "leo.procure2", "received", None,
     (("NET-SW-48P-POE", 4), ("NET-SFP-10G-SR", 16), ("NET-AP-WIFI6", 12))),
    ("2026-09-08 10:00", "SUP-008", "CC-WAREHOUSE", "frank.warehouse", "cancelled",
     "Raised twice by mistake; PO-2026-0006 is the one to keep", (("SCN-HH-2D", 20),)),
    ("2026-09-08 10:12", "SUP-008", "CC-WAREHOUSE", "frank.warehouse", "received", None,
     (("SCN-HH-2D", 20), ("SCN-CRADLE-4", 5))),
    ("2026-09-12 09:15", "SUP-012", "CC-IT-OPS", "grace.procure", "received", None,
     (("UPS-1500VA", 4), ("UPS-BAT-RBC", 8))),
    ("2026-09-15 13:30", "SUP-014", "CC-FACILITIES", "grace.procure", "received", None,
     (("CHR-TASK-ERG", 12), ("DESK-SIT-STD", 6))),
    ("2026-09-19 07:50", "SUP-004", "CC-WAREHOUSE", "ken.warehouse2", "received", None,
     (("PAL-EUR-NEW", 400), ("PAL-WRAP-500", 60))),
    ("2026-09-24 10:45", "SUP-010", "CC-PROCUREMENT", "leo.procure2", "received", None,
     (("TON-MFP-BLK", 12), ("PPR-A4-BOX", 40))),
    ("2026-09-29 15:10", "SUP-013", "CC-IT-OPS", "grace.procure", "approved", None,
     (("PHN-STD-128", 25), ("CASE-PHN-RUG", 25))),
    ("2026-10-02 09:00", "SUP-017", "CC-ENGINEERING", "leo.procure2", "received", None,
     (("SSD-2TB-NVME", 20), ("RAM-32GB-DDR5-SO", 20))),
    ("2026-10-06 11:25", "SUP-016", "CC-WAREHOUSE", "frank.warehouse", "approved", None,
     (("HPT-2500", 6), ("TRLY-PLAT-300", 10))),
    ("2026-10-09 16:00", "SUP-001", "CC-ENGINEERING", "grace.procure", "cancelled",
     "Engineering switched to the 16-inch model; replaced by PO-2026-0016", (("LAP-14-PRO", 10),)),
    ("2026-10-12 08:35", "SUP-015", "CC-IT-OPS", "leo.procure2", "received", None,
     (("CBL-USBC-DP-2M", 50), ("CBL-CAT6-3M", 200), ("CBL-HDMI-2M", 60))),
    ("2026-10-13 10:20", "SUP-001", "CC-ENGINEERING", "grace.procure", "approved", None,
     (("LAP-16-PRO", 10), ("DOCK-TB4-PRO", 10))),
    ("2026-10-16 12:40", "SUP-006", "CC-WAREHOUSE", "ken.warehouse2", "submitted", None,
     (("BOX-L-600", 1500), ("BOX-S-300", 2000), ("TAPE-PP-75", 240))),
    ("2026-10-20 09:55", "SUP-007", "CC-WAREHOUSE", "frank.warehouse", "submitted", None,
     (("PPE-HELM-WHT", 30), ("PPE-FAK-WALL", 5), ("PPE-EAR-200", 10))),
    ("2026-10-22 14:15", "SUP-008", "CC-WAREHOUSE", "ken.warehouse2", "approved", None,
     (("PRN-LBL-4IN", 3), ("SCN-RING-BT", 8))),
    ("2026-10-26 08:05", "SUP-012", "CC-IT-OPS", "leo.procure2", "submitted", None,
     (("SRV-PSU-800W", 4), ("SRV-NIC-25G", 4))),
    ("2026-10-28 13:45", "SUP-001", "CC-IT-OPS", "grace.procure", "draft", None,
     (("MON-27-4K", 15), ("MON-24-FHD", 10))),
    ("2026-10-29 10:30", "SUP-014", "CC-FACILITIES", "leo.procure2", "draft", None,
     (("CHR-TASK-ERG", 8), ("LAMP-LED-DESK", 8))),
    ("2026-10-30 09:10", "SUP-017", "CC-IT-OPS", "grace.procure", "submitted", None,
     (("SSD-1TB-NVME", 40), ("USB-64GB-ENC", 25))),
    ("2026-10-31 11:00", "SUP-004", "CC-WAREHOUSE", "frank.warehouse", "submitted", None,
     (("PAL-EUR-USED", 300), ("PAL-WRAP-HAND", 48))),
)  # fmt: skip

_COST_CENTRES: dict[str, tuple[str, float]] = {
    "CC-IT-OPS": ("IT Operations", 150_000.00),
    "CC-WAREHOUSE": ("Warehouse Operations", 60_000.00),
    "CC-PROCUREMENT": ("Procurement", 8_000.00),
    # Nearly spent for the year: the demo's "over budget" case.
    "CC-FACILITIES": ("Facilities", 10_500.00),
    "CC-ENGINEERING": ("Engineering", 60_000.00),
}


def _purchase_orders() -> tuple[PurchaseOrder, ...]:
    prices = {(entry.supplier_id, entry.sku): entry.unit_price for entry in SEED_CATALOGUE}
    orders = []
    for n, (created, supplier, centre, requester, state, reason, lines) in enumerate(_ORDERS, 1):
        priced = tuple(
            OrderLine(sku=sku, quantity=qty, unit_price=prices[supplier, sku]) for sku, qty in lines
        )
        orders.append(
            PurchaseOrder(
                number=f"PO-2026-{n:04d}",
                supplier_id=supplier,
                cost_centre=centre,
                requester=requester,
                lines=priced,
                total_amount=sum(round(line.line_total * 100) for line in priced) / 100,
                state=POState(state),
                created_at=at(created),
                cancel_reason=reason,
            )
        )
    return tuple(orders)


SEED_PURCHASE_ORDERS: tuple[PurchaseOrder, ...] = _purchase_orders()


def _committed_cents(code: str) -> int:
    return sum(
        round(order.total_amount * 100)
        for order in SEED_PURCHASE_ORDERS
        if order.cost_centre == code and order.state is not POState.CANCELLED
    )


SEED_COST_CENTRES: tuple[CostCentre, ...] = tuple(
    CostCentre(code=code, name=name, budget=budget, committed=_committed_cents(code) / 100)
    for code, (name, budget) in _COST_CENTRES.items()
)
