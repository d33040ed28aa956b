"""The oversight stores and the monitors' queries on every engine (SQLite and PostgreSQL): one trip per
scope even when two processes trip at once, one clearance, nudges taken once, figures read alike."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import yaml

from agent.wiring import build_registry
from governance.approvals import ApprovalStore, Nudge
from governance.audit import AuditLog, EventKind
from governance.decision import Tier
from governance.directory import load_directory
from governance.executions import ExecutionLedger
from governance.loader import parse_policy
from governance.monitors import evaluate
from governance.oversight import Restriction
from governance.restrictions import AlreadyCleared, RestrictionStore
from governance.usage import SqlUsageLedger, UsageCharge
from tests.oversight.conftest import Clock, oversight_policy
from tests.pg.engines import OpenEngine


def _store(open_engine: OpenEngine, clock: Clock) -> RestrictionStore:
    engine = open_engine()
    return RestrictionStore(engine, audit=AuditLog(engine, clock=clock), clock=clock)


def test_a_monitor_trips_once_per_scope_and_clears_once(open_engine: OpenEngine, clock: Clock) -> None:
    stores = [_store(open_engine, clock) for _ in range(4)]
    start = threading.Barrier(len(stores))
    made: list[Restriction | None] = []

    def trip(store: RestrictionStore) -> None:
        start.wait()
        made.append(
            store.trip(
                monitor="m",
                scope="thread",
                subject="t-1",
                tools=("*",),
                tier=Tier.APPROVE,
                approvals=(),
                reason="r",
                figure=3.0,
                threshold=3.0,
            )
        )

    threads = [threading.Thread(target=trip, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    [trip_made] = [m for m in made if m is not None]
    assert [r.holds("any_tool", "x", "t-1") for r in stores[0].oversight().restrictions] == [True]
    stores[1].clear(trip_made.id, by="dave.incident", reason="ok")
    with pytest.raises(AlreadyCleared):
        stores[2].clear(trip_made.id, by="erin.change", reason="ok")
    audit = AuditLog(open_engine(), clock=clock)
    kinds = [e.kind for e in audit.events(kinds=[EventKind.MONITOR_TRIPPED, EventKind.MONITOR_CLEARED])]
    assert kinds == ["monitor_tripped", "monitor_cleared"]
    assert stores[3].oversight().restrictions == ()


def test_nudges_are_taken_once_and_monitors_read_alike(open_engine: OpenEngine, clock: Clock) -> None:
    engine = open_engine()
    audit = AuditLog(engine, clock=clock)
    approvals = ApprovalStore(engine, audit=audit, clock=clock)
    ExecutionLedger(engine, clock=clock)
    usage = SqlUsageLedger(engine)
    nudge = Nudge(request_id="APR-00000001", step="remind", at=clock.now, people=("ivan.ops",), grants=())
    assert approvals.nudge(nudge) and not approvals.nudge(nudge)

    for _ in range(3):
        payload = {"stage": "validation", "tool": "x", "tier": "deny", "reasons": ["bad"]}
        audit.append(EventKind.DECISION, payload, thread_id="t-1", actor="bob.requester")
    usage.record(UsageCharge(limit_id="po-daily-budget", key="bob.requester", amount=9000.0), clock.now, "k")
    directory = load_directory()
    monitors = [
        {"id": "refusals", "kind": "refused_calls", "per": "thread", "threshold": 3},
        {"id": "budget", "kind": "limit_near", "limit": "po-daily-budget", "threshold": 80},
        {"id": "llm", "kind": "llm_errors", "threshold": 10},
        {"id": "surge", "kind": "tool_surge", "per": "tool", "threshold": 2},
        {"id": "stuck", "kind": "stuck_executions", "threshold": 1},
        {"id": "age", "kind": "approval_age", "threshold": 1},
    ]
    policy = parse_policy(
        yaml.safe_dump(oversight_policy(monitors=monitors)),
        catalogue=build_registry().side_effects(),
        roles=directory.roles,
        people=directory.ids,
    )
    clock.advance(minutes=1)
    readings = evaluate(policy, engine, clock.now)
    assert sorted((r.monitor.id, r.subject, r.figure) for r in readings) == [
        ("budget", "bob.requester", 90.0),
        ("refusals", "t-1", 3.0),
    ]
    assert evaluate(policy, engine, clock.now + timedelta(days=2)) == []
