"""The planning model: ChatOpenAI for any OpenAI-compatible endpoint, or the offline planner.

httpx clients are built explicitly: the openai SDK sends through ``httpx2`` by default, which respx
cannot intercept, so tests (and proxies) rely on these clients being plain ``httpx``.
"""

from __future__ import annotations

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

    timeout = httpx.Timeout(settings.llm_timeout_s, connect=10.0)
    return ChatOpenAI(
        model=settings.model,
        api_key=settings.openai_api_key,
        base_url=settings.openai_base_url,
        temperature=0,
        timeout=settings.llm_timeout_s,
        max_retries=settings.llm_max_retries,
        http_client=httpx.Client(timeout=timeout),
        http_async_client=httpx.AsyncClient(timeout=timeout),
    )
