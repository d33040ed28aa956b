"""Traces of real offline turns, exported to memory: one trace per turn, with the spans for grounding,
the model, each decision, the approval wait and the execution, all carrying thread id and policy
version. Off unless an OTLP endpoint is configured."""

from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import SecretStr

from agent import tracing
from agent.operations import Operations
from agent.run.session import AgentSession
from agent.settings import Settings

WRITE_OFF = "write off 3 damaged MON-27-4K at AMS-1"


@dataclass
class _NoGrounding:
    message: Any = None
    citations: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def settings(tmp_path: Path, systems_template: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPSLAYER_OTLP_ENDPOINT", raising=False)
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(systems_template, home / "systems.db")
    return Settings(home=home, grounding=False, _env_file=None)


@pytest.fixture
def exported(settings: Settings) -> tuple[Operations, InMemorySpanExporter]:
    """Operations whose session traces to memory, with a grounder that finds nothing (so it runs)."""
    exporter = InMemorySpanExporter()
    ops = Operations(settings)
    deps = replace(
        ops.session.deps,
        tracing=tracing.Tracing.exporting_to(exporter, batch=False),
        grounder=lambda request: _NoGrounding(),
    )
    ops.__dict__["session"] = AgentSession(deps, ops.checkpoints)
    return ops, exporter


def _names(spans: list[ReadableSpan]) -> list[str]:
    return sorted(span.name for span in spans)


def test_a_turn_and_its_resume_are_two_traces_with_every_step(
    exported: tuple[Operations, InMemorySpanExporter],
) -> None:
    ops, exporter = exported
    version = ops.policy().version
    turn = ops.send(WRITE_OFF, actor="carol.desk")
    [request] = turn.pending
    first = list(exporter.get_finished_spans())
    assert _names(first) == [
        "opslayer.decision",
        "opslayer.grounding",
        "opslayer.model",
        "opslayer.turn",
    ]
    decision = next(span for span in first if span.name == "opslayer.decision")
    assert decision.attributes is not None
    assert decision.attributes["opslayer.tool"] == "inventory_adjust_stock"
    assert decision.attributes["opslayer.tier"] == "approve"
    assert decision.attributes["opslayer.stage"] == "plan"

    ops.vote(request.id, voter="frank.warehouse", approve=True, channel="test")
    exporter.clear()
    ops.resume(turn.thread_id)
    second = list(exporter.get_finished_spans())
    assert {
        "opslayer.approval_wait",
        "opslayer.decision",
        "opslayer.execution",
        "opslayer.model",
        "opslayer.turn",
    } == set(_names(second))
    execution = next(span for span in second if span.name == "opslayer.execution")
    assert execution.attributes is not None and execution.attributes["opslayer.status"] == "completed"
    wait = next(span for span in second if span.name == "opslayer.approval_wait")
    assert wait.attributes is not None and wait.attributes["opslayer.status"] == "approved"
    assert wait.end_time is not None and wait.start_time is not None and wait.end_time >= wait.start_time

    for spans, operation in ((first, "send"), (second, "resume")):
        [root] = [span for span in spans if span.name == "opslayer.turn"]
        assert root.parent is None and root.attributes is not None
        assert root.attributes["opslayer.operation"] == operation
        assert root.attributes["enduser.id"] == "carol.desk"
        assert root.context is not None
        for span in spans:
            assert span.context is not None and span.context.trace_id == root.context.trace_id
            assert span.attributes is not None
            assert span.attributes["opslayer.thread_id"] == turn.thread_id
            assert span.attributes["opslayer.policy_version"] == version
    assert first[0].context is not None and second[0].context is not None
    assert first[0].context.trace_id != second[0].context.trace_id


def test_tracing_is_off_unless_an_endpoint_is_set(settings: Settings) -> None:
    assert tracing.from_settings(settings) is None
    assert Operations(settings).session.deps.tracing is None


def test_an_endpoint_sends_spans_over_otlp_http_with_the_headers(settings: Settings) -> None:
    received: list[tuple[str, str | None, bytes]] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers.get("api-key"), body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = HTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_port}/v1/traces"
        configured = settings.model_copy(
            update={"otlp_endpoint": endpoint, "otlp_headers": SecretStr("api-key=s3cret")}
        )
        traced = tracing.from_settings(configured)
        assert traced is not None
        with (
            tracing.turn(traced, "send", thread_id="t-otlp", actor_id="carol.desk", policy_version="p@1"),
            tracing.span(traced, "opslayer.decision", tool="itsm_create_incident"),
        ):
            pass
        traced.shutdown()  # flushes the batch
    finally:
        server.shutdown()
        thread.join()
    [(path, key, body)] = received
    assert (path, key) == ("/v1/traces", "s3cret")
    assert b"opslayer.turn" in body and b"t-otlp" in body and b"opslayer.decision" in body


def test_headers_are_parsed_and_a_bad_pair_is_named_without_its_value() -> None:
    assert tracing.parse_headers("api-key=abc, x-team = ops") == {"api-key": "abc", "x-team": "ops"}
    with pytest.raises(ValueError, match="pair 2 is not name=value") as caught:
        tracing.parse_headers("api-key=abc,s3cretvalue")
    assert "s3cret" not in str(caught.value)


def test_helpers_do_nothing_without_tracing() -> None:
    with tracing.span(None, "opslayer.decision", tool="x") as current:
        current.set_attribute("opslayer.tier", "auto")
