"""A purchase order's cost centre is checked against the procurement system before the decision.

Pins: an approver's edit to a cost centre the procurement system does not know is refused at once
(422 ``invalid-arguments`` naming the cost centre), the request stays pending with its arguments and
votes as they were, and nothing runs; a model-proposed order on such a cost centre is refused the same
way before any approval is asked for.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from agent.operations import Operations
from governance.audit import EventKind
from tests.api.conftest import Headers
from tests.api.test_api import LAPTOPS, assert_problem, start

UNKNOWN = "CC-NOWHERE"
PO = "procurement_create_purchase_order"


def _kinds(ops: Operations, thread: str) -> list[str]:
    return [event.kind for event in ops.stores.audit.events(thread_id=thread)]


def _orders_run(ops: Operations, thread: str) -> list[str]:
    return [record.key for record in ops.executions(thread=thread) if record.tool == PO]


def test_an_edit_to_an_unknown_cost_centre_is_refused_and_the_request_stays_pending(
    client: TestClient, auth: Headers, ops: Operations
) -> None:
    turn = start(client, auth, "alice.requester", LAPTOPS)
    [pending] = turn["pending"]
    url = f"/v1/approvals/{pending['id']}"
    events_before = _kinds(ops, turn["thread_id"])
    orders_before = ops.systems.procurement.list_purchase_orders(limit=1000)

    edit = {**pending["args"], "cost_centre": UNKNOWN}
    refused = client.post(f"{url}/edit", json={"args": edit}, headers=auth("grace.procure"))

    problem = assert_problem(refused, 422)
    assert problem["type"].endswith("invalid-arguments")
    [error] = problem["errors"]
    assert error["msg"].startswith(f"cost_centre: cost centre '{UNKNOWN}' is not known")
    after: dict[str, Any] = client.get(url, headers=auth("grace.procure")).json()["approval"]
    assert after["status"] == "pending" and after["votes"] == []
    assert after["args"] == pending["args"] and after["args_digest"] == pending["args_digest"]
    assert _kinds(ops, turn["thread_id"]) == events_before  # no vote, no execution
    assert _orders_run(ops, turn["thread_id"]) == []
    assert ops.systems.procurement.list_purchase_orders(limit=1000) == orders_before


def test_an_order_the_model_proposes_on_an_unknown_cost_centre_is_refused_before_approval(
    client: TestClient, auth: Headers, ops: Operations
) -> None:
    turn = start(client, auth, "alice.requester", f"{LAPTOPS} on {UNKNOWN}")

    assert turn["pending"] == []
    decisions = [
        event.payload
        for event in ops.stores.audit.events(thread_id=turn["thread_id"])
        if event.kind == EventKind.DECISION and event.payload.get("tool") == PO
    ]
    assert decisions and all(d["stage"] == "validation" and d["tier"] == "deny" for d in decisions)
    assert any(UNKNOWN in reason for d in decisions for reason in d["reasons"])
    assert EventKind.APPROVAL_REQUESTED not in _kinds(ops, turn["thread_id"])
    assert _orders_run(ops, turn["thread_id"]) == []
