"""The catalogue's tools against the real local systems: what each call leaves in the backend, what
invalid arguments are refused with (before any backend is touched), and the facts policy reads."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tools.catalogue import build_catalogue
from tools.errors import InvalidArguments, NotFound
from tools.local import SEED_CIS, SEED_USERS, open_local_systems
from tools.models import (
    Adjustment,
    ChangeRequest,
    Incident,
    PurchaseOrder,
    Requisition,
    Reservation,
    StockLevel,
    Transfer,
)
from tools.registry import ToolRegistry, result_to_json, run
from tools.spec import CallContext, Systems

ACTOR = "ivan.ops"
SSD, AMS, BER = "SSD-1TB-NVME", "AMS-1", "BER-2"
SSD_LINE = {"sku": SSD, "quantity": 10, "unit_price": 77.42}

# One valid call of every tool, on seeded data.
VALID: dict[str, dict[str, Any]] = {
    "knowledge_search": {"query": "disk full on pay-app-01", "kind": "runbook", "k": 3},
    "itsm_search_incidents": {"text": "502", "limit": 5},
    "itsm_get_incident": {"number": "INC0010032"},
    "itsm_get_change_request": {"number": "CHG0030010"},
    "itsm_get_configuration_item": {"name": "payments-api"},
    "inventory_search_items": {"text": "SSD", "category": "storage"},
    "inventory_get_stock": {"sku": SSD, "warehouse": AMS},
    "procurement_search_catalogue": {"sku": SSD},
    "procurement_search_suppliers": {"text": "Nordtech"},
    "procurement_get_purchase_order": {"number": "PO-2026-0024"},
    "itsm_create_incident": {
        "short_description": "Label printer at AMS-1 dock 3 jams on every label",
        "description": "Since this morning the dock 3 label printer jams after each label.",
        "priority": 3,
        "service": "inventory-service",
    },
    "itsm_update_incident": {"number": "INC0010048", "priority": 3, "assigned_to": "carol.desk"},
    "itsm_add_work_note": {"number": "INC0010047", "text": "Checked pool metrics on all nodes."},
    "itsm_resolve_incident": {
        "number": "INC0010045",
        "resolution_code": "Solution provided",
        "resolution_notes": "Restarted the stuck worker; queue drained and verified with the caller.",
    },
    "itsm_create_change_request": {
        "ci": "payments-api-staging",
        "short_description": "Restart payments-api-staging",
        "description": "Rolling restart to pick up the new pool size; roll back by redeploying.",
        "risk": "low",
        "planned_start": "2026-11-20T22:00:00+01:00",
        "planned_end": "2026-11-20T22:30:00+01:00",
    },
    "inventory_reserve_stock": {"sku": SSD, "warehouse": AMS, "quantity": 5, "reference": "INC0010047"},
    "inventory_transfer_stock": {
        "sku": SSD,
        "from_warehouse": AMS,
        "to_warehouse": BER,
        "quantity": 10,
        "reason": "Berlin is below its reorder point",
    },
    "inventory_adjust_stock": {
        "sku": SSD,
        "warehouse": AMS,
        "delta": -2,
        "kind": "write_off",
        "reason": "Two units damaged in transit",
    },
    "inventory_set_reorder_point": {"sku": SSD, "warehouse": BER, "reorder_point": 25},
    "procurement_create_requisition": {
        "cost_centre": "CC-IT-OPS",
        "lines": [SSD_LINE],
        "justification": "Spare SSDs for laptop repairs in Berlin",
    },
    "procurement_create_purchase_order": {
        "supplier_id": "SUP-002",
        "cost_centre": "CC-IT-OPS",
        "lines": [SSD_LINE],
        "total_amount": 774.2,
    },
    "procurement_cancel_purchase_order": {
        "number": "PO-2026-0022",
        "reason": "Duplicate of an earlier order",
    },
}


@pytest.fixture(scope="module")
def registry() -> ToolRegistry:
    return ToolRegistry(build_catalogue())


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "systems.sqlite"


class _Runbooks:
    """A stand-in knowledge base: the knowledge package has its own tests; here only the tool's plumbing."""

    def search(self, query: str, *, k: int = 5, kind: str | None = None) -> list[dict[str, Any]]:
        hit = {"citation": {"id": "rb:disk-full#mitigation"}, "kind": kind or "runbook", "query": query}
        return [hit][:k]


