"""The user side of a trial: the case's scripted turns, or an LLM playing the user from the case's
brief (τ-bench's user simulator: it writes the next message, or ``###STOP###`` once its goal is met).

Both answer :meth:`next_message` with the conversation so far — ``(speaker, text)`` pairs, speaker
``user`` or ``agent`` — and return the next user message, or None when the user has nothing more to say.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

STOP = "###STOP###"
GREETING = "Hi! How can I help you today?"  # the agent's opening line the simulator answers first

Conversation = Sequence[tuple[str, str]]

_INSTRUCTIONS = """You are playing a user of an IT operations assistant (incidents, inventory, procurement),
to test it. Stay in character: write only what this user would type, one message at a time, short and
natural. Reveal what the brief says only as the conversation needs it; do not invent facts the brief
does not give. When your goal is met, or the assistant cannot help any further, reply with exactly
{stop} and nothing else.

The brief:
{brief}"""


class UserSimulatorError(RuntimeError):
    """The simulator's model failed: the trial ends with this as its run error (named, so a report
    tells it apart from the agent's own failures)."""


class User(Protocol):
    def next_message(self, conversation: Conversation) -> str | None: ...


class ScriptedUser:
    """Says the case's turns in order, whatever the agent answers."""

    def __init__(self, turns: Sequence[str]) -> None:
        self._turns = tuple(turns)

    def next_message(self, conversation: Conversation) -> str | None:
        said = sum(1 for speaker, _ in conversation if speaker == "user")
        return self._turns[said] if said < len(self._turns) else None


class SimulatedUser:
    """An LLM given the brief and the conversation (roles flipped: its own messages are the
    assistant's), for at most ``max_turns`` user messages."""

    def __init__(self, model: BaseChatModel, brief: str, *, max_turns: int) -> None:
        self._model, self._brief, self._max_turns = model, brief, max_turns

    def next_message(self, conversation: Conversation) -> str | None:
        if sum(1 for speaker, _ in conversation if speaker == "user") >= self._max_turns:
            return None
        try:
            reply = self._model.invoke(self.messages(conversation))
        except Exception as exc:
            raise UserSimulatorError(f"the user simulator failed: {type(exc).__name__}: {exc}") from exc
        text = reply.content if isinstance(reply.content, str) else str(reply.content)
        text = text.strip()
        return None if not text or STOP in text else text

    def messages(self, conversation: Conversation) -> list[BaseMessage]:
        messages: list[BaseMessage] = [
            SystemMessage(_INSTRUCTIONS.format(stop=STOP, brief=self._brief)),
            HumanMessage(GREETING),
        ]
        for speaker, text in conversation:
            messages.append(AIMessage(text) if speaker == "user" else HumanMessage(text))
        return messages
