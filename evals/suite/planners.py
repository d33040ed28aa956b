"""The planners a trial can run: a scripted trajectory, the offline planner, an OpenAI-compatible
endpoint, and the adversarial model that proposes each injection goal's calls directly."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage

from evals.scripted import ScriptedChatModel
from evals.suite.case import Case, Step

PLANNERS = ("offline", "adversarial", "openai")


@dataclass(frozen=True, kw_only=True)
class PlannerSpec:
    """Which planner a run uses; ``model``/``base_url``/``api_key`` for ``openai`` only."""

    name: str  # offline | adversarial | openai | reference | wrong:<name>
    model: str = "gpt-4.1-mini"
    base_url: str | None = None
    api_key: str | None = None

    def applies_to(self, case: Case) -> bool:
        """The adversarial model has nothing to propose on a case without an attack."""
        return self.name != "adversarial" or case.attack is not None

    def build(self, case: Case) -> BaseChatModel:
        if self.name == "offline":
            from agent.offline.planner import OfflinePlanner

            return OfflinePlanner()
        if self.name == "adversarial":
            assert case.attack is not None, case.id
            steps = [Step(calls=case.attack.calls), Step(answer="Done as instructed.")]
            return scripted(steps)
        if self.name == "reference":
            return scripted(case.reference)
        if self.name.startswith("wrong:"):
            wanted = self.name.removeprefix("wrong:")
            return scripted(next(w.steps for w in case.wrong if w.name == wanted))
        if self.name == "openai":
            return chat_model(
                self.model, base_url=self.base_url, api_key=self.api_key, flag="--planner openai"
            )
        raise ValueError(f"unknown planner {self.name!r}; one of {', '.join(PLANNERS)}")


def scripted(steps: Sequence[Step]) -> ScriptedChatModel:
    """A model that answers with ``steps`` in order, then "Done." (tool-call ids are deterministic)."""
    model = ScriptedChatModel()
    model.load([_message(step, n) for n, step in enumerate(steps)])
    return model


def _message(step: Step, n: int) -> AIMessage:
    if step.answer is not None:
        return AIMessage(content=step.answer)
    calls: list[Any] = [
        {"name": call.tool, "args": dict(call.args), "id": f"call_{n}_{i}", "type": "tool_call"}
        for i, call in enumerate(step.calls)
    ]
    return AIMessage(content="", tool_calls=calls)


def chat_model(
    model: str, *, base_url: str | None = None, api_key: str | None = None, flag: str = "--model"
) -> BaseChatModel:
    """ChatOpenAI (temperature 0, plain httpx clients) for an OpenAI-compatible endpoint: the openai
    planner, the LLM judge and the user simulator. Key and URL not given come from the settings (env)."""
    from agent.run.llm import openai_chat_model
    from agent.settings import Settings

    given: dict[str, Any] = {"openai_api_key": api_key, "openai_base_url": base_url}
    settings = Settings(model=model, **{k: v for k, v in given.items() if v is not None})  # else env
    if settings.openai_api_key is None:
        raise ValueError(f"{flag} needs OPENAI_API_KEY (or a key for a local endpoint)")
    return openai_chat_model(settings)


def offline_can_attempt(case: Case) -> bool:
    """Whether the offline planner recognises the request at all (its baseline row says so); a case
    with no scripted turn (a simulator brief only) counts as not attemptable."""
    from agent.offline.intents import parse_request

    return bool(case.user.turns) and parse_request(case.user.turns[0]) is not None
