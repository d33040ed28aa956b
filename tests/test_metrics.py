"""Metrics: what the operations service counts when turns, votes and model calls go through it.

Pins: decisions by tier, rule and stage, executions by tool and status, model calls (offline planner
and ChatOpenAI, with tokens) and turns are counted after a real turn on the seeded local systems; the
pending-approvals gauges follow a request and its decision, and time to decision is observed; refused
votes and failed turns count as errors by type; HTTP requests by route template; the exposition parses.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from agent.metrics import Metrics
from agent.operations import Operations
from agent.run.errors import PlannerUnavailable
from agent.settings import Settings
from governance.approvals import SelfApproval
from governance.directory import UnknownPerson
from tests.agent.graph_support import LLM_BASE_URL, Clock, ScriptedLLM, answer, calls, tool_call

STOCK = "how many SSD-1TB-NVME in AMS-1?"
WRITE_OFF = "write off 3 damaged MON-27-4K at AMS-1"


def _operations(home: Path, systems_template: Path, clock: Clock, **settings: object) -> Operations:
    config = Settings(home=home, grounding=False, _env_file=None, **settings)  # type: ignore[arg-type]
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(systems_template, config.systems_db)
    return Operations(config, clock=clock)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ops(tmp_path: Path, systems_template: Path, clock: Clock) -> Operations:
    return _operations(tmp_path / "home", systems_template, clock)


def test_a_turn_counts_decisions_by_tier_and_rule_executions_model_calls_and_the_turn(
    ops: Operations,
) -> None:
    turn = ops.send(STOCK, actor="carol.desk")
    m = ops.metrics

    assert turn.answer is not None and "SSD-1TB-NVME" in turn.answer
    rule = {"tier": "auto", "rule": "reads-run-alone"}
    assert m.value("opslayer_decisions_total", **rule, stage="plan") == 1
    assert m.value("opslayer_decisions_total", **rule, stage="recheck") == 1  # checked again before running
    assert m.value("opslayer_executions_total", tool="inventory_get_stock", status="completed") == 1
    assert m.value("opslayer_llm_calls_total", model="opslayer-offline", outcome="ok") == 2  # call, answer
    assert m.value("opslayer_llm_seconds_count", model="opslayer-offline") == 2
    assert m.value("opslayer_turns_total", operation="send", outcome="answered") == 1
    assert m.value("opslayer_turn_seconds_count", operation="send") == 1
    assert m.value("opslayer_approval_requests_total", tool="inventory_get_stock") == 0


def test_the_pending_gauges_follow_a_request_and_its_decision(ops: Operations, clock: Clock) -> None:
    m = ops.metrics
    assert (m.value("opslayer_approvals_pending"), m.value("opslayer_approvals_oldest_pending_seconds")) == (
        0,
        0,
    )

    [request] = ops.send(WRITE_OFF, actor="carol.desk").pending
    clock.advance(minutes=90)

    assert m.value("opslayer_decisions_total", tier="approve", rule="write-off", stage="plan") == 1
    assert m.value("opslayer_approval_requests_total", tool="inventory_adjust_stock") == 1
    assert m.value("opslayer_turns_total", operation="send", outcome="waiting") == 1
    assert m.value("opslayer_approvals_pending") == 1
    assert m.value("opslayer_approvals_oldest_pending_seconds") == 90 * 60

    ops.vote(request.id, voter="frank.warehouse", approve=True, channel="test")

    assert m.value("opslayer_approvals_pending") == 0
    assert m.value("opslayer_approvals_oldest_pending_seconds") == 0
    assert m.value("opslayer_approval_votes_total", vote="approve", accepted="true") == 1
    assert m.value("opslayer_approval_decision_seconds_count", status="approved") == 1
    assert m.value("opslayer_approval_decision_seconds_sum", status="approved") == 90 * 60

    ops.resume(request.thread_id)

    assert m.value("opslayer_executions_total", tool="inventory_adjust_stock", status="completed") == 1
    assert m.value("opslayer_turns_total", operation="resume", outcome="answered") == 1


def test_refused_votes_and_failed_turns_count_as_errors_by_type(ops: Operations) -> None:
    [request] = ops.send(WRITE_OFF, actor="carol.desk").pending

    with pytest.raises(SelfApproval):
        ops.vote(request.id, voter="carol.desk", approve=True, channel="test")
    with pytest.raises(UnknownPerson):
        ops.send(STOCK, actor="nobody.here")

    m = ops.metrics
    assert m.value("opslayer_errors_total", type="SelfApproval") == 1
    assert m.value("opslayer_approval_votes_total", vote="approve", accepted="false") == 1
    assert m.value("opslayer_errors_total", type="UnknownPerson") == 1
    assert m.value("opslayer_turns_total", operation="send", outcome="error") == 1


def test_chatopenai_calls_tokens_and_endpoint_failures_are_counted(
    tmp_path: Path, systems_template: Path, clock: Clock, llm: ScriptedLLM
) -> None:
    ops = _operations(
        tmp_path / "home",
        systems_template,
        clock,
        openai_api_key="sk-test",
        openai_base_url=LLM_BASE_URL,
        llm_max_retries=0,
        model="gpt-4.1-mini",
    )
    stock = tool_call("inventory_get_stock", {"sku": "SSD-1TB-NVME", "warehouse": "AMS-1"}, id="c1")
    llm.queue(calls(stock), answer("60 available."), RuntimeError("endpoint down"))

    ops.send(STOCK, actor="carol.desk")
    with pytest.raises(PlannerUnavailable):
        ops.send(STOCK, actor="carol.desk")

    m = ops.metrics
    assert m.value("opslayer_llm_calls_total", model="gpt-4.1-mini", outcome="ok") == 2
    assert m.value("opslayer_llm_calls_total", model="gpt-4.1-mini", outcome="error") == 1
    assert m.value("opslayer_llm_tokens_total", model="gpt-4.1-mini", kind="prompt") == 20  # 10 per reply
    assert m.value("opslayer_llm_tokens_total", model="gpt-4.1-mini", kind="completion") == 10
    assert m.value("opslayer_errors_total", type="PlannerUnavailable") == 1


def test_http_requests_are_counted_by_route_template() -> None:
    metrics = Metrics()

    metrics.observe_request("GET", "/approvals/{request_id}", 200, 0.004)
    metrics.observe_request("GET", "/approvals/{request_id}", 200, 0.3)
    metrics.observe_request("POST", "/threads", 422, 0.01)

    labels = {"method": "GET", "route": "/approvals/{request_id}"}
    assert metrics.value("opslayer_http_requests_total", **labels, status="200") == 2
    assert metrics.value("opslayer_http_requests_total", method="POST", route="/threads", status="422") == 1
    assert metrics.value("opslayer_http_request_duration_seconds_count", **labels) == 2
    assert metrics.value("opslayer_http_request_duration_seconds_bucket", **labels, le="0.005") == 1


def test_the_exposition_parses_and_holds_every_family(ops: Operations) -> None:
    ops.send(WRITE_OFF, actor="carol.desk")
    ops.metrics.observe_request("GET", "/metrics", 200, 0.001)

    body, content_type = ops.metrics.render()

    assert content_type.startswith("text/plain")
    families = {family.name: family for family in text_string_to_metric_families(body.decode())}
    assert {
        "opslayer_http_requests",
        "opslayer_http_request_duration_seconds",
        "opslayer_decisions",
        "opslayer_approval_requests",
        "opslayer_approval_decision_seconds",
        "opslayer_approvals_pending",
        "opslayer_approvals_oldest_pending_seconds",
        "opslayer_executions",
        "opslayer_notifications",
        "opslayer_errors",
        "opslayer_turns",
        "opslayer_turn_seconds",
        "opslayer_llm_calls",
        "opslayer_llm_seconds",
        "opslayer_llm_tokens",
    } <= set(families)
    [pending] = families["opslayer_approvals_pending"].samples
    assert pending.value == 1


def test_each_metrics_counts_on_its_own() -> None:
    first, second = Metrics(), Metrics()

    first.observe_request("GET", "/health", 200, 0.001)

    assert first.value("opslayer_http_requests_total", method="GET", route="/health", status="200") == 1
    assert second.value("opslayer_http_requests_total", method="GET", route="/health", status="200") == 0