@pytest.fixture
def systems(db: Path) -> Systems:
    return dataclasses.replace(open_local_systems(db), knowledge=_Runbooks())


@pytest.fixture(scope="module")
def shared_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One seeded file for tests that must leave it untouched."""
    path = tmp_path_factory.mktemp("untouched") / "systems.sqlite"
    open_local_systems(path)
    return path


def _snapshot(path: Path) -> list[str]:
    """Every table's every row, as SQL."""
    with sqlite3.connect(path) as conn:
        return list(conn.iterdump())


def _call(
    registry: ToolRegistry,
    systems: Systems,
    name: str,
    args: Any,
    *,
    actor: str = ACTOR,
    key: str | None = None,
) -> Any:
    return run(registry.get(name), args, CallContext(systems=systems, actor_id=actor, idempotency_key=key))


def _levels(systems: Systems, sku: str) -> dict[str, StockLevel]:
    return {level.warehouse: level for level in systems.inventory.get_stock(sku)}


# --- every tool runs --------------------------------------------------------------------------------


def test_every_tool_has_a_valid_call_here(registry: ToolRegistry) -> None:
    assert set(VALID) == set(registry.names())


@pytest.mark.parametrize("name", sorted(VALID))
def test_every_tool_runs_on_the_local_systems_and_answers_in_json(
    registry: ToolRegistry, systems: Systems, name: str
) -> None:
    result = _call(registry, systems, name, VALID[name])
    assert result_to_json(result).startswith(("{", "["))


READS: dict[str, Callable[[Systems], Any]] = {
    "itsm_search_incidents": lambda s: s.itsm.search_incidents(text="502", limit=5),
    "itsm_get_incident": lambda s: s.itsm.get_incident("INC0010032"),
    "itsm_get_change_request": lambda s: s.itsm.get_change("CHG0030010"),
    "itsm_get_configuration_item": lambda s: s.itsm.get_configuration_item("payments-api"),
    "inventory_search_items": lambda s: s.inventory.search_items(text="SSD", category="storage", limit=10),
    "inventory_get_stock": lambda s: s.inventory.get_stock(SSD, AMS),
    "procurement_search_catalogue": lambda s: s.procurement.search_catalogue(sku=SSD, limit=10),
    "procurement_search_suppliers": lambda s: s.procurement.search_suppliers(text="Nordtech", limit=10),
    "procurement_get_purchase_order": lambda s: s.procurement.get_purchase_order("PO-2026-0024"),
}


@pytest.mark.parametrize("name", sorted(READS))
def test_reads_return_what_the_backend_holds(registry: ToolRegistry, systems: Systems, name: str) -> None:
    result = _call(registry, systems, name, VALID[name])
    assert result == READS[name](systems)
    assert result


def test_search_limit_defaults_to_ten(registry: ToolRegistry, systems: Systems) -> None:
    assert len(_call(registry, systems, "itsm_search_incidents", {})) == 10


# --- writes: what the backend holds afterwards --------------------------------------------------------


def test_create_incident_is_opened_for_the_actor(registry: ToolRegistry, systems: Systems) -> None:
    created = _call(
        registry, systems, "itsm_create_incident", VALID["itsm_create_incident"], actor="bob.requester"
    )
    assert isinstance(created, Incident)
    assert systems.itsm.get_incident(created.number) == created
    assert (created.caller, created.priority, created.service) == ("bob.requester", 3, "inventory-service")
    assert created.short_description == VALID["itsm_create_incident"]["short_description"]


def test_update_incident_changes_only_the_given_fields(registry: ToolRegistry, systems: Systems) -> None:
    before = systems.itsm.get_incident("INC0010048")
    updated = _call(registry, systems, "itsm_update_incident", VALID["itsm_update_incident"])
    assert systems.itsm.get_incident("INC0010048") == updated
    assert (updated.priority, updated.assigned_to) == (3, "carol.desk")
    assert (updated.state, updated.assignment_group) == (before.state, before.assignment_group)


def test_update_incident_moves_state(registry: ToolRegistry, systems: Systems) -> None:
    updated = _call(registry, systems, "itsm_update_incident", {"number": "INC0010048", "state": "on_hold"})
    assert systems.itsm.get_incident("INC0010048").state == updated.state == "on_hold"


