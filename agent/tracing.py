"""OpenTelemetry traces of agent turns: off unless ``OPSLAYER_OTLP_ENDPOINT`` is set.

One trace per turn (``opslayer.turn``, a new root for every send or resume), with child spans for
grounding (``opslayer.grounding``), each model call (``opslayer.model``), each decision
(``opslayer.decision``), each approval wait (``opslayer.approval_wait``: from the request to its
decision, recorded when the thread resumes) and each execution (``opslayer.execution``). Every span
carries the thread id and the policy version (``opslayer.thread_id``, ``opslayer.policy_version``).

Spans go through the OTLP/HTTP exporter in a background batch; nothing of OpenTelemetry is imported or
built when tracing is off: the run's helpers take ``None`` and do nothing. Attribute values are data
(never markup), cut to :data:`MAX_ATTRIBUTE` characters; arguments and results are never attached.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span

    from agent.settings import Settings

MAX_ATTRIBUTE = 256
_TURN: ContextVar[Mapping[str, str] | None] = ContextVar("opslayer_trace_turn", default=None)


class NoSpan:
    """What a span helper yields when tracing is off: attributes go nowhere."""

    def set_attribute(self, key: str, value: Any) -> None:
        return None


class Tracing:
    """A tracer over its own ``TracerProvider`` (never the global one), so tests and processes differ."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self._tracer = provider.get_tracer("opslayer")

    @classmethod
    def exporting_to(cls, exporter: SpanExporter, *, batch: bool = True) -> Tracing:
        """Spans sent to ``exporter`` (``batch=False``: at once, as tests need)."""
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        provider = TracerProvider(resource=Resource.create({"service.name": "opslayer"}))
        provider.add_span_processor(BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter))
        return cls(provider)

    @contextmanager
    def turn(self, operation: str, *, thread_id: str, actor_id: str, policy_version: str) -> Iterator[Span]:
        """The root span of one turn; spans opened inside it (in any LangGraph thread) are its children."""
        from opentelemetry.context import Context

        common = {"opslayer.thread_id": _cut(thread_id), "opslayer.policy_version": _cut(policy_version)}
        token = _TURN.set(common)
        attributes = {**common, "opslayer.operation": operation, "enduser.id": _cut(actor_id)}
        try:
            with self._tracer.start_as_current_span(
                "opslayer.turn", context=Context(), attributes=attributes
            ) as root:
                yield root
        finally:
            _TURN.reset(token)

    @contextmanager
    def span(self, name: str, **attributes: Any) -> Iterator[Span]:
        with self._tracer.start_as_current_span(name, attributes=_attributes(attributes)) as current:
            yield current

    def record(self, name: str, *, start: datetime, end: datetime, **attributes: Any) -> None:
        """A span that already happened (an approval wait, spanning processes): its times are given."""
        started = self._tracer.start_span(name, start_time=_nanos(start), attributes=_attributes(attributes))
        started.end(end_time=max(_nanos(end), _nanos(start)))

    def shutdown(self) -> None:
        """Flush what is batched and stop the exporter."""
        self.provider.shutdown()


def from_settings(settings: Settings) -> Tracing | None:
    """Tracing to ``OPSLAYER_OTLP_ENDPOINT`` (with ``OPSLAYER_OTLP_HEADERS``), or None when it is unset."""
    if not settings.otlp_endpoint:
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    headers = (
        None if settings.otlp_headers is None else parse_headers(settings.otlp_headers.get_secret_value())
    )
    return Tracing.exporting_to(OTLPSpanExporter(endpoint=settings.otlp_endpoint, headers=headers))


def parse_headers(text: str) -> dict[str, str]:
    """``k=v,k2=v2`` (the OTEL_EXPORTER_OTLP_HEADERS form) as a mapping; ValueError naming a bad pair
    by its position (never by its value: it is usually a secret)."""
    headers = {}
    for index, pair in enumerate(part for part in text.split(",") if part.strip()):
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"OPSLAYER_OTLP_HEADERS: pair {index + 1} is not name=value")
        headers[name.strip()] = value.strip()
    return headers


@contextmanager
def span(tracing: Tracing | None, name: str, **attributes: Any) -> Iterator[Span | NoSpan]:
    """A child span of the current turn, or nothing when tracing is off."""
    if tracing is None:
        yield NoSpan()
        return
    with tracing.span(name, **attributes) as current:
        yield current


@contextmanager
def turn(
    tracing: Tracing | None, operation: str, *, thread_id: str, actor_id: str, policy_version: str
) -> Iterator[Span | NoSpan]:
    """The root span of a turn, or nothing when tracing is off."""
    if tracing is None:
        yield NoSpan()
        return
    with tracing.turn(
        operation, thread_id=thread_id, actor_id=actor_id, policy_version=policy_version
    ) as root:
        yield root


def _attributes(extra: Mapping[str, Any]) -> dict[str, Any]:
    attributes: dict[str, Any] = dict(_TURN.get() or {})
    for key, value in extra.items():
        if value is not None:
            attributes["opslayer." + key] = _cut(value) if isinstance(value, str) else value
    return attributes


def _cut(text: str) -> str:
    return text if len(text) <= MAX_ATTRIBUTE else text[: MAX_ATTRIBUTE - 1] + "…"


def _nanos(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000_000)
