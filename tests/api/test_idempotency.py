"""``Idempotency-Key`` on the sends (``POST /v1/threads``, ``POST /v1/threads/{id}/messages``).

Pins: a retried send with the same key answers the first answer again (same thread, same body,
``Idempotent-Replayed: true``) and the backend holds one purchase order, the trail one request; a key is
the caller's alone; the key on another message or thread is a 422 naming the header; while the first
send runs a retry is a 409 naming its thread, with ``Retry-After``, and says to read the thread once the
first has run longer than the worker lease; a send refused before it ran (thread busy, rate limit) gives
the key back; a send that failed after it started (the planner down) is answered again, not run again;
a streamed send is replayed as one event; malformed keys are 422s naming the header; keys past the
retention are new again; replays count against no rate; the OpenAPI document declares the header.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from langchain_core.messages import AIMessage, BaseMessage
from sqlalchemy import inspect

from agent.api import create_app
from agent.api.idempotency import fingerprint
from agent.operations import Operations
from agent.settings import Settings
from evals.scripted import ScriptedChatModel
from tests.api.conftest import Headers
from tests.api.test_api import WRITE_OFF, _sse, assert_problem, start

SSDS = "buy 2 x SSD-1TB-NVME"  # a small purchase order: runs at once (notify tier)
QUESTION = "what is the status of INC0010047"
HEADER = "Idempotency-Key"


def keyed(auth: Headers, person: str, key: str, **more: str) -> dict[str, str]:
    return {**auth(person), HEADER: key, **more}


def orders(ops: Operations, person: str) -> list[Any]:
    return ops.systems.procurement.list_purchase_orders(requester=person)


def requests(ops: Operations, person: str) -> list[Any]:
    return list(ops.audit_query(kinds=["request"], actor=person, limit=100).events)


def problem_type(response: Any, status: int) -> str:
    return str(assert_problem(response, status)["type"]).rsplit("/", 1)[-1]


def header_errors(response: Any) -> list[Any]:
    return [e["loc"] for e in assert_problem(response, 422)["errors"]]


@pytest.fixture
def app_with(settings: Settings, auth: Headers) -> Iterator[Callable[..., TestClient]]:
    """``app_with(ops, **settings)``: a client of an app over ``ops`` with those settings changed."""
    clients: list[TestClient] = []

    def make(ops: Operations, **changes: Any) -> TestClient:
        client = TestClient(create_app(settings.model_copy(update=changes), operations=ops, worker=False))
        clients.append(client.__enter__())
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def test_a_retried_start_answers_the_first_answer_and_orders_once(
    client: TestClient, auth: Headers, ops: Operations
) -> None:
    first = client.post("/v1/threads", json={"message": SSDS}, headers=keyed(auth, "alice.requester", "k-1"))
    again = client.post("/v1/threads", json={"message": SSDS}, headers=keyed(auth, "alice.requester", "k-1"))
    quoted = client.post(
        "/v1/threads", json={"message": SSDS}, headers=keyed(auth, "alice.requester", '"k-1"')
    )

    assert first.status_code == again.status_code == quoted.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == quoted.headers["idempotent-replayed"] == "true"
    assert again.json() == quoted.json() == first.json() and "PO-" in str(first.json()["answer"])
    assert len(orders(ops, "alice.requester")) == 1
    assert [e.thread_id for e in requests(ops, "alice.requester")] == [first.json()["thread_id"]]


def test_a_retried_message_answers_the_first_answer_and_orders_once(
    client: TestClient, auth: Headers, ops: Operations
) -> None:
    thread = start(client, auth, "alice.requester", QUESTION)["thread_id"]
    url = f"/v1/threads/{thread}/messages"

    first = client.post(url, json={"message": SSDS}, headers=keyed(auth, "alice.requester", "k-2"))
    again = client.post(url, json={"message": SSDS}, headers=keyed(auth, "alice.requester", "k-2"))

    assert first.status_code == again.status_code == 200, first.text
    assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json()
    assert first.json()["thread_id"] == thread
    assert len(orders(ops, "alice.requester")) == 1
    assert len(requests(ops, "alice.requester")) == 2  # the start and one message


def test_the_key_on_another_message_or_thread_is_refused(
    client: TestClient, auth: Headers, ops: Operations
) -> None:
    one = start(client, auth, "alice.requester", QUESTION)["thread_id"]
    other = start(client, auth, "alice.requester", QUESTION)["thread_id"]
    alice = keyed(auth, "alice.requester", "k-3")
    sent = client.post(f"/v1/threads/{one}/messages", json={"message": QUESTION}, headers=alice)

    other_text = client.post(f"/v1/threads/{one}/messages", json={"message": SSDS}, headers=alice)
    other_thread = client.post(f"/v1/threads/{other}/messages", json={"message": QUESTION}, headers=alice)
    new_thread = client.post("/v1/threads", json={"message": QUESTION}, headers=alice)

    assert sent.status_code == 200
    for refused in (other_text, other_thread, new_thread):
        assert problem_type(refused, 422) == "idempotency-key-reused"
        assert "different request" in refused.json()["detail"]
        assert header_errors(refused) == [["header", HEADER]]
    assert orders(ops, "alice.requester") == [] and len(requests(ops, "alice.requester")) == 3


def test_one_persons_key_is_not_anothers(client: TestClient, auth: Headers, ops: Operations) -> None:
    alice, bob = keyed(auth, "alice.requester", "k-4"), keyed(auth, "bob.requester", "k-4")
    alices = client.post("/v1/threads", json={"message": SSDS}, headers=alice)
    bobs = client.post("/v1/threads", json={"message": SSDS}, headers=bob)
    alices_again = client.post("/v1/threads", json={"message": SSDS}, headers=alice)
    bobs_again = client.post("/v1/threads", json={"message": SSDS}, headers=bob)

    assert alices.status_code == bobs.status_code == 201 and "idempotent-replayed" not in bobs.headers
    assert alices.json()["thread_id"] != bobs.json()["thread_id"]
    assert alices_again.json() == alices.json() and bobs_again.json() == bobs.json()
    assert alices_again.headers["idempotent-replayed"] == bobs_again.headers["idempotent-replayed"] == "true"
    assert len(orders(ops, "alice.requester")) == len(orders(ops, "bob.requester")) == 1


class Held:
    """A model whose first reply waits until the test lets it go (a turn still running)."""

    def __init__(self) -> None:
        self.entered, self.go = threading.Event(), threading.Event()

    def reply(self, messages: list[BaseMessage]) -> AIMessage:
        self.entered.set()
        assert self.go.wait(timeout=60), "the test never let the turn go on"
        return AIMessage(content="Done.")


def test_a_retry_while_the_first_send_runs_is_told_to_come_back(
    settings: Settings, auth: Headers, app_with: Callable[..., TestClient]
) -> None:
    held = Held()
    client = app_with(Operations(settings, model=ScriptedChatModel(reply=held.reply)))
    headers = keyed(auth, "alice.requester", "k-5")
    answers: list[Any] = []
    running = threading.Thread(
        target=lambda: answers.append(client.post("/v1/threads", json={"message": "hi"}, headers=headers))
    )
    running.start()
    try:
        assert held.entered.wait(timeout=60)
        busy = client.post("/v1/threads", json={"message": "hi"}, headers=headers)
    finally:
        held.go.set()
        running.join(timeout=60)
    again = client.post("/v1/threads", json={"message": "hi"}, headers=headers)

    problem = assert_problem(busy, 409)
    assert problem["type"].endswith("/idempotency-key-in-use") and busy.headers["retry-after"] == "1"
    [first] = answers
    assert first.status_code == 201 and problem["thread_id"] == first.json()["thread_id"]
    assert datetime.fromisoformat(problem["since"]) <= datetime.now(UTC)
    assert "has not finished yet" in problem["detail"]
    assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json()


def test_a_claim_its_process_left_running_says_to_read_the_thread(
    settings: Settings, auth: Headers, app_with: Callable[..., TestClient]
) -> None:
    now = [datetime.now(UTC)]
    ops = Operations(settings, clock=lambda: now[0])
    client = app_with(ops)
    ops.stores.idempotency.claim(  # a send whose process died before it finished
        "alice.requester", "k-6", fingerprint=fingerprint("/v1/threads", "hi"), thread_id="t-0123456789ab"
    )
    now[0] += timedelta(seconds=settings.worker_lease_s + 1)

    stale = client.post("/v1/threads", json={"message": "hi"}, headers=keyed(auth, "alice.requester", "k-6"))

    problem = assert_problem(stale, 409)
    assert problem["thread_id"] == "t-0123456789ab" and stale.headers["retry-after"] == "1"
    assert "may have stopped" in problem["detail"] and "Read the thread" in problem["detail"]


def test_a_busy_thread_gives_the_key_back(client: TestClient, auth: Headers, ops: Operations) -> None:
    turn = start(client, auth, "carol.desk", WRITE_OFF)
    [pending] = turn["pending"]
    url, carol = f"/v1/threads/{turn['thread_id']}/messages", keyed(auth, "carol.desk", "k-7")

    busy = client.post(url, json={"message": "and?"}, headers=carol)
    rejected = client.post(
        f"/v1/approvals/{pending['id']}/reject", json={"reason": "recount"}, headers=auth("frank.warehouse")
    )
    ops.resume(turn["thread_id"])  # the worker's job
    sent = client.post(url, json={"message": "and?"}, headers=carol)
    again = client.post(url, json={"message": "and?"}, headers=carol)

    assert problem_type(busy, 409) == "thread-waiting" and rejected.status_code == 200
    assert sent.status_code == 200 and "idempotent-replayed" not in sent.headers
    assert again.headers["idempotent-replayed"] == "true" and again.json() == sent.json()
    assert len(requests(ops, "carol.desk")) == 2


def test_a_rate_limited_send_gives_the_key_back(
    ops: Operations, auth: Headers, app_with: Callable[..., TestClient]
) -> None:
    strict, lenient = app_with(ops, send_rate_per_minute=1), app_with(ops)
    start(strict, auth, "alice.requester", QUESTION)
    headers = keyed(auth, "alice.requester", "k-8")

    limited = strict.post("/v1/threads", json={"message": SSDS}, headers=headers)
    later = lenient.post("/v1/threads", json={"message": SSDS}, headers=headers)
    again = lenient.post("/v1/threads", json={"message": SSDS}, headers=headers)

    assert problem_type(limited, 429) == "rate-limited"
    assert later.status_code == 201 and "idempotent-replayed" not in later.headers
    assert again.headers["idempotent-replayed"] == "true" and again.json() == later.json()
    assert len(orders(ops, "alice.requester")) == 1


def _down(messages: list[BaseMessage]) -> AIMessage:
    raise ConnectionError("the endpoint is unreachable")


def test_a_send_the_planner_failed_is_answered_again_not_run_again(
    settings: Settings, auth: Headers, app_with: Callable[..., TestClient]
) -> None:
    model = ScriptedChatModel(reply=_down)
    ops = Operations(settings, model=model)
    client = app_with(ops)
    headers = keyed(auth, "alice.requester", "k-9")

    first = client.post("/v1/threads", json={"message": "hi"}, headers=headers)
    again = client.post("/v1/threads", json={"message": "hi"}, headers=headers)

    assert problem_type(first, 503) == "planner-unavailable" and "idempotent-replayed" not in first.headers
    assert again.status_code == 503 and again.headers["idempotent-replayed"] == "true"
    assert again.headers["content-type"].startswith("application/problem+json")
    assert again.json() == first.json() and first.json()["thread_id"]
    assert model.calls == 1 and len(requests(ops, "alice.requester")) == 1


def test_a_streamed_send_is_replayed_as_its_result_event(
    client: TestClient, auth: Headers, ops: Operations
) -> None:
    streamed = keyed(auth, "alice.requester", "k-10", accept="text/event-stream")
    with client.stream("POST", "/v1/threads", json={"message": SSDS}, headers=streamed) as response:
        first = _sse(response.iter_lines())
    with client.stream("POST", "/v1/threads", json={"message": SSDS}, headers=streamed) as response:
        replayed, marked = _sse(response.iter_lines()), response.headers.get("idempotent-replayed")
    as_json = client.post(
        "/v1/threads", json={"message": SSDS}, headers=keyed(auth, "alice.requester", "k-10")
    )

    assert first[-1][0] == "result" and "governance" in [kind for kind, _ in first]
    assert replayed == [first[-1]] and marked == "true"
    assert as_json.status_code == 201 and as_json.json() == first[-1][1]
    assert len(orders(ops, "alice.requester")) == 1


def test_a_streamed_send_that_failed_is_replayed_as_its_error_event(
    settings: Settings, auth: Headers, app_with: Callable[..., TestClient]
) -> None:
    model = ScriptedChatModel(reply=_down)
    client = app_with(Operations(settings, model=model))
    streamed = keyed(auth, "alice.requester", "k-11", accept="text/event-stream")
    with client.stream("POST", "/v1/threads", json={"message": "hi"}, headers=streamed) as response:
        failed = _sse(response.iter_lines())
    with client.stream("POST", "/v1/threads", json={"message": "hi"}, headers=streamed) as response:
        replayed, marked = _sse(response.iter_lines()), response.headers.get("idempotent-replayed")

    kind, problem = failed[-1]
    assert kind == "error" and problem["status"] == 503 and problem["thread_id"].startswith("t-")
    assert replayed == [failed[-1]] and marked == "true" and model.calls == 1


def test_a_streamed_send_to_a_busy_thread_gives_the_key_back(
    client: TestClient, auth: Headers, ops: Operations
) -> None:
    turn = start(client, auth, "carol.desk", WRITE_OFF)
    [pending] = turn["pending"]
    url = f"/v1/threads/{turn['thread_id']}/messages"
    streamed = keyed(auth, "carol.desk", "k-14", accept="text/event-stream")
    with client.stream("POST", url, json={"message": "and?"}, headers=streamed) as response:
        busy = _sse(response.iter_lines())
    client.post(
        f"/v1/approvals/{pending['id']}/reject", json={"reason": "recount"}, headers=auth("frank.warehouse")
    )
    ops.resume(turn["thread_id"])  # the worker's job
    with client.stream("POST", url, json={"message": "and?"}, headers=streamed) as response:
        sent = _sse(response.iter_lines())
    with client.stream("POST", url, json={"message": "and?"}, headers=streamed) as response:
        again, marked = _sse(response.iter_lines()), response.headers.get("idempotent-replayed")

    assert busy[-1][0] == "error" and busy[-1][1]["status"] == 409
    assert sent[-1][0] == "result" and again == [sent[-1]] and marked == "true"


@pytest.mark.parametrize(
    "value",
    ["", '""', "x" * 256, '"' + "x" * 256 + '"', "schlüssel".encode(), "a\x01b", "tab\there"],
    ids=["empty", "empty-string", "256", "quoted-256", "non-ascii", "control", "tab"],
)
def test_a_malformed_key_is_refused_naming_the_header(
    client: TestClient, auth: Headers, ops: Operations, value: str | bytes
) -> None:
    headers: dict[str, Any] = {**auth("alice.requester"), HEADER: value}

    refused = client.post("/v1/threads", json={"message": SSDS}, headers=headers)

    assert header_errors(refused) == [["header", HEADER]]
    assert refused.json()["detail"].startswith(f"invalid input at header.{HEADER}")
    assert requests(ops, "alice.requester") == []


def test_the_longest_key_is_taken_bare_or_quoted(client: TestClient, auth: Headers) -> None:
    key = "~" + "x" * 253 + " "
    first = client.post(
        "/v1/threads", json={"message": QUESTION}, headers=keyed(auth, "alice.requester", key)
    )
    again = client.post(
        "/v1/threads", json={"message": QUESTION}, headers=keyed(auth, "alice.requester", f'"{key}"')
    )

    assert first.status_code == 201 and again.headers["idempotent-replayed"] == "true"


def test_a_key_past_its_retention_is_new_again(
    settings: Settings, auth: Headers, app_with: Callable[..., TestClient]
) -> None:
    now = [datetime.now(UTC)]
    ops = Operations(settings, clock=lambda: now[0])
    client = app_with(ops)
    headers = keyed(auth, "alice.requester", "k-12")
    retention = timedelta(hours=settings.idempotency_retention_hours)

    first = client.post("/v1/threads", json={"message": SSDS}, headers=headers)
    now[0] += retention - timedelta(minutes=1)
    kept = client.post("/v1/threads", json={"message": SSDS}, headers=headers)
    now[0] += timedelta(minutes=2)
    new = client.post("/v1/threads", json={"message": SSDS}, headers=headers)

    assert kept.headers["idempotent-replayed"] == "true" and kept.json() == first.json()
    assert new.status_code == 201 and "idempotent-replayed" not in new.headers
    assert new.json()["thread_id"] != first.json()["thread_id"]
    assert len(orders(ops, "alice.requester")) == 2


def test_replays_count_against_no_rate(
    ops: Operations, auth: Headers, app_with: Callable[..., TestClient]
) -> None:
    client = app_with(ops, send_rate_per_minute=1)
    headers = keyed(auth, "alice.requester", "k-13")

    first = client.post("/v1/threads", json={"message": SSDS}, headers=headers)
    replays = [client.post("/v1/threads", json={"message": SSDS}, headers=headers) for _ in range(3)]
    other = client.post("/v1/threads", json={"message": QUESTION}, headers=auth("alice.requester"))

    assert first.status_code == 201
    assert [r.status_code for r in replays] == [201] * 3
    assert all(r.headers["idempotent-replayed"] == "true" for r in replays)
    assert problem_type(other, 429) == "rate-limited"


def test_only_sends_with_a_key_open_the_keys_table(
    client: TestClient, auth: Headers, ops: Operations
) -> None:
    start(client, auth, "alice.requester", QUESTION)
    start(client, auth, "alice.requester", QUESTION)
    unkeyed = inspect(ops.stores.engine).get_table_names()
    client.post("/v1/threads", json={"message": QUESTION}, headers=keyed(auth, "alice.requester", "k-15"))

    assert "idempotency_keys" not in unkeyed
    assert "idempotency_keys" in inspect(ops.stores.engine).get_table_names()


def test_the_openapi_document_declares_the_header_on_both_sends(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]

    for operation in (paths["/v1/threads"]["post"], paths["/v1/threads/{thread_id}/messages"]["post"]):
        [header] = [p for p in operation["parameters"] if p["in"] == "header" and p["name"] == HEADER]
        assert not header.get("required") and "retry" in header["description"]