def test_work_note_is_written_by_the_actor(registry: ToolRegistry, systems: Systems) -> None:
    noted = _call(registry, systems, "itsm_add_work_note", VALID["itsm_add_work_note"], actor="dave.incident")
    last = systems.itsm.get_incident("INC0010047").work_notes[-1]
    assert noted.work_notes[-1] == last
    assert (last.author, last.text) == ("dave.incident", VALID["itsm_add_work_note"]["text"])


def test_resolve_incident_records_the_resolution(registry: ToolRegistry, systems: Systems) -> None:
    _call(registry, systems, "itsm_resolve_incident", VALID["itsm_resolve_incident"])
    held = systems.itsm.get_incident("INC0010045")
    assert (held.state, held.resolution_code) == ("resolved", "Solution provided")
    assert held.resolution_notes == VALID["itsm_resolve_incident"]["resolution_notes"]


def test_create_change_request_is_requested_by_the_actor(registry: ToolRegistry, systems: Systems) -> None:
    change = _call(
        registry,
        systems,
        "itsm_create_change_request",
        VALID["itsm_create_change_request"],
        actor="erin.change",
    )
    assert isinstance(change, ChangeRequest)
    assert systems.itsm.get_change(change.number) == change
    assert (change.requested_by, change.ci, change.risk, change.state) == (
        "erin.change",
        "payments-api-staging",
        "low",
        "draft",
    )
    assert (
        change.planned_start is not None and change.planned_start.isoformat() == "2026-11-20T21:00:00+00:00"
    )


def test_reserve_stock_reserves_exactly_the_quantity(registry: ToolRegistry, systems: Systems) -> None:
    before = _levels(systems, SSD)
    reservation = _call(registry, systems, "inventory_reserve_stock", VALID["inventory_reserve_stock"])
    after = _levels(systems, SSD)
    assert isinstance(reservation, Reservation) and reservation.quantity == 5
    assert after[AMS].reserved == before[AMS].reserved + 5
    assert after[AMS].on_hand == before[AMS].on_hand
    assert {w: after[w] for w in after if w != AMS} == {w: before[w] for w in before if w != AMS}


def test_transfer_moves_exactly_the_quantity_between_the_two_rows(
    registry: ToolRegistry, systems: Systems
) -> None:
    before = _levels(systems, SSD)
    transfer = _call(registry, systems, "inventory_transfer_stock", VALID["inventory_transfer_stock"])
    after = _levels(systems, SSD)
    assert isinstance(transfer, Transfer)
    assert (transfer.from_warehouse, transfer.to_warehouse, transfer.quantity) == (AMS, BER, 10)
    assert after[AMS].on_hand == before[AMS].on_hand - 10
    assert after[BER].on_hand == before[BER].on_hand + 10
    assert {w: after[w] for w in after if w not in (AMS, BER)} == {
        w: before[w] for w in before if w not in (AMS, BER)
    }


def test_adjust_stock_changes_on_hand_by_delta(registry: ToolRegistry, systems: Systems) -> None:
    before = _levels(systems, SSD)[AMS]
    adjustment = _call(registry, systems, "inventory_adjust_stock", VALID["inventory_adjust_stock"])
    assert isinstance(adjustment, Adjustment)
    assert adjustment.on_hand_after == _levels(systems, SSD)[AMS].on_hand == before.on_hand - 2


def test_cycle_count_may_add_units(registry: ToolRegistry, systems: Systems) -> None:
    before = _levels(systems, SSD)[AMS]
    args = {**VALID["inventory_adjust_stock"], "delta": 3, "kind": "cycle_count"}
    _call(registry, systems, "inventory_adjust_stock", args)
    assert _levels(systems, SSD)[AMS].on_hand == before.on_hand + 3


def test_set_reorder_point(registry: ToolRegistry, systems: Systems) -> None:
    level = _call(registry, systems, "inventory_set_reorder_point", VALID["inventory_set_reorder_point"])
    assert level == _levels(systems, SSD)[BER]
    assert level.reorder_point == 25


def test_requisition_is_raised_for_the_actor(registry: ToolRegistry, systems: Systems) -> None:
    args = VALID["procurement_create_requisition"]
    requisition = _call(registry, systems, "procurement_create_requisition", args, actor="alice.requester")
    assert isinstance(requisition, Requisition)
    assert (requisition.requester, requisition.cost_centre, requisition.total_amount) == (
        "alice.requester",
        "CC-IT-OPS",
        774.2,
    )
    assert [line.model_dump(exclude={"line_total"}) for line in requisition.lines] == [SSD_LINE]


