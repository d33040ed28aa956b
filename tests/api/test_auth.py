"""Authentication and authorisation over every endpoint.

Pins: every endpoint but /healthz and /readyz answers 401 (with ``WWW-Authenticate: Bearer``) without
a caller, and for malformed, unknown, expired and revoked tokens, saying which; a trusted header is
believed only from a configured proxy address (from anywhere else: 401, audited, even beside a valid
token); a person who may not see a thread, approval or execution gets the 404 an unknown id gets
(URL guessing learns nothing) and the refusal is audited; approvers see what they may act on and the
threads behind it; auditors read every thread and the whole trail; only the settle roles settle.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from agent import wiring
from agent.api import create_app
from agent.operations import Operations
from agent.settings import Settings
from governance.tokens import TokenStore
from tests.api.conftest import Headers
from tests.api.test_api import LAPTOPS, assert_problem, start

OPEN = {"/healthz", "/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def _endpoints(app: FastAPI) -> list[tuple[str, str]]:
    """Every operation of the OpenAPI document, with its path parameters filled in."""
    return [
        (method.upper(), re.sub(r"\{[^}]+\}", "x-1", path))
        for path, operations in app.openapi()["paths"].items()
        if path not in OPEN
        for method in operations
    ]


def test_every_endpoint_but_health_needs_a_caller(app: FastAPI, client: TestClient, ops: Operations) -> None:
    endpoints = _endpoints(app)
    assert len(endpoints) >= 19  # the API as documented: a new endpoint is covered here by itself

    for method, path in endpoints:
        response = client.request(method, path, json={})
        body = assert_problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer"), (method, path)
        assert body["detail"] == "no credentials: send Authorization: Bearer TOKEN"
    refused = ops.audit_query(kinds=["access_denied"], limit=100).events
    assert len(refused) == len(endpoints) and {e.payload["status"] for e in refused} == {401}
    assert client.get("/healthz").status_code == 200 and client.get("/readyz").status_code == 200


@pytest.mark.parametrize(
    ("authorization", "detail"),
    [
        ("Basic YWxpY2U6eA==", "the Authorization header must be: Bearer TOKEN"),
        ("Bearer not-a-token", "not an opslayer API token (expected opl_<id>_<secret>)"),
        (f"Bearer opl_{'0' * 16}_{'A' * 43}", "unknown token"),
    ],
)
def test_bad_tokens_are_401_saying_why(client: TestClient, authorization: str, detail: str) -> None:
    response = client.get("/v1/me", headers={"Authorization": authorization})
    assert assert_problem(response, 401)["detail"] == detail


def test_a_wrong_secret_for_a_real_token_reads_as_unknown(client: TestClient, ops: Operations) -> None:
    issued = ops.create_token("alice.requester", expires_in=None)
    forged = f"opl_{issued.record.id}_{'A' * 43}"
    response = client.get("/v1/me", headers={"Authorization": f"Bearer {forged}"})
    assert assert_problem(response, 401)["detail"] == "unknown token"


def test_expired_and_revoked_tokens_are_refused(
    client: TestClient, ops: Operations, settings: Settings
) -> None:
    last_year = datetime.now(UTC) - timedelta(days=365)
    expired = TokenStore(wiring.governance_engine(settings), clock=lambda: last_year).create(
        "alice.requester", expires_in=timedelta(days=90)
    )
    revoked = ops.create_token("alice.requester", expires_in=timedelta(days=90))
    assert client.get("/v1/me", headers={"Authorization": f"Bearer {revoked.token}"}).status_code == 200
    ops.revoke_token(revoked.record.id, by="alice.requester")

    old = client.get("/v1/me", headers={"Authorization": f"Bearer {expired.token}"})
    gone = client.get("/v1/me", headers={"Authorization": f"Bearer {revoked.token}"})

    assert "expired" in str(assert_problem(old, 401)["detail"])
    assert "revoked" in str(assert_problem(gone, 401)["detail"])


def test_me_is_the_caller(client: TestClient, auth: Headers) -> None:
    me = client.get("/v1/me", headers=auth("carol.desk")).json()
    assert (me["id"], me["roles"], me["auditor"], me["may_settle"]) == (
        "carol.desk",
        ["service_desk"],
        False,
        True,
    )
    assert client.get("/v1/me", headers=auth("mia.audit")).json()["auditor"] is True


@pytest.fixture
def behind_proxy(settings: Settings, ops: Operations) -> FastAPI:
    trusting = settings.model_copy(
        update={"trusted_header": "X-Forwarded-User", "trusted_proxies": ("10.0.0.0/8", "::1")}
    )
    return create_app(trusting, operations=ops, worker=False)


def test_a_trusted_header_from_a_proxy_names_the_caller(behind_proxy: FastAPI) -> None:
    with TestClient(behind_proxy, client=("10.1.2.3", 40000)) as proxy:
        me = proxy.get("/v1/me", headers={"X-Forwarded-User": "grace.procure"})
        stranger = proxy.get("/v1/me", headers={"X-Forwarded-User": "mallory"})
    assert me.status_code == 200 and me.json()["id"] == "grace.procure"
    assert "names no person" in str(assert_problem(stranger, 401)["detail"])


def test_a_forged_trusted_header_from_elsewhere_is_refused_and_audited(
    behind_proxy: FastAPI, ops: Operations, auth: Headers
) -> None:
    headers = {"X-Forwarded-User": "grace.procure", **auth("bob.requester")}
    with TestClient(behind_proxy, client=("192.168.7.7", 40000)) as outsider:
        forged = outsider.get("/v1/approvals", headers=headers)
        plain = outsider.get("/v1/me", headers=auth("bob.requester"))

    assert "only from the configured proxies" in str(assert_problem(forged, 401)["detail"])
    assert plain.json()["id"] == "bob.requester"  # a token alone still works from anywhere
    [refusal] = ops.audit_query(kinds=["access_denied"], limit=10).events
    assert refusal.payload["peer"] == "192.168.7.7" and refusal.payload["status"] == 401


def test_a_trusted_header_needs_proxy_addresses(settings: Settings) -> None:
    from agent.run.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="OPSLAYER_TRUSTED_PROXIES"):
        create_app(settings.model_copy(update={"trusted_header": "X-User"}), worker=False)
    with pytest.raises(ConfigurationError, match=r"'proxy\.example'"):
        create_app(
            settings.model_copy(update={"trusted_header": "X-User", "trusted_proxies": ("proxy.example",)}),
            worker=False,
        )


# --- who sees what ----------------------------------------------------------------------------------


@pytest.fixture
def order(client: TestClient, auth: Headers) -> dict[str, Any]:
    """Alice's 40 laptops, waiting for a procurement manager and a finance controller."""
    turn = start(client, auth, "alice.requester", LAPTOPS)
    return {"thread": turn["thread_id"], "request": turn["pending"][0]["id"]}


