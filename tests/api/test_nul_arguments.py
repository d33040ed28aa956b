"""A NUL character (U+0000) in an approver's edited arguments is refused like any invalid argument.

Pins: an edit through ``POST /v1/approvals/{id}/edit`` whose arguments hold a NUL — in free text (a
write-off's reason) or nested (a purchase order line's SKU) — is refused at once (422
``invalid-arguments`` naming the field path); the request stays pending with its arguments and no vote,
nothing is audited for it and nothing runs. An edit whose text has several lines and a tab is approved
as written.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from agent.operations import Operations
from tests.api.conftest import Headers
from tests.api.test_api import LAPTOPS, WRITE_OFF, assert_problem, start

REFUSED = "a NUL character (U+0000) is not accepted"
WRITTEN_OFF = "MON-27-4K"


def _edit_of(args: dict[str, Any], field: str) -> dict[str, Any]:
    if field == "reason":
        return {**args, "reason": "Two units\x00 damaged in transit"}
    line = {**args["lines"][0], "sku": f"{args['lines'][0]['sku']}\x00"}
    return {**args, "lines": [line, *args["lines"][1:]]}


@pytest.mark.parametrize(
    ("requester", "message", "approver", "field", "where"),
    [
        pytest.param("carol.desk", WRITE_OFF, "frank.warehouse", "reason", "reason", id="free-text"),
        pytest.param("alice.requester", LAPTOPS, "grace.procure", "lines", "lines.0.sku", id="nested"),
    ],
)
def test_an_edit_with_a_nul_is_refused_naming_the_field_and_the_request_stays_pending(
    client: TestClient,
    auth: Headers,
    ops: Operations,
    requester: str,
    message: str,
    approver: str,
    field: str,
    where: str,
) -> None:
    turn = start(client, auth, requester, message)
    [pending] = turn["pending"]
    url = f"/v1/approvals/{pending['id']}"
    events_before = [event.kind for event in ops.stores.audit.events(thread_id=turn["thread_id"])]
    stock_before = ops.systems.inventory.get_stock(WRITTEN_OFF)
    orders_before = ops.systems.procurement.list_purchase_orders(limit=1000)
    executions_before = ops.executions(thread=turn["thread_id"])

    refused = client.post(
        f"{url}/edit", json={"args": _edit_of(pending["args"], field)}, headers=auth(approver)
    )

    problem = assert_problem(refused, 422)
    assert problem["type"].endswith("invalid-arguments")
    assert problem["errors"] == [{"loc": ["args"], "msg": f"{where}: {REFUSED}"}]
    after: dict[str, Any] = client.get(url, headers=auth(approver)).json()["approval"]
    assert after["status"] == "pending" and after["votes"] == []
    assert after["args"] == pending["args"] and after["args_digest"] == pending["args_digest"]
    events = [event.kind for event in ops.stores.audit.events(thread_id=turn["thread_id"])]
    assert events == events_before  # no vote, no decision, no execution
    assert ops.executions(thread=turn["thread_id"]) == executions_before  # the reads before it
    assert ops.systems.inventory.get_stock(WRITTEN_OFF) == stock_before
    assert ops.systems.procurement.list_purchase_orders(limit=1000) == orders_before


def test_an_edit_with_several_lines_and_a_tab_is_approved_as_written(
    client: TestClient, auth: Headers
) -> None:
    [pending] = start(client, auth, "carol.desk", WRITE_OFF)["pending"]
    reason = "Two units damaged in transit:\n\tbox 1 crushed\n\tbox 2 wet"

    done = client.post(
        f"/v1/approvals/{pending['id']}/edit",
        json={"args": {**pending["args"], "reason": reason}},
        headers=auth("frank.warehouse"),
    )

    assert done.status_code == 200, done.text
    assert done.json()["approval"]["status"] == "approved"
    assert done.json()["approval"]["args"]["reason"] == reason