def test_purchase_order_is_created_for_the_actor(registry: ToolRegistry, systems: Systems) -> None:
    committed = systems.procurement.get_cost_centre("CC-IT-OPS").committed
    args = VALID["procurement_create_purchase_order"]
    order = _call(registry, systems, "procurement_create_purchase_order", args, actor="grace.procure")
    assert isinstance(order, PurchaseOrder)
    assert systems.procurement.get_purchase_order(order.number) == order
    assert (order.requester, order.supplier_id, order.total_amount) == ("grace.procure", "SUP-002", 774.2)
    assert systems.procurement.get_cost_centre("CC-IT-OPS").committed == pytest.approx(committed + 774.2)


def test_cancel_purchase_order(registry: ToolRegistry, systems: Systems) -> None:
    args = VALID["procurement_cancel_purchase_order"]
    cancelled = _call(registry, systems, "procurement_cancel_purchase_order", args)
    held = systems.procurement.get_purchase_order("PO-2026-0022")
    assert cancelled == held
    assert (held.state, held.cancel_reason) == ("cancelled", "Duplicate of an earlier order")


@pytest.mark.parametrize(
    "name",
    [
        "itsm_create_incident",
        "itsm_create_change_request",
        "inventory_reserve_stock",
        "inventory_transfer_stock",
        "inventory_adjust_stock",
        "procurement_create_requisition",
        "procurement_create_purchase_order",
    ],
)
def test_a_retried_call_with_the_same_key_acts_once(
    registry: ToolRegistry, systems: Systems, db: Path, name: str
) -> None:
    first = _call(registry, systems, name, VALID[name], key="thread-1:call-1")
    after_first = _snapshot(db)
    again = _call(registry, systems, name, VALID[name], key="thread-1:call-1")
    assert again == first
    assert _snapshot(db) == after_first


# --- invalid arguments never reach a backend -------------------------------------------------------------


def _with(name: str, **changes: Any) -> dict[str, Any]:
    return {**VALID[name], **changes}


def _without(name: str, field: str) -> dict[str, Any]:
    return {key: value for key, value in VALID[name].items() if key != field}


