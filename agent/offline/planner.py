"""The offline planner: a deterministic chat model, the embedded default when no LLM is configured.

It goes through the same graph and governance as a real model: it reads the conversation, emits
real tool calls for the request in the latest human message, and writes the answer from the tool
results once they are in. It has no clock, no randomness and no network; the same messages always
give the same reply, tool-call ids included (``call_<intent>_<step>_<n>``, ``n`` = AI messages so
far in the thread), so a resumed run re-emits the ids it emitted before.

Supported requests (case-insensitive; cities Amsterdam, Berlin, London, Madrid and Warsaw stand for
AMS-1, BER-2, LON-1, MAD-1 and WAW-1; items are a SKU in upper case or words such as "laptops"):

- **Summarise an incident** — "summarise INC0010003", "what's going on with INC0010007?",
  "INC0010003 status", "any update on INC0010047?" → ``itsm_get_incident``. A message naming an
  incident with an action verb (resolve, close, assign, escalate, set, change, "update INC...")
  is *not* a summary.
- **Add a work note** — "add a note to INC0010003 saying the fix is deployed",
  "post a work note on INC0010003: rollback done" → ``itsm_add_work_note``.
- **Check stock** — "how many SSD-1TB-NVME in AMS-1?", "check stock of laptops in Berlin",
  "do we have monitors in London?", "how many laptops do we have?", "stock of SSD-1TB-NVME"
  (no warehouse: all of them) → ``inventory_search_items`` (when no SKU) → ``inventory_get_stock``.
- **Order** — "order 40 laptops for the Berlin office", "buy 5 x MON-27-4K",
  "purchase 12 SSD-1TB-NVME on CC-ENGINEERING", "order a dozen headsets, cost centre CC-FACILITIES"
  → (``inventory_search_items`` when no SKU) → ``procurement_search_catalogue`` for the SKU →
  ``procurement_create_purchase_order`` with the cheapest offer of an active supplier (ties:
  shorter lead time, then supplier id), charged to the named cost centre or CC-IT-OPS.
- **Move stock** — "move 10 SSD-1TB-NVME from AMS-1 to BER-2", "transfer 5 laptops from
  Amsterdam to Berlin because the Berlin team grows" (the reason goes into the transfer), "ship 10
  SSDs to BER-2 from Amsterdam" → (``inventory_search_items``) → ``inventory_transfer_stock``.
- **Open a change** — "open a change to restart payments-api tonight", "raise a change request
  for checkout-web to rotate certificates" → ``itsm_create_change_request`` (risk moderate).
- **Write off damaged stock** — "write off 3 damaged MON-27-4K at AMS-1", "scrap 2 broken
  pallets in Warsaw" → (``inventory_search_items``) → ``inventory_adjust_stock`` (kind write_off).

An item named by words is looked up with ``inventory_search_items`` (the head noun, singular:
"laptops" → ``laptop``; if nothing is found, the other words in turn). Among the hits it takes the
one matching most of the user's words, then the house standard for a generic word
(:data:`agent.offline.plans.HOUSE_STANDARD`: laptop → LAP-14-PRO, ssd → SSD-1TB-NVME, ...), then one
whose category or name starts with the word, so "laptops" is never the laptop shipping box.

A request that names the intent but not everything it needs (no quantity, no warehouse) gets an
answer saying what is missing. A quantity is taken exactly as written ("1,200", "1 200", "forty",
"one hundred and twenty"; rules in :mod:`agent.offline.quantities`): zero, negative, fractional,
too large, ambiguous ("1.200") or unreadable numbers, an amount of money, or two different
quantities get an answer saying what is wrong and no tool call, as does an order whose total would
exceed what one purchase order may total. Anything else gets an answer saying plainly that an LLM is needed
(``OPENAI_API_KEY``) and listing what works offline — or, when grounding retrieved runbooks or past
incidents for the request, an answer quoting the best of them with their citation ids. Final answers
to supported requests end with the two most relevant citations when there are any. When a call is
refused by policy, rejected by an approver, still pending, invalid or failed, the answer says so and
quotes the reason. Answers describe what ran: a record the call created, or for a failure the
arguments the tool message names, which after edit-and-approve are the approver's, not the proposal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolCall, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

from agent.offline.answers import needs_llm
from agent.offline.intents import parse_request
from agent.offline.outcomes import Outcome, Status, Step, read_outcome
from agent.offline.plans import Call, next_move
from agent.offline.sources import guidance, related, sources_for_request

MODEL_NAME = "opslayer-offline-planner"


class OfflinePlanner(BaseChatModel):
    """Deterministic stand-in for an LLM; handles the demo intents listed in the module docstring."""

    @property
    def _llm_type(self) -> str:
        return "opslayer-offline"

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools like a real chat model; calls to tools that are not bound are never emitted."""
        formatted = [convert_to_openai_tool(tool) for tool in tools]
        return self.bind(tools=formatted, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        reply = plan_reply(messages, bound_tools=_tool_names(kwargs.get("tools")))
        return ChatResult(generations=[ChatGeneration(message=reply)])


def plan_reply(messages: Sequence[BaseMessage], *, bound_tools: frozenset[str] | None = None) -> AIMessage:
    """The planner's next message for ``messages``; ``bound_tools`` limits the tools it may call."""
    text, steps = _current_request(messages)
    request = parse_request(text) if text else None
    sources = sources_for_request(messages)
    if request is None:
        return _answer(guidance(sources) if sources else needs_llm())
    move = next_move(request, steps)
    if isinstance(move, str):
        return _answer(move + related(sources) if sources else move)
    if bound_tools is not None and move.tool not in bound_tools:
        return _answer(f"I would call {move.tool} for this, but that tool is not available here.")
    ai_count = sum(1 for message in messages if isinstance(message, AIMessage))
    call_id = f"call_{request.intent.value}_{len(steps) + 1}_{ai_count}"
    return _tool_call(move, call_id)


def _current_request(messages: Sequence[BaseMessage]) -> tuple[str, list[Step]]:
    """The latest human request and the tool steps taken for it since."""
    starts = [i for i, message in enumerate(messages) if isinstance(message, HumanMessage)]
    if not starts:
        return "", []
    since = messages[starts[-1] :]
    outcomes = {m.tool_call_id: read_outcome(m) for m in since if isinstance(m, ToolMessage)}
    unanswered = Outcome(status=Status.PENDING, text="no result has come back for this call yet")
    steps = [
        Step(tool=call["name"], args=call["args"], outcome=outcomes.get(call["id"] or "", unanswered))
        for message in since
        if isinstance(message, AIMessage)
        for call in message.tool_calls
    ]
    return since[0].text, steps


def _answer(text: str) -> AIMessage:
    return AIMessage(content=text, response_metadata={"model_name": MODEL_NAME})


def _tool_call(call: Call, call_id: str) -> AIMessage:
    tool_call = ToolCall(name=call.tool, args=call.args, id=call_id, type="tool_call")
    return AIMessage(content="", tool_calls=[tool_call], response_metadata={"model_name": MODEL_NAME})


def _tool_names(tools: Any) -> frozenset[str] | None:
    if not tools:
        return None
    return frozenset(
        tool["function"]["name"] for tool in tools if isinstance(tool, dict) and "function" in tool
    )
