"""The ``opslayer_impact_*`` gauges on ``/metrics``: the figures of the last 24 hours, by system, with
labels bounded to the catalogue's systems."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from agent.api import create_app
from agent.operations import Operations
from agent.settings import Settings
from governance.audit import AuditLog, EventKind
from tests.impact.trail import DAY1, DAY2, FakeClock, build_trail


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("opslayer_impact_")
    }


def test_the_gauges_hold_the_last_day_by_system(settings: Settings) -> None:
    clock = FakeClock(DAY1)
    ops = Operations(settings, clock=lambda: DAY2 + timedelta(hours=12))
    audit = AuditLog(ops.stores.audit._engine, clock=clock)
    build_trail(audit, clock)
    clock.at(DAY2 + timedelta(hours=5))
    audit.append(EventKind.DECISION, {"stage": "plan", "tool": 'evil{system="x"}_tool', "tier": "deny"})
    token = ops.create_token("mia.audit", expires_in=None).token
    with TestClient(create_app(settings, operations=ops, worker=False)) as client:
        response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    found = _samples(response.text)
    # the window starts at DAY2 - 12h: day 1's events (09:00-10:34) are outside it
    assert found["opslayer_impact_requests", ()] == 1
    assert found["opslayer_impact_calls", (("system", "itsm"), ("tier", "auto"))] == 1
    assert found["opslayer_impact_calls", (("system", "inventory"), ("tier", "approve"))] == 1
    assert found["opslayer_impact_approvals", (("outcome", "rejected"), ("system", "inventory"))] == 1
    assert found["opslayer_impact_events", (("event", "escalations"), ("system", "inventory"))] == 1
    assert found["opslayer_impact_events", (("event", "vetoes"), ("system", "itsm"))] == 1
    assert found["opslayer_impact_events", (("event", "monitors_tripped"), ("system", "all"))] == 2
    assert found["opslayer_impact_decision_seconds", (("quantile", "0.5"),)] == 4 * 3600
    assert found["opslayer_impact_minutes_saved", (("system", "inventory"),)] == -5.0
    assert found["opslayer_impact_calls", (("system", "other"), ("tier", "deny"))] == 1
    assert {dict(labels).get("system") for _, labels in found} <= {
        "itsm",
        "inventory",
        "procurement",
        "other",
        "all",
        None,
    }


def test_no_source_no_impact_gauges() -> None:
    from agent.metrics import Metrics

    body, _ = Metrics().render()
    assert b"opslayer_impact_" not in body