# (tool, raw arguments, text the message must contain)
INVALID: list[tuple[str, Any, str]] = [
    ("inventory_transfer_stock", _with("inventory_transfer_stock", quantity="ten"), "quantity"),
    ("inventory_transfer_stock", _with("inventory_transfer_stock", quantity=0), "quantity"),
    ("inventory_transfer_stock", _with("inventory_transfer_stock", quantity=100_001), "quantity"),
    ("inventory_transfer_stock", _with("inventory_transfer_stock", to_warehouse=AMS), "from_warehouse"),
    ("inventory_transfer_stock", _with("inventory_transfer_stock", from_warehouse="AMS1"), "from_warehouse"),
    ("inventory_transfer_stock", _without("inventory_transfer_stock", "reason"), "reason"),
    ("inventory_transfer_stock", '{"sku": "SSD-1TB-NVME", "quantity": 1', "JSON"),
    ("inventory_transfer_stock", "[1, 2]", "JSON object"),
    ("inventory_reserve_stock", _with("inventory_reserve_stock", quantity=0), "quantity"),
    ("inventory_reserve_stock", _with("inventory_reserve_stock", quantity=-5), "quantity"),
    ("inventory_reserve_stock", _with("inventory_reserve_stock", sku="ssd-1tb-nvme"), "sku"),
    ("inventory_adjust_stock", _with("inventory_adjust_stock", delta=0), "delta"),
    ("inventory_adjust_stock", _with("inventory_adjust_stock", delta=4), "delta"),
    ("inventory_adjust_stock", _with("inventory_adjust_stock", kind="theft"), "kind"),
    ("inventory_set_reorder_point", _with("inventory_set_reorder_point", reorder_point=-1), "reorder_point"),
    ("inventory_get_stock", {"sku": SSD, "warehouse": "Amsterdam"}, "warehouse"),
    ("inventory_search_items", {"limit": 0}, "limit"),
    ("inventory_search_items", {"limit": 51}, "limit"),
    ("itsm_get_incident", {"number": "12345"}, "number"),
    ("itsm_get_incident", {"number": "INC0010032", "caller": "judy.cio"}, "caller"),
    ("itsm_get_change_request", {"number": "INC0010032"}, "number"),
    ("itsm_search_incidents", {"priority": 5}, "priority"),
    ("itsm_search_incidents", {"state": "open"}, "state"),
    ("itsm_create_incident", _with("itsm_create_incident", priority=0), "priority"),
    ("itsm_create_incident", _with("itsm_create_incident", caller="judy.cio"), "caller"),
    ("itsm_create_incident", _with("itsm_create_incident", short_description="x" * 161), "short_description"),
    ("itsm_update_incident", {"number": "INC0010048"}, "at least one of priority, state"),
    ("itsm_update_incident", {"number": "INC0010048", "priority": None}, "at least one of priority"),
    ("itsm_update_incident", {"number": "INC0010048", "state": "resolved"}, "state"),
    ("itsm_add_work_note", _with("itsm_add_work_note", author="dave.incident"), "author"),
    ("itsm_resolve_incident", _with("itsm_resolve_incident", resolution_notes="done"), "resolution_notes"),
    ("itsm_resolve_incident", _without("itsm_resolve_incident", "resolution_notes"), "resolution_notes"),
    ("itsm_resolve_incident", _with("itsm_resolve_incident", resolution_code="fixed"), "resolution_code"),
    ("itsm_resolve_incident", _with("itsm_resolve_incident", resolved_by="dave.incident"), "resolved_by"),
    (
        "itsm_create_change_request",
        _with("itsm_create_change_request", planned_end="2026-11-20T21:00:00+01:00"),
        "planned_end must be after planned_start",
    ),
    (
        "itsm_create_change_request",
        _with("itsm_create_change_request", planned_start="2026-11-20T22:00:00"),
        "planned_start",
    ),
    ("itsm_create_change_request", _with("itsm_create_change_request", risk="none"), "risk"),
    ("itsm_create_change_request", _with("itsm_create_change_request", ci="Payments API"), "ci"),
    (
        "procurement_create_purchase_order",
        _with("procurement_create_purchase_order", requester="x.y"),
        "requester",
    ),
    (
        "procurement_create_purchase_order",
        _with("procurement_create_purchase_order", supplier_id="SUP-2"),
        "supplier",
    ),
    (
        "procurement_create_purchase_order",
        _with("procurement_create_purchase_order", cost_centre="IT-OPS"),
        "cost",
    ),
    ("procurement_create_purchase_order", _with("procurement_create_purchase_order", lines=[]), "lines"),
    (
        "procurement_create_purchase_order",
        _with("procurement_create_purchase_order", lines=[SSD_LINE] * 51),
        "lines",
    ),
    (
        "procurement_create_purchase_order",
        _with("procurement_create_purchase_order", total_amount=0),
        "total_amount",
    ),
    (
        "procurement_create_purchase_order",
        _with("procurement_create_purchase_order", total_amount=700.0),
        "total_amount 700.00 is not the sum of the lines (774.20)",
    ),
    (
        "procurement_create_purchase_order",
        _with("procurement_create_purchase_order", lines=[{**SSD_LINE, "discount": 0.1}]),
        "lines.0.discount",
    ),
    (
        "procurement_create_purchase_order",
        _with("procurement_create_purchase_order", lines=[{**SSD_LINE, "quantity": 0}]),
        "lines.0.quantity",
    ),
    (
        "procurement_create_requisition",
        _with("procurement_create_requisition", justification="need"),
        "justification",
    ),
    (
        "procurement_create_requisition",
        _without("procurement_create_requisition", "cost_centre"),
        "cost_centre",
    ),
    ("procurement_get_purchase_order", {"number": "PO-42"}, "number"),
    ("procurement_cancel_purchase_order", _with("procurement_cancel_purchase_order", reason=""), "reason"),
    ("procurement_search_catalogue", {"supplier_id": "ACME"}, "supplier_id"),
]


@pytest.mark.parametrize(("name", "raw", "named"), INVALID)
def test_invalid_arguments_are_refused_before_the_backend(
    registry: ToolRegistry, shared_db: Path, name: str, raw: Any, named: str
) -> None:
    before = _snapshot(shared_db)
    with pytest.raises(InvalidArguments) as raised:
        _call(registry, open_local_systems(shared_db), name, raw)
    assert raised.value.tool == name
    assert named in str(raised.value)
    assert _snapshot(shared_db) == before


class _Untouchable:
    """Systems that fail the test when any backend is as much as looked at."""

    def __getattr__(self, name: str) -> Any:
        pytest.fail(f"a backend was touched ({name}) for invalid arguments")


