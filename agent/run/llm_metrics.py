"""Model calls counted for :mod:`agent.metrics`: calls by outcome, latency and tokens, per model name.

A LangChain callback handler attached to a run's config, so every chat model the graph invokes is
counted (ChatOpenAI, the offline planner, a scripted model), streaming or not.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.outputs import LLMResult
from prometheus_client import Counter, Histogram


class LLMMetrics(BaseCallbackHandler):
    """Counts chat model calls, their latency and tokens; ignores every other kind of run."""

    ignore_chain = True
    ignore_agent = True
    ignore_retriever = True
    ignore_retry = True
    ignore_custom_event = True

    def __init__(self, *, calls: Counter, seconds: Histogram, tokens: Counter) -> None:
        self._calls, self._seconds, self._tokens = calls, seconds, tokens
        self._started: dict[UUID, tuple[str, float]] = {}

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[Any]],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        invocation_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._start(run_id, metadata, invocation_params)

    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        invocation_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._start(run_id, metadata, invocation_params)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        model = self._finish(run_id, "ok")
        if model is not None:
            prompt, completion = _tokens(response)
            if prompt:
                self._tokens.labels(model, "prompt").inc(prompt)
            if completion:
                self._tokens.labels(model, "completion").inc(completion)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._finish(run_id, "error")

    def _start(self, run_id: UUID, metadata: dict[str, Any] | None, params: dict[str, Any] | None) -> None:
        self._started[run_id] = (_model_name(metadata or {}, params or {}), time.perf_counter())

    def _finish(self, run_id: UUID, outcome: str) -> str | None:
        started = self._started.pop(run_id, None)
        if started is None:
            return None
        model, at = started
        self._calls.labels(model, outcome).inc()
        self._seconds.labels(model).observe(time.perf_counter() - at)
        return model


def _model_name(metadata: Mapping[str, Any], params: Mapping[str, Any]) -> str:
    for name in (
        metadata.get("ls_model_name"),
        params.get("model_name"),
        params.get("model"),
        params.get("_type"),
    ):
        if isinstance(name, str) and name:
            return name
    return "unknown"


def _tokens(response: LLMResult) -> tuple[int, int]:
    """Prompt and completion tokens: the message's usage metadata, else the provider's token usage."""
    prompt = completion = 0
    for generations in response.generations:
        for generation in generations:
            usage = getattr(getattr(generation, "message", None), "usage_metadata", None)
            if usage:
                prompt += usage.get("input_tokens", 0)
                completion += usage.get("output_tokens", 0)
    if prompt or completion:
        return prompt, completion
    usage = (response.llm_output or {}).get("token_usage") or {}
    return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