def test_guessing_someone_elses_ids_gets_the_404_of_an_unknown_id(
    client: TestClient, auth: Headers, ops: Operations, order: dict[str, Any]
) -> None:
    thread, request = order["thread"], order["request"]
    bob = auth("bob.requester")
    executions = client.get("/v1/executions", params={"thread": thread}, headers=auth("mia.audit")).json()[
        "items"
    ]
    key = executions[0]["key"]
    fake_thread, fake_request, fake_key = f"t-{'0' * 12}", "APR-00000000", "f" * 64
    guesses: list[tuple[str, str, dict[str, Any] | None, str, str]] = [
        ("GET", "/v1/threads/{}", None, thread, fake_thread),
        ("POST", "/v1/threads/{}/messages", {"message": "hi"}, thread, fake_thread),
        ("GET", "/v1/approvals/{}", None, request, fake_request),
        ("POST", "/v1/approvals/{}/approve", {}, request, fake_request),
        ("POST", "/v1/approvals/{}/reject", {"reason": "no"}, request, fake_request),
        ("POST", "/v1/approvals/{}/edit", {"args": {}}, request, fake_request),
        ("GET", "/v1/executions/{}", None, key, fake_key),
        ("POST", "/v1/executions/{}/settle", {"status": "failed", "text": "x"}, key, fake_key),
        ("GET", "/v1/audit?thread={}", None, thread, fake_thread),
        ("GET", "/v1/executions?thread={}", None, thread, fake_thread),
    ]
    for method, url, body, real_id, fake_id in guesses:
        real = assert_problem(client.request(method, url.format(real_id), json=body, headers=bob), 404)
        fake = assert_problem(client.request(method, url.format(fake_id), json=body, headers=bob), 404)
        assert real["type"] == fake["type"], url
        assert str(real["detail"]).replace(real_id, "ID") == str(fake["detail"]).replace(fake_id, "ID"), url

    refused = [e for e in ops.audit_query(kinds=["access_denied"], actor="bob.requester", limit=100).events]
    assert len(refused) == 2 * len(guesses) and {e.payload["status"] for e in refused} == {404}
    assert client.get("/v1/approvals", params={"status": "all"}, headers=bob).json()["items"] == []
    assert client.get("/v1/executions", headers=bob).json()["items"] == []


def test_approvers_see_what_they_may_act_on_and_the_threads_behind_it(
    client: TestClient, auth: Headers, order: dict[str, Any]
) -> None:
    thread, request = order["thread"], order["request"]
    for approver in ("grace.procure", "heidi.finance", "leo.procure2"):
        assert client.get(f"/v1/approvals/{request}", headers=auth(approver)).status_code == 200
        assert client.get(f"/v1/threads/{thread}", headers=auth(approver)).status_code == 200
    assert (
        client.get("/v1/approvals", params={"mine": "true"}, headers=auth("frank.warehouse")).json()["items"]
        == []
    )
    assert client.get(f"/v1/threads/{thread}", headers=auth("frank.warehouse")).status_code == 404
    assert client.get(f"/v1/audit?thread={thread}", headers=auth("grace.procure")).status_code == 200

    sending = client.post(
        f"/v1/threads/{thread}/messages", json={"message": "hi"}, headers=auth("grace.procure")
    )
    assert "only the person who started" in str(assert_problem(sending, 403)["detail"])