@pytest.mark.parametrize("name", sorted(VALID))
def test_an_acting_user_in_the_arguments_is_refused_without_touching_a_backend(
    registry: ToolRegistry, name: str
) -> None:
    ctx = CallContext(systems=_Untouchable(), actor_id=ACTOR)  # type: ignore[arg-type]
    with pytest.raises(InvalidArguments, match="requester"):
        run(registry.get(name), {**VALID[name], "requester": "judy.cio"}, ctx)


@pytest.mark.parametrize(
    ("name", "field"),
    [(spec.name, field) for spec in build_catalogue() for field in spec.json_schema().get("required", [])],
)
def test_each_missing_required_argument_is_named(registry: ToolRegistry, name: str, field: str) -> None:
    ctx = CallContext(systems=_Untouchable(), actor_id=ACTOR)  # type: ignore[arg-type]
    with pytest.raises(InvalidArguments, match=f"{field}: Field required"):
        run(registry.get(name), _without(name, field), ctx)


# --- facts for policy ------------------------------------------------------------------------------------


def _facts(registry: ToolRegistry, systems: Systems, name: str, raw: Any) -> dict[str, Any]:
    spec = registry.get(name)
    assert spec.facts is not None
    return dict(spec.facts(spec.parse_args(raw), systems))


def test_resolve_facts_carry_the_incident_priority(registry: ToolRegistry, systems: Systems) -> None:
    p1 = _with("itsm_resolve_incident", number="INC0010047")
    assert _facts(registry, systems, "itsm_resolve_incident", p1) == {"priority": 1}
    p3 = VALID["itsm_resolve_incident"]
    assert _facts(registry, systems, "itsm_resolve_incident", p3) == {"priority": 3}


@pytest.mark.parametrize(
    ("ci", "expected"),
    [
        ("payments-api", {"environment": "prod", "ci_class": "service"}),
        ("payments-api-staging", {"environment": "staging", "ci_class": "service"}),
        ("payments-db", {"environment": "prod", "ci_class": "database"}),
        ("pay-app-01", {"environment": "prod", "ci_class": "host"}),
    ],
)
def test_change_facts_carry_environment_and_class(
    registry: ToolRegistry, systems: Systems, ci: str, expected: dict[str, str]
) -> None:
    args = _with("itsm_create_change_request", ci=ci)
    assert _facts(registry, systems, "itsm_create_change_request", args) == expected


def test_transfer_facts_value_the_units_moved(registry: ToolRegistry, systems: Systems) -> None:
    unit_cost = systems.inventory.get_item(SSD).unit_cost
    facts = _facts(registry, systems, "inventory_transfer_stock", VALID["inventory_transfer_stock"])
    assert facts == {"value": round(10 * unit_cost, 2), "unit_cost": unit_cost}
    assert facts["value"] == 790.0


def test_adjust_facts_value_the_units_whatever_the_sign(registry: ToolRegistry, systems: Systems) -> None:
    unit_cost = systems.inventory.get_item(SSD).unit_cost
    removed = _facts(registry, systems, "inventory_adjust_stock", _with("inventory_adjust_stock", delta=-3))
    added = _with("inventory_adjust_stock", delta=3, kind="cycle_count")
    assert removed["value"] == _facts(registry, systems, "inventory_adjust_stock", added)["value"]
    assert removed["value"] == round(3 * unit_cost, 2)


@pytest.mark.parametrize("name", ["inventory_transfer_stock", "inventory_adjust_stock"])
def test_stock_facts_follow_the_item_master_not_the_arguments(
    registry: ToolRegistry, systems: Systems, db: Path, name: str
) -> None:
    assert _facts(registry, systems, name, VALID[name])["unit_cost"] == 79.0
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE items SET unit_cost = 1000.0 WHERE sku = ?", (SSD,))
    units = abs(VALID[name].get("quantity") or VALID[name]["delta"])
    assert _facts(registry, systems, name, VALID[name]) == {"value": units * 1000.0, "unit_cost": 1000.0}
    # Nor can the model state a value or a cost of its own: they are not arguments of these tools.
    for field in ("value", "unit_cost"):
        with pytest.raises(InvalidArguments, match=field):
            registry.get(name).parse_args({**VALID[name], field: 0.01})


PO, REQUISITION = "procurement_create_purchase_order", "procurement_create_requisition"


def _order(supplier: str, *lines: dict[str, Any]) -> dict[str, Any]:
    total = round(sum(line["quantity"] * line["unit_price"] for line in lines), 2)
    return {"supplier_id": supplier, "cost_centre": "CC-IT-OPS", "lines": list(lines), "total_amount": total}


