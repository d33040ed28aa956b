"""The planning model: ChatOpenAI for any OpenAI-compatible endpoint, or the offline planner.

httpx clients are built explicitly: the openai SDK sends through ``httpx2`` by default, which respx
cannot intercept, so tests (and proxies) rely on these clients being plain ``httpx``.

The tool definitions and the messages travel in ``extra_body``, which the SDK merges into the JSON
body as it is: otherwise it walks every tool's JSON schema and every message of the conversation
against its typed-dict declarations on each request — about a quarter of a turn's CPU with the
22-tool catalogue, and a cost growing with the conversation — to send exactly the same JSON (the
messages are plain JSON already: langchain-openai converts them before).
"""

from __future__ import annotations

from typing import Any

import httpx
from langchain_core.language_models import BaseChatModel

from agent.settings import Settings


def build_chat_model(settings: Settings) -> BaseChatModel:
    """ChatOpenAI when an API key is configured, otherwise the deterministic offline planner."""
    if settings.openai_api_key is None:
        from agent.offline.planner import OfflinePlanner

        return OfflinePlanner()
    return openai_chat_model(settings)


def openai_chat_model(settings: Settings) -> BaseChatModel:
    from langchain_openai import ChatOpenAI

    class _ChatOpenAI(ChatOpenAI):
        def _get_request_payload(
            self, input_: Any, *, stop: list[str] | None = None, **kwargs: Any
        ) -> dict[str, Any]:
            payload: dict[str, Any] = super()._get_request_payload(input_, stop=stop, **kwargs)
            moved = {key: payload.pop(key) for key in ("tools",) if key in payload}
            if "messages" in payload:  # the SDK requires the argument: an empty list, replaced by the body's
                moved["messages"], payload["messages"] = payload["messages"], []
            payload["extra_body"] = {**(payload.get("extra_body") or {}), **moved}
            return payload

    timeout = httpx.Timeout(settings.llm_timeout_s, connect=10.0)
    return _ChatOpenAI(
        model=settings.model,
        api_key=settings.openai_api_key,
        base_url=settings.openai_base_url,
        temperature=0,
        timeout=settings.llm_timeout_s,
        max_retries=settings.llm_max_retries,
        http_client=httpx.Client(timeout=timeout),
        http_async_client=httpx.AsyncClient(timeout=timeout),
    )
