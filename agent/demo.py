"""`make demo`: a scripted, offline walk-through on the embedded defaults."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.rule import Rule

from agent import services
from agent.render import print_decision
from agent.settings import Settings
from governance.audit import AuditLog
from governance.decision import Actor
from tools.local import reset_local_systems
from tools.registry import result_to_json, run
from tools.spec import CallContext, canonical_args

PO_30K = {
    "supplier_id": "SUP-001",
    "cost_centre": "CC-IT-OPS",
    "total_amount": 30000.0,
    "lines": [{"sku": "LAP-14-PRO", "quantity": 20, "unit_price": 1500.0}],
}
PO_500 = {
    "supplier_id": "SUP-001",
    "cost_centre": "CC-IT-OPS",
    "total_amount": 500.0,
    "lines": [{"sku": "LAP-14-PRO", "quantity": 1, "unit_price": 500.0}],
}

# (headline, tool, args, person, ISO time or None for now)
EXAMPLES: tuple[tuple[str, str, dict[str, Any], str, str | None], ...] = (
    ("A read runs alone", "itsm_get_incident", {"number": "INC0010032"}, "carol.desk", None),
    (
        "An incident work note runs and notifies the incident managers",
        "itsm_add_work_note",
        {"number": "INC0010047", "text": "Checked the load balancer pool; two nodes drained."},
        "carol.desk",
        None,
    ),
    (
        "A 500 EUR purchase order runs and notifies",
        "procurement_create_purchase_order",
        PO_500,
        "alice.requester",
        None,
    ),
    (
        "A 30,000 EUR purchase order needs two different people",
        "procurement_create_purchase_order",
        PO_30K,
        "alice.requester",
        None,
    ),
    (
        "A change on a prod CI needs a change manager",
        "itsm_create_change_request",
        {
            "ci": "payments-api",
            "short_description": "Restart payments-api",
            "description": "Rolling restart.",
            "risk": "moderate",
        },
        "ivan.ops",
        "2026-11-24T10:00:00Z",
    ),
    (
        "The same change during the year-end freeze is refused",
        "itsm_create_change_request",
        {
            "ci": "payments-api",
            "short_description": "Restart payments-api",
            "description": "Rolling restart.",
            "risk": "moderate",
        },
        "ivan.ops",
        "2026-12-24T10:00:00Z",
    ),
    ("An unknown tool is refused", "procurement_delete_everything", {}, "alice.requester", None),
)


def run_demo(settings: Settings, console: Console) -> None:
    console.print(Rule("[bold]opslayer[/] — governed operations, offline walk-through"))
    summary = reset_local_systems(settings.systems_db)
    console.print(
        f"Seeded reference systems at {settings.systems_db}: {summary.incidents} incidents, "
        f"{summary.changes} changes, {summary.cis} CIs, "
        f"{summary.skus} SKUs in {summary.warehouses} warehouses, "
        f"{summary.suppliers} suppliers, {summary.purchase_orders} purchase orders."
    )
    governance = services.load_governance(settings)
    systems = services.open_systems(settings)
    usage = services.open_usage(settings)
    audit = services.open_audit(settings)
    console.print(f"{len(governance.registry)} governed tools; policy {governance.policy.version}\n")
    for headline, tool, args, person, at in EXAMPLES:
        console.print(Rule(headline, style="dim"))
        actor = governance.directory.actor(person)
        now = datetime.fromisoformat(at) if at else datetime.now(UTC)
        decision, _ = services.explain(
            governance, tool=tool, raw_args=args, actor=actor, now=now, systems=systems, usage=usage
        )
        audit.append("decision", decision.to_dict(), actor=person, thread_id="demo")
        print_decision(console, decision, governance.directory, title=f"{person} → {tool}")
    _run_a_read(console, governance, systems, audit)
    result = audit.verify()
    console.print(Rule("Audit trail"))
    console.print(
        f"[green]audit chain intact[/]: {result.checked} events verified" if result.ok else str(result)
    )


def _run_a_read(console: Console, governance: services.Governance, systems: Any, audit: AuditLog) -> None:
    spec = governance.registry.get("itsm_get_incident")
    actor = Actor(id="carol.desk")
    args = canonical_args(spec.parse_args({"number": "INC0010032"}))
    incident = run(spec, args, CallContext(systems=systems, actor_id=actor.id))
    audit.append("execution", {"tool": spec.name, "args": args, "ok": True}, actor=actor.id, thread_id="demo")
    console.print(Rule("Executing the auto-tier read", style="dim"))
    console.print_json(result_to_json(incident))