def _refusal(registry: ToolRegistry, systems: Systems, name: str, raw: Any) -> InvalidArguments:
    with pytest.raises(InvalidArguments) as refused:
        _facts(registry, systems, name, raw)
    assert refused.value.tool == name
    return refused.value


def test_po_facts_value_the_lines_at_the_suppliers_catalogue_prices(
    registry: ToolRegistry, systems: Systems
) -> None:
    # SUP-002 lists SSD-1TB-NVME at 77.42 and MON-24-FHD at 154.96; paying more than the list is allowed.
    dear = {"sku": "MON-24-FHD", "quantity": 3, "unit_price": 160.0}
    facts = _facts(registry, systems, PO, _order("SUP-002", SSD_LINE, dear))
    assert facts == {
        "value": 1254.2,  # 10 × 77.42 + 3 × 160.00: a line above the list counts at its own price
        "lines_total": 1254.2,
        "catalogue_prices": {SSD: 77.42, "MON-24-FHD": 154.96},
        "cost_centre_remaining": systems.procurement.get_cost_centre("CC-IT-OPS").remaining,
    }


def test_po_facts_refuse_a_line_priced_below_the_catalogue(registry: ToolRegistry, systems: Systems) -> None:
    attack = _order("SUP-001", {"sku": "LAP-14-PRO", "quantity": 20, "unit_price": 1.0})
    assert attack["total_amount"] == 20.0  # consistent with its lines, so argument validation passes
    refused = _refusal(registry, systems, PO, attack)
    [problem] = refused.problems
    assert problem.startswith("lines.0.unit_price: 1.00 for LAP-14-PRO is below the catalogue price 1377.50")
    assert "supplier SUP-001" in problem and "procurement_search_catalogue" in problem


def test_po_facts_name_every_line_the_catalogue_does_not_back(
    registry: ToolRegistry, systems: Systems
) -> None:
    lines = (
        SSD_LINE,
        {"sku": SSD, "quantity": 1, "unit_price": 77.41},  # one cent below the list
        {"sku": "MON-27-4K", "quantity": 1, "unit_price": 400.0},  # SUP-002 does not sell it
        {"sku": "NO-SUCH-SKU", "quantity": 1, "unit_price": 10.0},
    )
    refused = _refusal(registry, systems, PO, _order("SUP-002", *lines))
    assert [problem.split(":")[0] for problem in refused.problems] == [
        "lines.1.unit_price",
        "lines.2.sku",
        "lines.3.sku",
    ]
    assert "77.41" in refused.problems[0] and "77.42" in refused.problems[0]
    assert refused.problems[1].startswith("lines.2.sku: MON-27-4K is not offered by supplier SUP-002")


@pytest.mark.parametrize(
    ("supplier", "named"), [("SUP-099", "supplier 'SUP-099' not found"), ("SUP-009", "is inactive")]
)
def test_po_facts_refuse_a_supplier_that_cannot_sell(
    registry: ToolRegistry, systems: Systems, supplier: str, named: str
) -> None:
    refused = _refusal(registry, systems, PO, _order(supplier, SSD_LINE))
    [problem] = refused.problems
    assert problem.startswith("supplier_id: ") and named in problem


@pytest.mark.parametrize("name", [PO, REQUISITION])
def test_spend_facts_refuse_a_cost_centre_the_procurement_system_does_not_know(
    registry: ToolRegistry, systems: Systems, name: str
) -> None:
    raw = _order("SUP-002", SSD_LINE) if name == PO else _with(REQUISITION)
    refused = _refusal(registry, systems, name, {**raw, "cost_centre": "CC-NOWHERE"})
    [problem] = refused.problems
    assert problem.startswith("cost_centre: cost centre 'CC-NOWHERE' is not known")


def test_spend_facts_carry_the_budget_left_on_the_cost_centre(
    registry: ToolRegistry, systems: Systems, db: Path
) -> None:
    order = _order("SUP-002", SSD_LINE)
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE cost_centres SET budget_cents = committed_cents + 12345 WHERE code = 'CC-IT-OPS'"
        )
    assert _facts(registry, systems, PO, order)["cost_centre_remaining"] == 123.45


