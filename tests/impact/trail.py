"""A hand-built audit trail with known impact figures (fake clock), shared by the impact tests.

Two days, 2026-12-01 and 2026-12-02 (one ISO week). The answers are worked out in :data:`EXPECTED`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from governance.audit import AuditLog, EventKind

DAY1 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
DAY2 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
EFFORT = {
    "itsm_create_incident": 10.0,
    "itsm_update_incident": 5.0,
    "itsm_add_work_note": 3.0,
    "procurement_create_purchase_order": 30.0,
    "inventory_adjust_stock": 15.0,
}
REVIEW_MINUTES = 5.0


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def at(self, moment: datetime) -> FakeClock:
        self.now = moment
        return self


def _decision(tool: str, tier: str, stage: str = "plan", **extra: Any) -> dict[str, Any]:
    return {"stage": stage, "tool": tool, "tier": tier, "rule_ids": [f"rule-{tool}"], **extra}


def _execution(
    tool: str, status: str, approval_id: str | None = None, replayed: bool = False
) -> dict[str, Any]:
    return {"tool": tool, "status": status, "approval_id": approval_id, "replayed": replayed}


def build_trail(audit: AuditLog, clock: FakeClock) -> None:
    """Append the events of the two days (the clock is moved before each)."""

    def at(moment: datetime, kind: str, payload: dict[str, Any], actor: str = "alice.requester") -> None:
        clock.at(moment)
        audit.append(kind, payload, thread_id="t-1", actor=actor)

    m = timedelta(minutes=1)
    # --- day 1: an auto call, a notify call, an approved purchase order, two denials
    at(DAY1, EventKind.REQUEST, {"text": "hello"})
    at(DAY1 + m, EventKind.REQUEST, {"text": "again"})
    at(DAY1 + 2 * m, EventKind.DECISION, _decision("itsm_create_incident", "auto"))
    at(DAY1 + 3 * m, EventKind.EXECUTION, _execution("itsm_create_incident", "completed"))
    at(DAY1 + 4 * m, EventKind.DECISION, _decision("itsm_update_incident", "notify"))
    at(DAY1 + 5 * m, EventKind.NOTIFICATION, {"tool": "itsm_update_incident"})
    at(DAY1 + 6 * m, EventKind.EXECUTION, _execution("itsm_update_incident", "completed"))
    po = "procurement_create_purchase_order"
    at(DAY1 + 60 * m, EventKind.DECISION, _decision(po, "approve"))
    at(DAY1 + 60 * m, EventKind.APPROVAL_REQUESTED, {"request_id": "r1", "tool": po})
    at(
        DAY1 + 90 * m,
        EventKind.APPROVAL_VOTE,
        {"request_id": "r1", "accepted": True, "approve": True},
        "grace",
    )
    at(DAY1 + 90 * m, EventKind.APPROVAL_FINAL, {"request_id": "r1", "tool": po, "status": "approved"})
    at(DAY1 + 91 * m, EventKind.DECISION, _decision(po, "approve", stage="recheck-abc"))
    at(DAY1 + 92 * m, EventKind.EXECUTION, _execution(po, "completed", approval_id="r1"))
    at(DAY1 + 93 * m, EventKind.DECISION, _decision("inventory_transfer_stock", "deny", stage="validation"))
    at(DAY1 + 94 * m, EventKind.DECISION, _decision("procurement_cancel_purchase_order", "deny"))
    # --- day 2: a rejected write-off after a reminder and an escalation, a failure, a veto, monitors
    adjust = "inventory_adjust_stock"
    at(DAY2, EventKind.REQUEST, {"text": "write off"})
    at(DAY2, EventKind.DECISION, _decision(adjust, "approve"))
    at(DAY2, EventKind.APPROVAL_REQUESTED, {"request_id": "r2", "tool": adjust})
    at(DAY2 + 120 * m, EventKind.APPROVAL_REMINDER, {"request_id": "r2"})
    at(DAY2 + 180 * m, EventKind.APPROVAL_ESCALATED, {"request_id": "r2", "to": ["judy.cio"]})
    refused = {"request_id": "r2", "accepted": False, "approve": True}
    at(DAY2 + 200 * m, EventKind.APPROVAL_VOTE, refused, "alice.requester")
    at(
        DAY2 + 240 * m,
        EventKind.APPROVAL_VOTE,
        {"request_id": "r2", "accepted": True, "approve": False},
        "frank",
    )
    at(DAY2 + 240 * m, EventKind.APPROVAL_FINAL, {"request_id": "r2", "tool": adjust, "status": "rejected"})
    at(DAY2 + 241 * m, EventKind.DECISION, _decision("itsm_create_incident", "auto"))
    at(DAY2 + 242 * m, EventKind.EXECUTION, _execution("itsm_create_incident", "failed"))
    at(DAY2 + 243 * m, EventKind.EXECUTION, _execution("itsm_create_incident", "completed", replayed=True))
    at(DAY2 + 245 * m, EventKind.MONITOR_TRIPPED, {"monitor_id": "refusals-per-thread"})
    at(DAY2 + 246 * m, EventKind.MONITOR_TRIPPED, {"monitor": "refusals-per-thread"})
    # two notify calls wait out veto windows (requests nobody needs to approve): one vetoed, one runs
    update, note = "itsm_update_incident", "itsm_add_work_note"
    window = {"requirements": [{"roles": ["incident_manager"], "count": 0}]}
    at(DAY2 + 250 * m, EventKind.DECISION, _decision(update, "notify"))
    at(DAY2 + 250 * m, EventKind.APPROVAL_REQUESTED, {"request_id": "v1", "tool": update, **window})
    at(DAY2 + 250 * m, EventKind.VETO_WINDOW, {"request_id": "v1", "tool": update, "ends_at": "later"})
    at(
        DAY2 + 255 * m,
        EventKind.APPROVAL_VOTE,
        {"request_id": "v1", "accepted": True, "approve": False},
        "dave",
    )
    at(DAY2 + 255 * m, EventKind.APPROVAL_FINAL, {"request_id": "v1", "tool": update, "status": "rejected"})
    at(
        DAY2 + 255 * m,
        EventKind.VETO,
        {"request_id": "v1", "tool": update, "reason": "not during the incident"},
    )
    at(DAY2 + 260 * m, EventKind.DECISION, _decision(note, "notify"))
    at(DAY2 + 260 * m, EventKind.APPROVAL_REQUESTED, {"request_id": "v2", "tool": note, **window})
    at(DAY2 + 260 * m, EventKind.VETO_WINDOW, {"request_id": "v2", "tool": note, "ends_at": "later"})
    at(DAY2 + 275 * m, EventKind.APPROVAL_FINAL, {"request_id": "v2", "tool": note, "status": "approved"})
    at(DAY2 + 276 * m, EventKind.EXECUTION, _execution(note, "completed", approval_id="v2"))


EXPECTED = {
    "requests": 3,
    "calls": 9,
    "by_tier": {"auto": 2, "notify": 3, "approve": 2, "deny": 2},
    "completed": 4,
    "completed_without_human": 3,
    "failed_executions": 1,
    "approvals_requested": 2,
    "approved": 1,
    "rejected": 1,
    "expired": 0,
    "decision_p50_seconds": 1800.0,
    "decision_p95_seconds": 14400.0,
    "reminders": 1,
    "escalations": 1,
    "veto_windows": 2,
    "vetoes": 1,
    "denials": 2,
    "monitors_tripped": 2,
    "effort_minutes": 48.0,
    "review_minutes": 15.0,
    "minutes_saved": 33.0,
}
