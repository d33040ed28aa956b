"""The seeded demo data: big enough to be realistic, internally consistent, and reproducible."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tools.local import SEED_CIS, SEED_MANAGERS, SEED_USERS, open_local_systems, reset_local_systems
from tools.local.engine import local_engine
from tools.local.schema import catalogue, metadata, reservations, suppliers, users
from tools.models import ChangeState, IncidentState, NewIncident, NewPurchaseOrder, OrderLine, POState
from tools.spec import Systems

ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
BRIEF_ROLES = {
    "requester",
    "service_desk",
    "incident_manager",
    "change_manager",
    "warehouse_manager",
    "procurement_manager",
    "finance_controller",
}
USER_IDS = {user_id for user_id, _, _ in SEED_USERS}
ALL = 10_000


@pytest.fixture(scope="module")
def path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("seed") / "systems.db"
    reset_local_systems(path)
    return path


@pytest.fixture(scope="module")
def systems(path: Path) -> Systems:
    return open_local_systems(path)


def _rows(path: Path, table: Any) -> list[dict[str, Any]]:
    engine = local_engine(path)
    try:
        with engine.connect() as conn:
            return sorted((row._asdict() for row in conn.execute(select(table))), key=repr)
    finally:
        engine.dispose()


def test_seed_sizes(tmp_path: Path) -> None:
    summary = reset_local_systems(tmp_path / "systems.db")
    assert summary.incidents >= 40 and summary.changes >= 10 and summary.cis >= 30
    assert summary.skus >= 150 and summary.warehouses == 5 and summary.suppliers >= 15
    assert summary.purchase_orders >= 20 and summary.cost_centres == 5 and summary.users == 12
    assert summary.stock_rows >= summary.skus * 2 and summary.catalogue_entries >= summary.skus


def test_users_cover_every_role_and_manager_of_the_brief(path: Path) -> None:
    assert set().union(*(roles for _, _, roles in SEED_USERS)) == BRIEF_ROLES
    assert {uid: roles for uid, _, roles in SEED_USERS}["ivan.ops"] == ("service_desk", "requester")
    stored = {row["id"]: row for row in _rows(path, users)}
    assert set(stored) == USER_IDS
    assert {uid: row["manager"] for uid, row in stored.items()} == SEED_MANAGERS
    assert (
        SEED_MANAGERS["alice.requester"] == "grace.procure" and SEED_MANAGERS["ivan.ops"] == "dave.incident"
    )
    assert SEED_MANAGERS["judy.cio"] is None and SEED_MANAGERS["leo.procure2"] == "judy.cio"


def test_cmdb_is_consistent(systems: Systems) -> None:
    by_name = {ci.name: ci for ci in SEED_CIS}
    assert {ci.ci_class for ci in SEED_CIS} == {"service", "host", "database", "network", "application"}
    for ci in SEED_CIS:
        assert ci.owner in USER_IDS
        assert all(by_name[dep].environment == ci.environment for dep in ci.depends_on), ci.name
        assert systems.itsm.get_configuration_item(ci.name) == ci
    for service in (
        "payments-api",
        "checkout-web",
        "inventory-service",
        "erp-core",
        "vpn-gateway",
        "identity-sso",
    ):
        assert (by_name[service].environment, by_name[f"{service}-staging"].environment) == (
            "prod",
            "staging",
        )


def test_incidents_are_consistent(systems: Systems) -> None:
    incidents = sorted(systems.itsm.search_incidents(limit=ALL), key=lambda incident: incident.number)
    assert {i.state for i in incidents} == set(IncidentState)
    assert {i.priority for i in incidents} == {1, 2, 3, 4}
    assert [i.opened_at for i in incidents] == sorted(i.opened_at for i in incidents)
    for n, incident in enumerate(incidents, 1):
        assert incident.number == f"INC{10_000 + n:07d}"
        assert incident.opened_at < ANCHOR and incident.caller in USER_IDS
        assert incident.assigned_to is None or incident.assigned_to in USER_IDS
        assert {note.author for note in incident.work_notes} <= USER_IDS
        for name in (incident.ci, incident.service):
            if name is not None:
                systems.itsm.get_configuration_item(name)
        finished = incident.state in (IncidentState.RESOLVED, IncidentState.CLOSED)
        assert (incident.resolved_at is not None) == finished == bool(incident.resolution_notes), (
            incident.number
        )
        if incident.resolved_at is not None:
            assert incident.opened_at < incident.resolved_at < ANCHOR and incident.resolution_code


def test_changes_are_consistent(systems: Systems) -> None:
    changes = [systems.itsm.get_change(f"CHG{30_000 + n:07d}") for n in range(1, 16)]
    assert {change.state for change in changes} == set(ChangeState)
    for change in changes:
        systems.itsm.get_configuration_item(change.ci)
        assert change.requested_by in USER_IDS
        if change.planned_start and change.planned_end:
            assert change.planned_start < change.planned_end


def test_items_stock_and_reservations_are_consistent(systems: Systems, path: Path) -> None:
    inventory = systems.inventory
    assert {w.code for w in inventory.list_warehouses()} == {"AMS-1", "BER-2", "LON-1", "MAD-1", "WAW-1"}
    items = inventory.search_items(limit=ALL)
    assert len(items) >= 150 and all(re.fullmatch(r"[A-Z0-9]+(-[A-Z0-9]+)+", i.sku) for i in items)
    levels = [level for item in items for level in inventory.get_stock(item.sku)]
    assert all(0 <= level.reserved <= level.on_hand for level in levels)
    below = [level for level in levels if level.on_hand < level.reorder_point]
    assert 0 < len(below) < len(levels) / 4
    reserved: dict[tuple[str, str], int] = defaultdict(int)
    for row in _rows(path, reservations):
        reserved[row["sku"], row["warehouse"]] += row["quantity"]
    assert {(lv.sku, lv.warehouse): lv.reserved for lv in levels if lv.reserved} == dict(reserved)


def test_catalogue_and_suppliers_are_consistent(systems: Systems, path: Path) -> None:
    costs = {item.sku: item.unit_cost for item in systems.inventory.search_items(limit=ALL)}
    entries = _rows(path, catalogue)
    assert set(costs) == {entry["sku"] for entry in entries}, "every SKU can be bought somewhere"
    assert all(0.9 * costs[e["sku"]] <= e["unit_price"] <= 1.1 * costs[e["sku"]] for e in entries)
    supplier_rows = _rows(path, suppliers)
    assert {row["id"] for row in supplier_rows} == {entry["supplier_id"] for entry in entries}
    assert [row["id"] for row in supplier_rows if not row["active"]] == ["SUP-009"]


def test_purchase_orders_and_budgets_are_consistent(systems: Systems, path: Path) -> None:
    procurement = systems.procurement
    offered = {(entry["supplier_id"], entry["sku"]): entry["unit_price"] for entry in _rows(path, catalogue)}
    orders = procurement.list_purchase_orders(limit=ALL)
    assert {order.state for order in orders} == set(POState)
    committed: dict[str, float] = defaultdict(float)
    for order in orders:
        assert re.fullmatch(r"PO-2026-\d{4}", order.number) and order.requester in USER_IDS
        assert order.total_amount == pytest.approx(sum(line.line_total for line in order.lines), abs=0.001)
        assert all(offered[order.supplier_id, line.sku] == line.unit_price for line in order.lines)
        if order.state is not POState.CANCELLED:
            committed[order.cost_centre] += order.total_amount
        else:
            assert order.cancel_reason
    for code in ("CC-IT-OPS", "CC-WAREHOUSE", "CC-PROCUREMENT", "CC-FACILITIES", "CC-ENGINEERING"):
        centre = procurement.get_cost_centre(code)
        assert centre.committed == pytest.approx(committed[code], abs=0.001)
        assert 0 < centre.remaining < centre.budget


def test_new_records_are_numbered_after_the_seed(tmp_path: Path) -> None:
    now = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
    systems = open_local_systems(tmp_path / "systems.db", now=lambda: now)
    incident = systems.itsm.create_incident(
        NewIncident(short_description="Printer jam", caller="bob.requester")
    )
    assert (incident.number, incident.opened_at) == ("INC0010049", now)
    entry = systems.procurement.search_catalogue(supplier_id="SUP-001", limit=1)[0]
    line = OrderLine(sku=entry.sku, quantity=1, unit_price=entry.unit_price)
    order = systems.procurement.create_purchase_order(
        NewPurchaseOrder(
            supplier_id="SUP-001",
            cost_centre="CC-IT-OPS",
            requester="grace.procure",
            lines=(line,),
            total_amount=line.line_total,
        )
    )
    assert order.number == "PO-2026-0025"


def test_reopening_keeps_data_and_reset_reseeds_identically(tmp_path: Path) -> None:
    fresh, used = tmp_path / "fresh.db", tmp_path / "used.db"
    first_summary = reset_local_systems(fresh)
    systems = open_local_systems(used)
    number = systems.itsm.create_incident(
        NewIncident(short_description="Desk phone dead", caller="ivan.ops")
    ).number
    systems.inventory.reserve_stock("SSD-1TB-NVME", "AMS-1", 2, reference="SO-1")
    assert open_local_systems(used).itsm.get_incident(number).number == number
    assert reset_local_systems(used) == first_summary
    for table in metadata.sorted_tables:
        assert _rows(used, table) == _rows(fresh, table), table.name
