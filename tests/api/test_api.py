"""The HTTP API through the ASGI app: the README session, errors as problem+json, limits, streaming.

Pins: a purchase order asked for over HTTP runs once, after both approvers voted over HTTP (the
thread resumed as the worker would); the voter is the caller, never a body field; invalid input,
busy threads, refused votes and oversized bodies answer with one problem+json shape naming what is at
fault; the send rate limit counts the trail, so it holds across processes; a streamed turn reports its
governance steps and then the result.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from agent.api import create_app
from agent.operations import Operations
from agent.settings import Settings
from tests.api.conftest import Headers

LAPTOPS = "order 40 laptops for the Berlin office"
WRITE_OFF = "write off 3 damaged MON-27-4K at AMS-1"


def start(client: TestClient, auth: Headers, person: str, text: str) -> dict[str, Any]:
    response = client.post("/v1/threads", json={"message": text}, headers=auth(person))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail", "instance"} <= set(body) and body["status"] == status
    return body


def test_the_readme_session_one_purchase_order_after_two_approvals(
    client: TestClient, auth: Headers, ops: Operations
) -> None:
    turn = start(client, auth, "alice.requester", LAPTOPS)
    [pending] = turn["pending"]
    request_id, thread_id = pending["id"], turn["thread_id"]
    [asked] = [c for c in turn["calls"] if c["tool"] == "procurement_create_purchase_order"]
    assert asked["tier"] == "approve" and {"big-po", "huge-po"} <= set(asked["rule_ids"])

    mine = client.get("/v1/approvals", params={"mine": "true"}, headers=auth("grace.procure")).json()
    assert [a["id"] for a in mine["items"]] == [request_id]
    first = client.post(f"/v1/approvals/{request_id}/approve", json={}, headers=auth("grace.procure"))
    assert first.status_code == 200 and first.json()["approval"]["status"] == "pending"
    second = client.post(
        f"/v1/approvals/{request_id}/approve", json={"comment": "budgeted"}, headers=auth("heidi.finance")
    )
    assert second.json()["approval"]["status"] == "approved" and second.json()["can_resume"]
    ops.resume(thread_id)  # the worker's job

    executions = client.get("/v1/executions", headers=auth("alice.requester")).json()["items"]
    orders = [e for e in executions if e["tool"] == "procurement_create_purchase_order"]
    assert [e["status"] for e in orders] == ["completed"]
    thread = client.get(f"/v1/threads/{thread_id}", headers=auth("alice.requester")).json()
    assert thread["owner"] == "alice.requester" and thread["pending"] == []
    assert "PO-" in thread["messages"][-1]["content"]
    voters = [v["approver"] for v in thread["approvals"][0]["votes"]]
    assert voters == ["grace.procure", "heidi.finance"]


def test_the_voter_is_the_caller_never_a_body_field(client: TestClient, auth: Headers) -> None:
    [pending] = start(client, auth, "alice.requester", LAPTOPS)["pending"]

    forged = client.post(
        f"/v1/approvals/{pending['id']}/approve",
        json={"voter": "grace.procure"},
        headers=auth("alice.requester"),
    )
    own = client.post(f"/v1/approvals/{pending['id']}/approve", json={}, headers=auth("alice.requester"))

    assert assert_problem(forged, 422)["errors"] == [
        {"loc": ["body", "voter"], "msg": "Extra inputs are not permitted"}
    ]
    assert assert_problem(own, 403)["request_id"] == pending["id"]
    assert (
        client.get(f"/v1/approvals/{pending['id']}", headers=auth("alice.requester")).json()["approval"][
            "votes"
        ]
        == []
    )


def test_refused_votes_and_busy_threads_are_problems_naming_the_request(
    client: TestClient, auth: Headers
) -> None:
    turn = start(client, auth, "carol.desk", WRITE_OFF)
    [pending] = turn["pending"]
    url = f"/v1/approvals/{pending['id']}"

    no_reason = client.post(f"{url}/reject", json={}, headers=auth("frank.warehouse"))
    blank = client.post(f"{url}/reject", json={"reason": ""}, headers=auth("frank.warehouse"))
    rejected = client.post(f"{url}/reject", json={"reason": "recount first"}, headers=auth("frank.warehouse"))
    again = client.post(f"{url}/approve", json={}, headers=auth("ken.warehouse2"))
    busy = client.post(
        f"/v1/threads/{turn['thread_id']}/messages", json={"message": "and?"}, headers=auth("carol.desk")
    )

    assert assert_problem(no_reason, 422)["errors"][0]["loc"] == ["body", "reason"]
    assert assert_problem(blank, 422)["errors"][0]["loc"] == ["body", "reason"]
    assert rejected.json()["approval"]["status"] == "rejected" and rejected.json()["can_resume"]
    assert assert_problem(again, 409)["request_id"] == pending["id"]
    busy_problem = assert_problem(busy, 409)
    assert "must be resumed" in busy_problem["detail"] and busy_problem["thread_id"] == turn["thread_id"]
    assert busy_problem["type"].endswith("/thread-waiting") and busy_problem["approval_ids"] == []
    assert "retry-after" not in busy.headers  # it waits for its resume (the worker's), not for a moment


def test_a_busy_thread_says_whether_to_send_again_soon_or_wait_for_approval(
    client: TestClient, auth: Headers, ops: Operations
) -> None:
    waiting = start(client, auth, "carol.desk", WRITE_OFF)
    [pending] = waiting["pending"]
    asked = start(client, auth, "carol.desk", "what is the stock of MON-27-4K at AMS-1?")
    held = ops.stores.work.lease_now(
        "resume", asked["thread_id"], "elsewhere", lease_for=timedelta(minutes=5)
    )
    assert held is not None  # a turn of another process runs on it

    on_waiting = client.post(
        f"/v1/threads/{waiting['thread_id']}/messages", json={"message": "and?"}, headers=auth("carol.desk")
    )
    on_running = client.post(
        f"/v1/threads/{asked['thread_id']}/messages", json={"message": "and?"}, headers=auth("carol.desk")
    )

    waits = assert_problem(on_waiting, 409)
    assert waits["type"].endswith("/thread-waiting") and waits["approval_ids"] == [pending["id"]]
    assert f"waiting for approval of {pending['id']}" in waits["detail"]
    runs = assert_problem(on_running, 409)
    assert runs["type"].endswith("/thread-busy") and on_running.headers["retry-after"] == "1"
    assert runs["retry_after"] == 1 and runs["thread_id"] == asked["thread_id"]


def test_an_edit_shows_the_diff_between_the_proposed_and_the_current_arguments(
    client: TestClient, auth: Headers
) -> None:
    [pending] = start(client, auth, "carol.desk", WRITE_OFF)["pending"]
    edited = {**pending["args"], "delta": -2}

    partial = client.post(
        f"/v1/approvals/{pending['id']}/edit", json={"args": {"delta": -2}}, headers=auth("frank.warehouse")
    )
    done = client.post(
        f"/v1/approvals/{pending['id']}/edit", json={"args": edited}, headers=auth("frank.warehouse")
    )
    shown = client.get(f"/v1/approvals/{pending['id']}", headers=auth("carol.desk")).json()

    assert assert_problem(partial, 422)["errors"]
    assert done.json()["approval"]["status"] == "approved"
    assert shown["proposed_args"]["delta"] == -3
    assert shown["changes"] == [{"path": ["delta"], "proposed": -3, "current": -2}]


def test_a_vote_on_arguments_an_edit_replaced_is_refused_and_changes_nothing(
    client: TestClient, auth: Headers
) -> None:
    [pending] = start(client, auth, "alice.requester", LAPTOPS)["pending"]
    url = f"/v1/approvals/{pending['id']}"
    seen = client.get(url, headers=auth("heidi.finance")).json()["approval"]["args_digest"]
    line = {**pending["args"]["lines"][0], "quantity": 30}
    total = round(30 * line["unit_price"], 2)
    args = {**pending["args"], "lines": [line], "total_amount": total}
    edited = client.post(f"{url}/edit", json={"args": args}, headers=auth("grace.procure"))
    assert edited.status_code == 200 and edited.json()["approval"]["status"] == "pending", edited.text

    stale = client.post(f"{url}/approve", json={"args_digest": seen}, headers=auth("heidi.finance"))
    stale_reject = client.post(
        f"{url}/reject", json={"args_digest": seen, "reason": "too many"}, headers=auth("heidi.finance")
    )
    malformed = client.post(f"{url}/approve", json={"args_digest": "abc"}, headers=auth("heidi.finance"))
    after = client.get(url, headers=auth("heidi.finance")).json()["approval"]

    problem = assert_problem(stale, 409)
    assert problem["type"].endswith("arguments-changed") and problem["request_id"] == pending["id"]
    assert "changed since they were shown" in problem["detail"]
    assert assert_problem(stale_reject, 409)["type"].endswith("arguments-changed")
    assert assert_problem(malformed, 422)["errors"][0]["loc"] == ["body", "args_digest"]
    assert after["status"] == "pending" and [v["approver"] for v in after["votes"]] == ["grace.procure"]
    current = client.post(
        f"{url}/approve", json={"args_digest": after["args_digest"]}, headers=auth("heidi.finance")
    )
    assert current.json()["approval"]["status"] == "approved"
    assert current.json()["approval"]["args"]["lines"][0]["quantity"] == 30


def test_invalid_input_names_the_field(client: TestClient, auth: Headers) -> None:
    empty = client.post("/v1/threads", json={}, headers=auth("alice.requester"))
    not_json = client.post(
        "/v1/threads", content=b"{", headers={**auth("alice.requester"), "content-type": "application/json"}
    )
    too_many = client.get("/v1/approvals", params={"limit": 10_000}, headers=auth("alice.requester"))

    assert assert_problem(empty, 422)["errors"] == [{"loc": ["body", "message"], "msg": "Field required"}]
    assert_problem(not_json, 422)
    assert assert_problem(too_many, 422)["errors"][0]["loc"] == ["query", "limit"]


def test_unknown_ids_are_404_problems(client: TestClient, auth: Headers) -> None:
    for url in ("/v1/threads/t-nothing", "/v1/approvals/APR-00000000", "/v1/executions/ffffffffffff"):
        assert_problem(client.get(url, headers=auth("mia.audit")), 404)
    assert_problem(client.get("/v1/nowhere", headers=auth("mia.audit")), 404)


def test_bodies_over_the_limit_are_refused(settings: Settings, ops: Operations, auth: Headers) -> None:
    small = settings.model_copy(update={"api_max_body_bytes": 1024})
    with TestClient(create_app(small, operations=ops, worker=False)) as client:
        declared = client.post("/v1/threads", json={"message": "x" * 2000}, headers=auth("alice.requester"))
        streamed = client.post(
            "/v1/threads",
            content=(chunk for chunk in [b'{"message": "', b"x" * 2000, b'"}']),
            headers={**auth("alice.requester"), "content-type": "application/json"},
        )

    assert "1024 bytes" in str(assert_problem(declared, 413)["detail"])
    assert_problem(streamed, 413)


def test_sending_is_rate_limited_per_person_from_the_trail(
    settings: Settings, auth: Headers, ops: Operations
) -> None:
    strict = settings.model_copy(update={"send_rate_per_minute": 2})
    ops.send("what is the status of INC0010047", actor="alice.requester", channel="cli")  # another process
    with TestClient(create_app(strict, operations=Operations(strict), worker=False)) as client:
        allowed = start(client, auth, "alice.requester", "what is the status of INC0010047")
        limited = client.post("/v1/threads", json={"message": "and again"}, headers=auth("alice.requester"))
        other = client.post("/v1/threads", json={"message": "hello"}, headers=auth("bob.requester"))

    assert allowed["thread_id"]
    body = assert_problem(limited, 429)
    assert 1 <= int(limited.headers["retry-after"]) <= 60 and body["retry_after"] == int(
        limited.headers["retry-after"]
    )
    assert other.status_code == 201


def test_a_streamed_turn_reports_each_governance_step_then_the_result(
    client: TestClient, auth: Headers
) -> None:
    headers = {**auth("alice.requester"), "accept": "text/event-stream"}
    with client.stream("POST", "/v1/threads", json={"message": LAPTOPS}, headers=headers) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = _sse(response.iter_lines())

    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "result" and "governance" in kinds
    steps = [data for kind, data in events if kind == "governance"]
    decisions = [s for s in steps if s.get("step", s.get("kind")) == "decision"]
    assert {"tier", "rule_ids"} <= set(decisions[-1])
    assert any(s.get("step", s.get("kind")) == "approval_requested" for s in steps)
    result = events[-1][1]
    assert result["answer"] is None and result["pending"][0]["tool"] == "procurement_create_purchase_order"


def test_a_streamed_turn_that_fails_ends_with_a_problem(client: TestClient, auth: Headers) -> None:
    [pending] = start(client, auth, "carol.desk", WRITE_OFF)["pending"]
    headers = {**auth("carol.desk"), "accept": "text/event-stream"}
    url = f"/v1/threads/{pending['thread_id']}/messages"
    with client.stream("POST", url, json={"message": "and?"}, headers=headers) as response:
        events = _sse(response.iter_lines())

    assert events[-1][0] == "error" and events[-1][1]["status"] == 409


def test_health_and_readiness_need_no_caller(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["ready"] and ready["checks"]["model"].startswith("ok: offline planner")
    assert set(ready["checks"]) >= {"governance_db", "checkpoints", "policy", "knowledge", "model"}


def _sse(lines: Any) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = []
    kind = "message"
    for line in lines:
        if line.startswith("event:"):
            kind = line.partition(":")[2].strip()
        elif line.startswith("data:"):
            events.append((kind, json.loads(line.partition(":")[2].strip())))
    return events


def test_a_streaming_model_streams_its_answer_as_tokens(settings: Settings, auth: Headers) -> None:
    from langchain_core.messages import AIMessage, ToolCall

    from evals.scripted import ScriptedChatModel

    answer = "AMS-1 has 60 SSD-1TB-NVME available."
    model = ScriptedChatModel()
    lookup = ToolCall(name="inventory_get_stock", args={"sku": "SSD-1TB-NVME", "warehouse": "AMS-1"}, id="c1")
    model.load([AIMessage(content="", tool_calls=[lookup]), AIMessage(content=answer)])
    ops = Operations(settings, model=model)
    headers = {**auth("alice.requester"), "accept": "text/event-stream"}

    with TestClient(create_app(settings, operations=ops, worker=False)) as client:
        body = {"message": "how many SSD-1TB-NVME in AMS-1?"}
        with client.stream("POST", "/v1/threads", json=body, headers=headers) as response:
            events = _sse(response.iter_lines())

    kinds = [kind for kind, _ in events]
    assert kinds.index("token") > kinds.index("governance") and kinds[-1] == "result"
    assert "".join(str(data["text"]) for kind, data in events if kind == "token") == answer
    assert events[-1][1]["answer"] == answer


def test_the_audit_trail_is_queried_by_time(client: TestClient, auth: Headers) -> None:
    start(client, auth, "carol.desk", WRITE_OFF)
    mia = auth("mia.audit")
    events = client.get("/v1/audit", headers=mia).json()["items"]
    middle = events[len(events) // 2]["at"]

    before = client.get("/v1/audit", params={"until": middle}, headers=mia).json()["items"]
    after = client.get("/v1/audit", params={"since": middle}, headers=mia).json()["items"]
    naive = client.get("/v1/audit", params={"since": middle[:-6]}, headers=mia).json()[
        "items"
    ]  # no offset: UTC

    assert before + after == events and before and all(e["at"] >= middle for e in after)
    assert naive == after


def test_metrics_count_requests_by_route_template_for_a_caller(client: TestClient, auth: Headers) -> None:
    client.get("/v1/threads/t-unknown", headers=auth("alice.requester"))
    unauthenticated = client.get("/metrics")
    scraped = client.get("/metrics", headers=auth("alice.requester"))

    assert_problem(unauthenticated, 401)
    assert scraped.headers["content-type"].startswith("text/plain")
    assert 'route="/v1/threads/{thread_id}",status="404"' in scraped.text
    assert "t-unknown" not in scraped.text


def test_the_queue_pages_by_cursor_and_names_a_bad_one(client: TestClient, auth: Headers) -> None:
    asked = [start(client, auth, "carol.desk", WRITE_OFF)["pending"][0]["id"] for _ in range(3)]
    start(client, auth, "alice.requester", LAPTOPS)  # not frank's to see

    seen, cursor = [], None
    while True:
        params: dict[str, str | int] = {"limit": 1, "mine": "true"}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v1/approvals", params=params, headers=auth("frank.warehouse")).json()
        seen += [item["id"] for item in page["items"]]
        if (cursor := page["next_cursor"]) is None:
            break

    assert seen == asked
    gone = client.get("/v1/approvals", params={"cursor": "APR-00000000"}, headers=auth("frank.warehouse"))
    assert assert_problem(gone, 422)["errors"][0]["loc"] == ["query", "cursor"]
    malformed = client.get("/v1/approvals", params={"cursor": "12"}, headers=auth("frank.warehouse"))
    assert_problem(malformed, 422)
