"""The oversight endpoints through the ASGI app: the caller is the token's person, refusals are
problems naming why (and audited), a veto returns the rejection at once, a request shows what ran on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from agent.api import create_app
from agent.operations import Operations
from agent.settings import Settings
from agent.worker import Worker
from governance.audit import EventKind
from tests.oversight.conftest import NOTE, NOTE_ASKS, PAUSES, VETOES, Clock

TRANSFER = {
    "sku": "SSD-1TB-NVME",
    "from_warehouse": "AMS-1",
    "to_warehouse": "BER-2",
    "quantity": 2,
    "reason": "rebalance",
}


@pytest.fixture
def client(settings: Settings, ops: Operations) -> Iterator[TestClient]:
    with TestClient(
        create_app(settings.model_copy(update={"serve_worker": False}), operations=ops, worker=False)
    ) as client:
        yield client


def _auth(ops: Operations, person: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {ops.create_token(person, expires_in=None).token}"}


def test_pause_is_the_callers_and_shows_in_explain_until_resumed(client: TestClient, ops: Operations) -> None:
    made = client.post(
        "/v1/autonomy/pause",
        json={"reason": "<script>x</script>", "tool": "inventory_*"},
        headers=_auth(ops, PAUSES),
    )
    assert made.status_code == 201, made.text
    pause = made.json()
    assert pause["created_by"] == PAUSES and pause["reason"] == "<script>x</script>"
    assert [p["id"] for p in client.get("/v1/autonomy", headers=_auth(ops, "mia.audit")).json()] == [
        pause["id"]
    ]
    decision, _ = ops.explain("inventory_transfer_stock", TRANSFER, actor="carol.desk")
    assert f"pause:{pause['id']}" in decision.rule_ids

    resumed = client.post(
        f"/v1/autonomy/{pause['id']}/resume", json={"reason": "ok"}, headers=_auth(ops, PAUSES)
    )
    assert resumed.status_code == 200
    assert client.get("/v1/autonomy", headers=_auth(ops, PAUSES)).json() == []


def test_refusals_are_problems(client: TestClient, ops: Operations) -> None:
    refused = client.post("/v1/autonomy/pause", json={"reason": "x"}, headers=_auth(ops, "carol.desk"))
    assert refused.status_code == 403 and "needs change_manager" in refused.json()["detail"]
    unknown = client.post("/v1/monitors/RST-0000AAAA/clear", json={"reason": "x"}, headers=_auth(ops, PAUSES))
    assert unknown.status_code == 404
    extra = client.post(
        "/v1/autonomy/pause", json={"reason": "x", "by": "judy.cio"}, headers=_auth(ops, PAUSES)
    )
    assert extra.status_code == 422  # the acting person is never a body field
    bad = client.post(
        "/v1/autonomy/pause", json={"reason": "x", "tool": "nosuch_*"}, headers=_auth(ops, PAUSES)
    )
    assert bad.status_code == 422 and "matches no tool" in bad.json()["detail"]
    assert client.post("/v1/autonomy/pause", json={"reason": "x"}).status_code == 401


def test_monitors_and_veto(client: TestClient, ops: Operations) -> None:
    [monitor] = client.get("/v1/monitors", headers=_auth(ops, NOTE_ASKS)).json()
    assert monitor["id"] == "confused-thread" and monitor["trips"] == []

    [request] = ops.send(NOTE, actor=NOTE_ASKS).pending
    hidden = client.post(
        f"/v1/approvals/{request.id}/veto", json={"reason": "x"}, headers=_auth(ops, "bob.requester")
    )
    assert hidden.status_code == 404  # may not see it: cannot probe it either
    vetoed = client.post(
        f"/v1/approvals/{request.id}/veto", json={"reason": "wait"}, headers=_auth(ops, VETOES)
    )
    assert vetoed.status_code == 200, vetoed.text
    assert vetoed.json() == {
        "request_id": request.id,
        "status": "rejected",
        "reason": "vetoed by dave.incident: wait",
    }
    assert [e.actor for e in ops.audit_events(kinds=[EventKind.VETO])] == [VETOES]


def test_a_request_shows_what_ran_on_it_a_veto_windows_call_too(
    client: TestClient, ops: Operations, worker: Worker, clock: Clock
) -> None:
    [request] = ops.send(NOTE, actor=NOTE_ASKS).pending
    headers = _auth(ops, VETOES)
    assert client.get(f"/v1/approvals/{request.id}", headers=headers).json()["execution"] is None

    worker.run_once()
    clock.advance(minutes=15)
    worker.run_once()  # the window ended without a veto: the note ran, on no approval (a notify call)

    shown = client.get(f"/v1/approvals/{request.id}", headers=headers).json()
    assert shown["approval"]["status"] == "approved" and shown["approval"]["consumed_by"] is None
    execution = shown["execution"]
    assert execution["tool"] == "itsm_add_work_note" and execution["status"] == "completed"
    assert execution["key"] in [e.key for e in ops.executions(thread=request.thread_id)]
