"""Input the API refuses, and how: a 422 naming the field or parameter, a 409 for a state that does not
allow it, never a 500 and never an undocumented status.

Pins: audit time bounds at the edges of the calendar are answered (before or after every event); the
impact figures name the bound at fault; a body that is not readable JSON is the documented 422 naming
``body``; blank messages and settlement texts are refused naming the field, and errors never cut an id;
oversight conflicts are 409s in the API's own words (fields, routes, not CLI flags); a failed streamed
turn names its thread; the audit head and verify refusals suggest nothing they do not take.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from agent.operations import Operations
from tests.api.conftest import Headers
from tests.api.test_api import LAPTOPS, WRITE_OFF, assert_problem, start

EARLIEST = "0001-01-01T00:00:00+14:00"  # before 0001-01-01 in UTC
LATEST = "9999-12-31T23:59:59-12:00"  # after 9999-12-31 in UTC


def _errors(response: Any, status: int = 422) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = assert_problem(response, status)["errors"]
    return errors


def test_audit_bounds_at_the_edges_of_the_calendar_are_before_or_after_everything(
    client: TestClient, auth: Headers
) -> None:
    thread = start(client, auth, "bob.requester", "hi")["thread_id"]
    bob, mia = auth("bob.requester"), auth("mia.audit")
    everything = client.get("/v1/audit", params={"thread": thread}, headers=bob).json()["items"]

    def items(headers: dict[str, str], **params: str) -> list[dict[str, Any]]:
        response = client.get("/v1/audit", params=params, headers=headers)
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()["items"]
        return found

    assert everything
    assert items(bob, thread=thread, since=EARLIEST) == everything
    assert items(bob, thread=thread, until=LATEST) == everything
    assert items(bob, thread=thread, since=LATEST) == [] and items(bob, thread=thread, until=EARLIEST) == []
    assert items(mia, until=LATEST)[: len(everything)] == items(mia)[: len(everything)]


def test_impact_names_the_bound_that_is_out_of_range(client: TestClient, auth: Headers) -> None:
    mia = auth("mia.audit")

    early = client.get("/v1/impact", params={"since": EARLIEST}, headers=mia)
    late = client.get("/v1/impact", params={"until": LATEST}, headers=mia)
    reversed_range = client.get(
        "/v1/impact", params={"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, headers=mia
    )

    assert [e["loc"] for e in _errors(early)] == [["query", "since"]]
    assert [e["loc"] for e in _errors(late)] == [["query", "until"]]
    assert [e["loc"] for e in _errors(reversed_range)] == [["query", "until"]]


def test_a_body_that_is_not_readable_json_is_the_documented_422(client: TestClient, auth: Headers) -> None:
    headers = {**auth("bob.requester"), "content-type": "application/json"}
    deep = '{"tool": "x", "args": {"a": ' + "[" * 5000 + "]" * 5000 + "}}"

    for body in (b"\xff", deep.encode(), b'{"message":'):
        response = client.post("/v1/policy/explain", content=body, headers=headers)
        assert [e["loc"] for e in _errors(response)] == [["body"]], body[:20]
        assert assert_problem(response, 422)["type"].endswith("/invalid-request")
    documented = client.get("/openapi.json").json()["paths"]["/v1/policy/explain"]["post"]["responses"]
    assert "422" in documented and "400" not in documented


def test_blank_messages_are_refused_naming_the_field(
    client: TestClient, auth: Headers, ops: Operations
) -> None:
    for blank in ("   ", "\n\n", "\t "):
        response = client.post("/v1/threads", json={"message": blank}, headers=auth("bob.requester"))
        assert [e["loc"] for e in _errors(response)] == [["body", "message"]]
    assert ops.audit_query(kinds=["request"], limit=10).events == ()


def test_settling_needs_a_text_and_errors_name_the_key_whole(
    client: TestClient, auth: Headers, ops: Operations
) -> None:
    thread = start(client, auth, "carol.desk", "how many SSD-1TB-NVME in AMS-1?")["thread_id"]
    key = client.get("/v1/executions", params={"thread": thread}, headers=auth("carol.desk")).json()["items"][
        0
    ]["key"]
    desk = auth("carol.desk")

    blank = client.post(
        f"/v1/executions/{key}/settle", json={"status": "failed", "text": "   "}, headers=desk
    )
    done = client.post(f"/v1/executions/{key}/settle", json={"status": "failed", "text": "why"}, headers=desk)

    assert [e["loc"] for e in _errors(blank)] == [["body", "text"]]
    assert key in str(assert_problem(done, 409)["detail"]) and "…" not in str(
        assert_problem(done, 409)["detail"]
    )
    assert ops.audit_query(kinds=["execution_settled"], limit=10).events == ()


def test_oversight_conflicts_are_409s_in_the_apis_words(client: TestClient, auth: Headers) -> None:
    dave, erin, mia = auth("dave.incident"), auth("erin.change"), auth("mia.audit")
    pause = client.post(
        "/v1/autonomy/pause", json={"reason": "x", "tool": "itsm_add_work_note"}, headers=dave
    )
    assert pause.status_code == 201, pause.text
    paused = pause.json()["id"]

    no_tool = client.post("/v1/autonomy/pause", json={"reason": "x", "tool": "zzz_*"}, headers=dave)
    blank_reason = client.post(f"/v1/autonomy/{paused}/resume", json={"reason": "  "}, headers=erin)
    cleared_as_trip = client.post(f"/v1/monitors/{paused}/clear", json={"reason": "x"}, headers=mia)
    first = client.post(f"/v1/autonomy/{paused}/resume", json={"reason": "x"}, headers=erin)
    again = client.post(f"/v1/autonomy/{paused}/resume", json={"reason": "x"}, headers=erin)
    unknown = client.post("/v1/autonomy/RST-00000000/resume", json={"reason": "x"}, headers=erin)
    request = start(client, auth, "alice.requester", LAPTOPS)["pending"][0]["id"]
    veto = client.post(f"/v1/approvals/{request}/veto", json={"reason": "x"}, headers=auth("grace.procure"))

    assert _errors(no_tool) == [
        {"loc": ["body", "tool"], "msg": "tool 'zzz_*' matches no tool in the catalogue"}
    ]
    assert [e["loc"] for e in _errors(blank_reason)] == [["body", "reason"]]
    assert f"POST /v1/autonomy/{paused}/resume" in str(assert_problem(cleared_as_trip, 409)["detail"])
    assert first.status_code == 200
    assert "already cleared" in str(assert_problem(again, 409)["detail"])
    assert f"POST /v1/approvals/{request}/reject" in str(assert_problem(veto, 409)["detail"])
    for response in (no_tool, cleared_as_trip, again, unknown, veto):
        assert "opslayer " not in response.text and "--tool" not in response.text, response.text


def test_a_failed_streamed_turn_names_its_thread(client: TestClient, auth: Headers) -> None:
    [pending] = start(client, auth, "carol.desk", WRITE_OFF)["pending"]
    headers = {**auth("carol.desk"), "accept": "text/event-stream"}
    url = f"/v1/threads/{pending['thread_id']}/messages"
    with client.stream("POST", url, json={"message": "and?"}, headers=headers) as response:
        lines = list(response.iter_lines())

    data = [json.loads(line[len("data:") :]) for line in lines if line.startswith("data:")]
    assert data[-1]["status"] == 409 and data[-1]["thread_id"] == pending["thread_id"]


def test_the_audit_head_and_verify_refusals_suggest_nothing_they_do_not_take(
    client: TestClient, auth: Headers
) -> None:
    alice = auth("alice.requester")
    for url in ("/v1/audit/head", "/v1/audit/verify"):
        assert "?thread=" not in str(assert_problem(client.get(url, headers=alice), 403)["detail"])
    assert "?thread=" in str(assert_problem(client.get("/v1/audit", headers=alice), 403)["detail"])