def test_requisition_facts_value_each_line_at_the_lowest_offer(
    registry: ToolRegistry, systems: Systems
) -> None:
    # SSD-1TB-NVME: SUP-002 77.42, SUP-017 86.90. MON-24-FHD: SUP-002 154.96, SUP-001 163.90.
    lines = [SSD_LINE, {"sku": "MON-24-FHD", "quantity": 2, "unit_price": 163.9}]
    facts = _facts(registry, systems, REQUISITION, _with(REQUISITION, lines=lines))
    assert facts == {
        "value": 1102.0,  # 774.20 + 2 × 163.90
        "lines_total": 1102.0,
        "catalogue_prices": {SSD: 77.42, "MON-24-FHD": 154.96},
        "cost_centre_remaining": systems.procurement.get_cost_centre("CC-IT-OPS").remaining,
    }


def test_requisition_facts_refuse_lines_below_every_offer_and_skus_nobody_offers(
    registry: ToolRegistry, systems: Systems
) -> None:
    lines = [
        {"sku": SSD, "quantity": 5, "unit_price": 0.5},
        {"sku": "NO-SUCH-SKU", "quantity": 1, "unit_price": 9.0},
    ]
    refused = _refusal(registry, systems, REQUISITION, _with(REQUISITION, lines=lines))
    assert refused.problems[0].startswith(
        "lines.0.unit_price: 0.50 for SSD-1TB-NVME is below the catalogue price 77.42 of supplier SUP-002"
    )
    assert refused.problems[1].startswith("lines.1.sku: NO-SUCH-SKU is not offered by any active supplier")


def test_spend_facts_follow_the_catalogue_not_the_arguments(
    registry: ToolRegistry, systems: Systems, db: Path
) -> None:
    order = _order("SUP-002", SSD_LINE)
    assert _facts(registry, systems, PO, order)["value"] == 774.2
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE catalogue SET unit_price = 80.0 WHERE supplier_id = 'SUP-002' AND sku = ?", (SSD,)
        )
    refused = _refusal(registry, systems, PO, order)
    assert "below the catalogue price 80.00 of supplier SUP-002" in refused.problems[0]


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("itsm_resolve_incident", _with("itsm_resolve_incident", number="INC9999999")),
        ("itsm_create_change_request", _with("itsm_create_change_request", ci="no-such-ci")),
        ("inventory_transfer_stock", _with("inventory_transfer_stock", sku="NO-SUCH-SKU")),
        ("inventory_adjust_stock", _with("inventory_adjust_stock", sku="NO-SUCH-SKU")),
    ],
)
def test_facts_of_unknown_records_raise_not_found(
    registry: ToolRegistry, systems: Systems, name: str, raw: dict[str, Any]
) -> None:
    with pytest.raises(NotFound):
        _facts(registry, systems, name, raw)


def test_only_policy_relevant_tools_have_facts(registry: ToolRegistry) -> None:
    assert {spec.name for spec in registry if spec.facts} == {
        "itsm_resolve_incident",
        "itsm_create_change_request",
        "inventory_transfer_stock",
        "inventory_adjust_stock",
        "procurement_create_requisition",
        "procurement_create_purchase_order",
    }


# --- the patterns admit every seeded id ---------------------------------------------------------------


def _seeded_ids(systems: Systems) -> Iterator[tuple[str, dict[str, Any]]]:
    for ci in SEED_CIS:
        yield "itsm_get_configuration_item", {"name": ci.name}
    for user, _name, _roles in SEED_USERS:
        yield "itsm_update_incident", {"number": "INC0010048", "assigned_to": user}
    for item in systems.inventory.search_items(limit=1000):
        yield "inventory_get_stock", {"sku": item.sku}
    for warehouse in systems.inventory.list_warehouses():
        yield "inventory_get_stock", {"sku": SSD, "warehouse": warehouse.code}
    for supplier in systems.procurement.search_suppliers(limit=1000):
        yield "procurement_search_catalogue", {"supplier_id": supplier.id}
    for order in systems.procurement.list_purchase_orders(limit=1000):
        yield "procurement_get_purchase_order", {"number": order.number}
        yield (
            "procurement_create_requisition",
            _with("procurement_create_requisition", cost_centre=order.cost_centre),
        )
    for incident in systems.itsm.search_incidents(limit=1000):
        yield "itsm_get_incident", {"number": incident.number}


def test_every_seeded_id_can_be_given_as_an_argument(registry: ToolRegistry, systems: Systems) -> None:
    for name, raw in _seeded_ids(systems):
        registry.get(name).parse_args(raw)
