"""``GET /v1/impact``: the figures as the report's JSON, for auditors, managers and the impact roles only."""

from __future__ import annotations

from fastapi.testclient import TestClient

from agent.operations import Operations
from governance.audit import AuditLog
from tests.api.conftest import Headers
from tests.impact.trail import DAY1, EXPECTED, FakeClock, build_trail

RANGE = {"since": "2026-11-30T00:00:00Z", "until": "2026-12-03T00:00:00Z"}


def _seed(ops: Operations) -> None:
    clock = FakeClock(DAY1)
    build_trail(AuditLog(ops.stores.audit._engine, clock=clock), clock)


def test_an_auditor_reads_the_figures(client: TestClient, auth: Headers, ops: Operations) -> None:
    _seed(ops)
    response = client.get("/v1/impact", params=RANGE, headers=auth("mia.audit"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["totals"]["calls"] == EXPECTED["calls"]
    assert body["totals"]["vetoes"] == EXPECTED["vetoes"]
    assert [row["period"] for row in body["periods"]] == ["2026-12-01", "2026-12-02"]
    assert body["policy_version"] == ops.policy().version
    assert body["assumptions"]["review_minutes_per_vote"] == 5.0


def test_a_manager_reads_them_by_week(client: TestClient, auth: Headers, ops: Operations) -> None:
    _seed(ops)
    response = client.get("/v1/impact", params=RANGE | {"period": "week"}, headers=auth("judy.cio"))
    assert response.status_code == 200, response.text
    assert [row["period"] for row in response.json()["periods"]] == ["2026-W49 (2026-11-30)"]


def test_a_requester_may_not_and_the_refusal_is_audited(
    client: TestClient, auth: Headers, ops: Operations
) -> None:
    response = client.get("/v1/impact", headers=auth("bob.requester"))
    assert response.status_code == 403
    assert "auditors, managers" in response.json()["detail"]
    denied = ops.audit_query(kinds=["access_denied"], actor="bob.requester").events
    assert [(e.payload["path"], e.payload["status"]) for e in denied] == [("/v1/impact", 403)]


def test_no_caller_no_figures(client: TestClient) -> None:
    assert client.get("/v1/impact").status_code == 401


def test_a_range_that_ends_before_it_starts_is_named(client: TestClient, auth: Headers) -> None:
    params = {"since": "2026-12-02T00:00:00Z", "until": "2026-12-01T00:00:00Z"}
    response = client.get("/v1/impact", params=params, headers=auth("mia.audit"))
    assert response.status_code == 422
    assert "before it starts" in response.json()["detail"]