def test_auditors_read_every_thread_and_the_whole_trail(
    client: TestClient, auth: Headers, order: dict[str, Any]
) -> None:
    mia, alice = auth("mia.audit"), auth("alice.requester")

    assert client.get(f"/v1/threads/{order['thread']}", headers=mia).status_code == 200
    assert client.get(f"/v1/approvals/{order['request']}", headers=mia).status_code == 200
    first = client.get("/v1/audit", params={"limit": 5}, headers=mia).json()
    after = client.get("/v1/audit", params={"limit": 5, "cursor": first["next_cursor"]}, headers=mia).json()
    assert [e["seq"] for e in first["items"] + after["items"]] == list(range(1, 11))
    decisions = client.get(
        "/v1/audit", params={"kind": "decision", "actor": "alice.requester"}, headers=mia
    ).json()
    assert decisions["items"] and {e["kind"] for e in decisions["items"]} == {"decision"}
    assert client.get("/v1/audit/verify", headers=mia).json()["ok"] is True
    assert client.get("/v1/audit/head", headers=mia).json()["seq"] >= 10
    for url in ("/v1/audit", "/v1/audit/verify", "/v1/audit/head"):
        assert_problem(client.get(url, headers=alice), 403)
    own = client.get("/v1/audit", params={"thread": order["thread"]}, headers=alice).json()["items"]
    assert own[0]["kind"] == "request" and own[0]["actor"] == "alice.requester"
    sending = client.post(f"/v1/threads/{order['thread']}/messages", json={"message": "x"}, headers=mia)
    assert_problem(sending, 403)


def test_only_the_settle_roles_settle(client: TestClient, auth: Headers, order: dict[str, Any]) -> None:
    items = client.get(
        "/v1/executions", params={"thread": order["thread"]}, headers=auth("alice.requester")
    ).json()
    key = items["items"][0]["key"]
    body = {"status": "completed", "text": "seen in the backend"}

    by_owner = client.post(f"/v1/executions/{key}/settle", json=body, headers=auth("alice.requester"))
    by_desk = client.post(f"/v1/executions/{key}/settle", json=body, headers=auth("carol.desk"))

    assert "settling needs one of the roles" in str(assert_problem(by_owner, 403)["detail"])
    assert "nothing to settle" in str(assert_problem(by_desk, 409)["detail"])  # it completed: not stuck
    assert client.get(f"/v1/executions/{key}", headers=auth("carol.desk")).json()["execution"]["key"] == key


def test_policy_and_explain_are_for_any_caller(client: TestClient, auth: Headers) -> None:
    bob = auth("bob.requester")
    args = {"sku": "MON-27-4K", "warehouse": "AMS-1", "delta": -3, "kind": "write_off", "reason": "damaged"}
    policy = client.get("/v1/policy", headers=bob).json()
    explained = client.post(
        "/v1/policy/explain", json={"tool": "inventory_adjust_stock", "args": args}, headers=bob
    )
    invalid = client.post(
        "/v1/policy/explain",
        json={"tool": "inventory_adjust_stock", "args": {**args, "delta": "many"}},
        headers=bob,
    )

    assert policy["version"].startswith(policy["document"]["label"])
    decision = explained.json()["decision"]
    assert decision["policy_version"] == policy["version"] and decision["tier"] == "approve"
    assert "delta" in str(assert_problem(invalid, 422)["detail"])


def test_people_list_and_revoke_their_own_tokens_only(client: TestClient, ops: Operations) -> None:
    mine = ops.create_token("alice.requester", expires_in=timedelta(days=1), label="laptop")
    theirs = ops.create_token("bob.requester", expires_in=None)
    alice = {"Authorization": f"Bearer {mine.token}"}

    listed = client.get("/v1/me/tokens", headers=alice).json()
    stolen = client.post(f"/v1/me/tokens/{theirs.record.id}/revoke", headers=alice)
    revoked = client.post(f"/v1/me/tokens/{mine.record.id}/revoke", headers=alice)

    assert [(t["id"], t["label"]) for t in listed] == [(mine.record.id, "laptop")]
    assert assert_problem(stolen, 404)["token_id"] == theirs.record.id
    assert revoked.json()["revoked_by"] == "alice.requester"
    assert_problem(client.get("/v1/me", headers=alice), 401)
    assert client.get("/v1/me", headers={"Authorization": f"Bearer {theirs.token}"}).status_code == 200
    kinds = [e.kind for e in ops.audit_query(kinds=["token_created", "token_revoked"], limit=10).events]
    assert kinds == ["token_created", "token_created", "token_revoked"]
    refused = ops.audit_query(kinds=["access_denied"], limit=10).events
    assert [(e.actor, e.payload["status"]) for e in refused] == [("alice.requester", 404), (None, 401)]
