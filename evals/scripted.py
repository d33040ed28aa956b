"""A zero-latency chat model for benchmarks and property tests: no endpoint, no tokens, no delay.

Its replies come from a function of the conversation, or from a script of messages queued with
:meth:`ScriptedChatModel.load`. Binding tools is accepted and ignored, so the graph treats it like
any chat model with the catalogue bound. When streamed (a turn with an event listener), a reply
arrives in word-sized chunks, its tool calls in the last one, as a streaming endpoint sends them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from pydantic import PrivateAttr

Reply = Callable[[list[BaseMessage]], AIMessage]


def _done(messages: list[BaseMessage]) -> AIMessage:
    return AIMessage(content="Done.")


class ScriptedChatModel(BaseChatModel):
    """Answers with the next queued message, or else with ``reply(messages)`` (default: "Done.")."""

    reply: Reply = _done
    _script: list[AIMessage] = PrivateAttr(default_factory=list)
    _calls: int = PrivateAttr(default=0)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    @property
    def calls(self) -> int:
        """How many times the model was asked for a message."""
        return self._calls

    def load(self, messages: Sequence[AIMessage]) -> None:
        """Queue ``messages`` to be answered in order before ``reply`` is used again."""
        self._script.extend(messages)

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[LanguageModelInput, AIMessage]:
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._next(messages))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        message = self._next(messages)
        text = message.content if isinstance(message.content, str) else ""
        words = re.findall(r"\s*\S+\s*", text) or [text]
        calls = [
            tool_call_chunk(name=call["name"], args=json.dumps(call["args"]), id=call["id"], index=n)
            for n, call in enumerate(message.tool_calls)
        ]
        for n, word in enumerate(words):
            last = n == len(words) - 1
            yield ChatGenerationChunk(
                message=AIMessageChunk(content=word, tool_call_chunks=calls if last else [])
            )

    def _next(self, messages: list[BaseMessage]) -> AIMessage:
        self._calls += 1
        return self._script.pop(0) if self._script else self.reply(messages)
