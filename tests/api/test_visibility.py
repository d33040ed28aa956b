"""What a caller may learn of what they may not see, and what refusals cost the trail.

Pins: a person who is neither auditor nor settler pages through every execution of the threads they
may see (sent to, or asked to approve in), however many other people's calls are newer; an approval
cursor they may not see answers as an unknown one does; an execution key prefix that also matches
other people's executions is a 404 (audited), never a 409 naming their keys, and an ambiguity among
their own names the keys whole; a trusted header sent twice is refused; a refused anonymous request
stores a bounded path, and at most ``ANONYMOUS_REFUSALS_PER_MINUTE`` of them a minute are written,
the next one written counting the rest.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from agent.api import create_app
from agent.api.problems import ANONYMOUS_REFUSALS_PER_MINUTE, PATH_KEPT, RefusalBudget
from agent.operations import Operations
from agent.settings import Settings
from tests.api.conftest import Headers
from tests.api.test_api import LAPTOPS, assert_problem, start

STOCK = "how many SSD-1TB-NVME in AMS-1?"


def _ran(ops: Operations, key: str, thread: str) -> None:
    ops.stores.executions.run_once(
        key, tool="itsm_get_incident", args_digest="d" * 64, thread_id=thread, handler=str
    )


def _all_pages(client: TestClient, headers: dict[str, str], limit: int) -> list[str]:
    keys: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/executions", params=params, headers=headers).json()
        keys += [item["key"] for item in page["items"]]
        if (cursor := page["next_cursor"]) is None:
            return keys


def test_a_person_pages_through_every_execution_they_may_see(
    client: TestClient, auth: Headers, ops: Operations
) -> None:
    alices = start(client, auth, "alice.requester", STOCK)["thread_id"]
    _ran(ops, "a" * 64, alices)
    bobs = start(client, auth, "bob.requester", STOCK)["thread_id"]
    for n in range(25):  # newer than all of alice's: they used to fill the window she was shown
        _ran(ops, f"{n:02d}" + "b" * 62, bobs)
    mia = auth("mia.audit")
    theirs = client.get("/v1/executions", params={"thread": alices, "limit": 100}, headers=mia).json()

    expected = [item["key"] for item in theirs["items"]]
    assert len(expected) >= 2
    for limit in (1, 2, 5):
        assert _all_pages(client, auth("alice.requester"), limit) == expected
    assert set(_all_pages(client, auth("bob.requester"), 3)).isdisjoint(expected)
    ordered = start(client, auth, "alice.requester", LAPTOPS)["thread_id"]  # grace is asked to approve
    _ran(ops, "c" * 64, ordered)
    asked = client.get("/v1/executions", params={"thread": ordered, "limit": 100}, headers=mia).json()
    assert _all_pages(client, auth("grace.procure"), 2) == [item["key"] for item in asked["items"]]


def test_an_approval_cursor_the_caller_may_not_see_reads_as_unknown(
    client: TestClient, auth: Headers
) -> None:
    hidden = start(client, auth, "alice.requester", LAPTOPS)["pending"][0]["id"]
    bob = auth("bob.requester")

    seen = client.get("/v1/approvals", params={"status": "all", "cursor": hidden}, headers=bob)
    unknown = client.get("/v1/approvals", params={"status": "all", "cursor": "APR-00000000"}, headers=bob)

    assert str(assert_problem(seen, 422)).replace(hidden, "ID") == str(assert_problem(unknown, 422)).replace(
        "APR-00000000", "ID"
    )
    mine = client.get(
        "/v1/approvals", params={"status": "all", "cursor": hidden}, headers=auth("grace.procure")
    )
    assert mine.status_code == 200


def test_an_ambiguous_prefix_names_no_one_elses_keys(
    client: TestClient, auth: Headers, ops: Operations
) -> None:
    alices = start(client, auth, "alice.requester", STOCK)["thread_id"]
    bobs = start(client, auth, "bob.requester", STOCK)["thread_id"]
    hers, his = "feedface" + "a" * 56, "feedface" + "b" * 56
    _ran(ops, hers, alices)
    _ran(ops, his, bobs)
    own = ["cafebabe" + "1" * 56, "cafebabe" + "2" * 56]
    for key in own:
        _ran(ops, key, alices)
    alice = auth("alice.requester")

    shown = client.get("/v1/executions/feedface", headers=alice)
    settled = client.post(
        "/v1/executions/feedface/settle", json={"status": "failed", "text": "x"}, headers=alice
    )
    unknown = client.get("/v1/executions/deadbeef", headers=alice)
    among_hers = client.get("/v1/executions/cafebabe", headers=alice)
    for_an_auditor = client.get("/v1/executions/feedface", headers=auth("mia.audit"))

    for refused in (shown, settled):
        body = assert_problem(refused, 404)
        assert "feedfacebbbb" not in refused.text and "feedfaceaaaa" not in refused.text
        assert body["type"] == assert_problem(unknown, 404)["type"]
    denied = ops.audit_query(kinds=["access_denied"], actor="alice.requester", limit=10).events
    assert [e.payload["status"] for e in denied] == [404, 404, 404]
    assert all(key in str(assert_problem(among_hers, 409)["detail"]) for key in own)  # whole, never cut
    assert his in str(assert_problem(for_an_auditor, 409)["detail"])


@pytest.fixture
def behind_proxy(settings: Settings, ops: Operations) -> FastAPI:
    trusting = settings.model_copy(
        update={"trusted_header": "X-Forwarded-User", "trusted_proxies": ("10.0.0.0/8",)}
    )
    return create_app(trusting, operations=ops, worker=False)


def test_a_trusted_header_sent_twice_is_refused(behind_proxy: FastAPI, ops: Operations) -> None:
    twice = [("X-Forwarded-User", "bob.requester"), ("X-Forwarded-User", "mia.audit")]
    with TestClient(behind_proxy, client=("10.1.2.3", 40000)) as proxy:
        refused = proxy.get("/v1/me", headers=twice)
        once = proxy.get("/v1/me", headers=twice[1:])

    assert "more than once" in str(assert_problem(refused, 401)["detail"])
    assert once.json()["id"] == "mia.audit"
    [denied] = ops.audit_query(kinds=["access_denied"], limit=10).events
    assert denied.payload["status"] == 401 and denied.actor is None


def test_a_refused_anonymous_request_stores_a_bounded_path(client: TestClient, ops: Operations) -> None:
    long = "/v1/executions/" + "A" * 65_000

    assert_problem(client.get(long), 401)

    [denied] = ops.audit_query(kinds=["access_denied"], limit=10).events
    assert denied.payload["path"] == long[:PATH_KEPT] and denied.payload["path_length"] == len(long)


def test_anonymous_refusals_written_to_the_trail_are_bounded(
    app: FastAPI, client: TestClient, ops: Operations
) -> None:
    for _ in range(ANONYMOUS_REFUSALS_PER_MINUTE + 5):
        assert_problem(client.get("/v1/me"), 401)
    assert len(ops.audit_query(kinds=["access_denied"], limit=500).events) == ANONYMOUS_REFUSALS_PER_MINUTE

    now = [0.0]
    app.state.anonymous_refusals = RefusalBudget(per_minute=2, clock=lambda: now[0])
    for _ in range(5):
        assert_problem(client.get("/v1/me"), 401)  # two written, three counted
    now[0] = 60.0
    assert_problem(client.get("/v1/me"), 401)

    written = ops.audit_query(kinds=["access_denied"], limit=500).events[ANONYMOUS_REFUSALS_PER_MINUTE:]
    assert [e.payload.get("unaudited_before") for e in written] == [None, None, 3]
