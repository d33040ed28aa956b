"""Benchmark: the impact report (figures and the self-contained HTML) over 100,000 audit events.

The trail is a month of turns as the agent writes them: requests, plan decisions in every tier,
notifications, approvals with their votes and outcomes, re-checks, executions (some failed), answers,
and the oversight events (reminders, escalations, vetoes, monitors tripped). Target: ≤ 5 s for the
figures and the HTML together.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from governance.audit import AuditLog, EventKind, NewEvent
from governance.impact import compute_impact
from governance.store import sqlite_engine

TARGET_S = 5.0
_START = datetime(2026, 11, 1, tzinfo=UTC)
_TOOLS = (
    "itsm_create_incident",
    "itsm_update_incident",
    "itsm_add_work_note",
    "itsm_resolve_incident",
    "itsm_create_change_request",
    "inventory_transfer_stock",
    "inventory_adjust_stock",
    "inventory_reserve_stock",
    "procurement_create_requisition",
    "procurement_create_purchase_order",
    "procurement_cancel_purchase_order",
    "itsm_search_incidents",
)
_TIERS = ("auto", "auto", "notify", "approve", "auto", "notify", "approve", "auto", "auto", "deny")
_EFFORT = {tool: 5.0 + 2 * i for i, tool in enumerate(_TOOLS)}


def bench_report(tmp_dir: Path, n: int = 100_000) -> dict[str, Any]:
    from agent.operations.report import render_html

    audit = _trail(tmp_dir / f"bench-report-{time.time_ns()}.db", n)
    started = time.perf_counter()
    impact = compute_impact(audit, since=_START, period="day", effort_minutes=_EFFORT, review_minutes=5.0)
    counted = time.perf_counter()
    html = render_html(impact, generated_at=datetime.now(UTC), policy_version="bench@sha256:0")
    rendered = time.perf_counter()
    return {
        "events": n,
        "calls": impact.totals.calls,
        "periods": len(impact.periods),
        "figures_s": round(counted - started, 3),
        "html_s": round(rendered - counted, 3),
        "report_s": round(rendered - started, 3),
        "html_kb": round(len(html.encode()) / 1024, 1),
        "target_report_s": TARGET_S,
    }


def _trail(path: Path, n: int) -> AuditLog:
    """``n`` events of a month of turns, appended in large transactions (the fast way to build it)."""
    ticks = iter(range(10**9))
    step = timedelta(days=30) / n
    audit = AuditLog(sqlite_engine(path), clock=lambda: _START + step * next(ticks))
    batch: list[NewEvent] = []
    for event in _events(n):
        batch.append(event)
        if len(batch) == 5000:
            audit.append_many(batch)
            batch = []
    audit.append_many(batch)
    return audit


def _events(n: int) -> Iterator[NewEvent]:
    made, turn = 0, 0
    while made < n:
        for event in _turn(turn):
            if made == n:
                return
            made += 1
            yield event
        turn += 1


def _turn(i: int) -> list[NewEvent]:
    thread, actor = f"t-{i:08d}", f"person-{i % 40}"
    tool, tier = _TOOLS[i % len(_TOOLS)], _TIERS[i % len(_TIERS)]
    args = {"quantity": i % 50 + 1, "note": "bench " * 8, "site": "AMS-1"}

    def event(kind: str, payload: dict[str, Any], who: str | None = actor) -> NewEvent:
        return NewEvent(kind=kind, payload=payload, thread_id=thread, actor=who)

    decision = {"stage": "plan", "tool": tool, "tier": tier, "rule_ids": [f"rule-{tier}"], "args": args}
    events = [
        event(EventKind.REQUEST, {"text": f"please do {tool}", "channel": "api"}),
        event(EventKind.DECISION, decision),
    ]
    approval_id = None
    if tier == "notify":
        events.append(event(EventKind.NOTIFICATION, {"tool": tool, "targets": ["role:incident_manager"]}))
    if tier == "approve":
        approval_id = f"apr-{i:08d}"
        outcome = ("approved", "approved", "approved", "rejected", "expired")[i % 5]
        events.append(
            event(EventKind.APPROVAL_REQUESTED, {"request_id": approval_id, "tool": tool, "args": args})
        )
        if i % 7 == 0:
            events.append(event(EventKind.APPROVAL_REMINDER, {"request_id": approval_id}, None))
            events.append(
                event(EventKind.APPROVAL_ESCALATED, {"request_id": approval_id, "to": ["judy.cio"]}, None)
            )
        if outcome != "expired":
            vote = {"request_id": approval_id, "accepted": True, "approve": outcome == "approved"}
            events.append(event(EventKind.APPROVAL_VOTE, vote, "grace.procure"))
        final = {"request_id": approval_id, "tool": tool, "status": outcome}
        events.append(event(EventKind.APPROVAL_FINAL, final, None))
        if outcome != "approved":
            return events
        events.append(event(EventKind.DECISION, {**decision, "stage": "recheck-" + approval_id}))
    if tier == "deny":
        if i % 3 == 0:
            events.append(event(EventKind.MONITOR_TRIPPED, {"monitor_id": "refusals-per-thread"}, None))
        return events
    if tier == "notify" and i % 11 == 0:
        events.append(event(EventKind.VETO, {"request_id": f"veto-{i}", "tool": tool, "reason": "not now"}))
        return events
    status = "failed" if i % 23 == 0 else "completed"
    execution = {
        "tool": tool,
        "status": status,
        "approval_id": approval_id,
        "replayed": False,
        "result": "{}",
    }
    events.append(event(EventKind.EXECUTION, execution))
    events.append(event(EventKind.RESPONSE, {"text": "done", "citations": []}))
    return events
