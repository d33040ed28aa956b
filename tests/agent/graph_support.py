"""Support for the graph tests: a scripted OpenAI endpoint and a world of real local systems.

:class:`ScriptedLLM` answers ``POST /chat/completions`` (mocked with respx, so the real
``ChatOpenAI`` and openai client code run) from a queue of replies, and records every request body,
so a test can read exactly what the model was sent. :class:`World` is one ``OPSLAYER_HOME`` with the
seeded local systems, governance stores and SQLite checkpoints; ``restart()`` opens a new session on
the same files, as a new process would.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import respx
import yaml
from sqlalchemy import Engine

from agent.run.llm import openai_chat_model
from agent.run.notifier import LogNotifier
from agent.run.review import decide_edit
from agent.run.session import AgentSession, TurnResult, open_checkpointer
from agent.run.state import AgentDeps
from agent.settings import Settings
from agent.wiring import build_agent_deps
from governance.approvals import ApprovalRequest, ApprovalStore
from governance.audit import AuditEvent, AuditLog
from governance.decision import Decision, DecisionContext
from governance.directory import DEFAULT_DIRECTORY_PATH
from governance.executions import ExecutionLedger
from governance.usage import SqlUsageLedger
from tools.models import PurchaseOrder
from tools.spec import canonical_args

LLM_BASE_URL = "https://llm.test/v1"
COMPLETIONS_URL = f"{LLM_BASE_URL}/chat/completions"

# Outside the year-end change freeze (18 Dec – 4 Jan of the shipped policy) and after the seed data.
NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
IN_FREEZE = datetime(2026, 12, 21, 10, 0, tzinfo=UTC)

# A catalogue offer of the seeded procurement system with a round price: 119.00 per monitor.
SUPPLIER = "SUP-003"
MONITOR = "MON-22-FHD"
MONITOR_PRICE = 119.0

Reply = Mapping[str, Any] | httpx.Response | BaseException | Callable[[httpx.Request], httpx.Response]


# --- chat-completion bodies -----------------------------------------------------------------------


def tool_call(name: str, args: Mapping[str, Any] | str, *, id: str) -> dict[str, Any]:
    """One entry of ``message.tool_calls``; a ``str`` is sent as the raw arguments text (maybe not JSON)."""
    text = args if isinstance(args, str) else json.dumps(args)
    return {"id": id, "type": "function", "function": {"name": name, "arguments": text}}


def calls(*tool_calls: Mapping[str, Any]) -> dict[str, Any]:
    """A chat completion whose assistant message asks for ``tool_calls`` (in parallel)."""
    message = {"role": "assistant", "content": None, "tool_calls": list(tool_calls)}
    return _completion(message, "tool_calls")


def answer(text: str) -> dict[str, Any]:
    """A chat completion with a final text answer and no tool calls."""
    return _completion({"role": "assistant", "content": text}, "stop")


def _completion(message: Mapping[str, Any], finish_reason: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": 1_790_000_000,
        "model": "gpt-4.1-mini",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


# --- tool arguments -------------------------------------------------------------------------------


def po_args(quantity: int, *, cost_centre: str = "CC-IT-OPS") -> dict[str, Any]:
    """Arguments of a purchase order for ``quantity`` monitors (119.00 each) from SUP-003."""
    return {
        "supplier_id": SUPPLIER,
        "cost_centre": cost_centre,
        "lines": [{"sku": MONITOR, "quantity": quantity, "unit_price": MONITOR_PRICE}],
        "total_amount": quantity * MONITOR_PRICE,
    }


def po_call(quantity: int, *, id: str) -> dict[str, Any]:
    return tool_call("procurement_create_purchase_order", po_args(quantity), id=id)


# --- the scripted endpoint ------------------------------------------------------------------------


class ScriptedLLM:
    """Replies to chat-completion requests in order and records each request's JSON body.

    A reply is a completion body (sent as 200), an ``httpx.Response``, an exception to raise (as the
    transport would, e.g. ``httpx.ReadTimeout``), or a function of the request. Running out of
    replies answers 500 and sets ``overrun``, so an unexpected extra model call fails the test loudly.
    """

    def __init__(self, router: respx.MockRouter) -> None:
        self.replies: deque[Reply] = deque()
        self.requests: list[dict[str, Any]] = []
        self.overrun = False
        self._forever: Callable[[int], Reply] | None = None
        router.post(COMPLETIONS_URL).mock(side_effect=self._reply)

    def queue(self, *replies: Reply) -> ScriptedLLM:
        self.replies.extend(replies)
        return self

    def forever(self, reply: Callable[[int], Reply]) -> None:
        """Answer every request (after the queue) with ``reply(n)``, n counting requests from 0."""
        self._forever = reply

    def tool_results(self, request: int = -1) -> dict[str, dict[str, Any]]:
        """The tool messages of one recorded request: tool_call_id → JSON content (or ``{"text": …}``)."""
        results: dict[str, dict[str, Any]] = {}
        for message in self.requests[request]["messages"]:
            if message["role"] == "tool":
                results[message["tool_call_id"]] = _json_or_text(message["content"])
        return results

    def tool_message_ids(self, request: int = -1) -> list[str]:
        """tool_call_ids of the tool messages in one recorded request, in order, repeats kept."""
        return [m["tool_call_id"] for m in self.requests[request]["messages"] if m["role"] == "tool"]

    def _reply(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(json.loads(request.content))
        if self.replies:
            reply = self.replies.popleft()
        elif self._forever is not None:
            reply = self._forever(len(self.requests) - 1)
        else:
            self.overrun = True
            return httpx.Response(500, json={"error": {"message": "scripted model has no more replies"}})
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, httpx.Response):
            return reply
        if callable(reply):
            return reply(request)
        return httpx.Response(200, json=dict(reply))


def _json_or_text(content: Any) -> dict[str, Any]:
    try:
        parsed = json.loads(content)
    except (TypeError, ValueError):
        return {"text": content}
    return parsed if isinstance(parsed, dict) else {"value": parsed}


# --- the world ------------------------------------------------------------------------------------


@dataclass
class Clock:
    """The one clock of a world: decisions, approvals (expiry), executions and usage read it."""

    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class World:
    """One OPSLAYER_HOME: seeded local systems, governance DB and checkpoints, all under ``home``.

    ``session`` talks to the real ``ChatOpenAI`` pointed at the scripted endpoint. ``restart()``
    replaces it with a new session (new deps, new checkpointer connection) on the same files.
    """

    def __init__(
        self,
        home: Path,
        systems_template: Path,
        *,
        settings: Mapping[str, Any] | None = None,
        dry_run: bool = False,
        governance_engine: Callable[[], Engine] | None = None,
    ) -> None:
        """``governance_engine`` opens the engine of the governance stores (audit, usage, approvals,
        executions) for each session, as each process would; default: SQLite under ``home``."""
        home.mkdir(parents=True, exist_ok=True)
        self._governance_engine = governance_engine
        self.settings = Settings(
            home=home,
            openai_api_key="sk-test",
            openai_base_url=LLM_BASE_URL,
            llm_max_retries=0,
            **dict(settings or {}),
        )
        shutil.copyfile(systems_template, self.settings.systems_db)
        self.clock = Clock()
        self.notifier = LogNotifier()
        self.session = self.open(dry_run=dry_run)
        self._seed_orders = {po.number for po in self.purchase_orders()}

    # sessions

    def open(
        self, *, dry_run: bool = False, wrap: Callable[[AgentDeps], AgentDeps] | None = None
    ) -> AgentSession:
        """A new session on this world's files, as a freshly started process would build it."""
        deps: AgentDeps = build_agent_deps(
            self.settings,
            dry_run=dry_run,
            model=openai_chat_model(self.settings),
            notifier=self.notifier,
            clock=self.clock,
        )
        if self._governance_engine is not None:
            deps = on_engine(deps, self._governance_engine())
        if wrap is not None:
            deps = wrap(deps)
        return AgentSession(deps, open_checkpointer(self.settings.checkpoints_db))

    def restart(self, **kwargs: Any) -> AgentSession:
        self.session = self.open(**kwargs)
        return self.session

    @property
    def deps(self) -> AgentDeps:
        return self.session.deps

    def send(self, text: str, *, actor: str = "alice.requester", thread_id: str | None = None) -> TurnResult:
        return self.session.send(text, actor_id=actor, thread_id=thread_id)

    # approvals

    def approve(
        self, request_id: str, approver: str, *, edited_args: Mapping[str, Any] | None = None
    ) -> ApprovalRequest:
        """Vote to approve as the CLI does (edits re-decided as the requester's call)."""
        request = self.deps.approvals.get(request_id)
        assert request is not None, request_id
        edited = None
        if edited_args is not None:  # normalised first, as every front end does before voting
            edited = canonical_args(self.deps.governance.registry.get(request.tool).parse_args(edited_args))
        return self.deps.approvals.vote(
            request_id,
            approver=self.deps.governance.directory.actor(approver),
            approve=True,
            comment=f"ok from {approver}",
            channel="test",
            edited_args=edited,
            redecide=(lambda args: redecide(self.session.deps, request, args)) if edited else None,
        )

    def reject(self, request_id: str, approver: str, reason: str) -> ApprovalRequest:
        return self.deps.approvals.vote(
            request_id,
            approver=self.deps.governance.directory.actor(approver),
            approve=False,
            reason=reason,
            channel="test",
        )

    # observations

    def events(self, thread_id: str | None = None, *kinds: str) -> list[AuditEvent]:
        return list(self.deps.audit.events(thread_id=thread_id, kinds=kinds or None))

    def kinds(self, thread_id: str) -> list[str]:
        return [event.kind for event in self.events(thread_id)]

    def executions(self, thread_id: str | None = None) -> list[dict[str, Any]]:
        """Payloads of the ``execution`` audit events (of one thread, or all)."""
        return [event.payload for event in self.events(thread_id, "execution")]

    def purchase_orders(self) -> list[PurchaseOrder]:
        return self.deps.systems.procurement.list_purchase_orders(limit=10_000)

    def new_purchase_orders(self) -> list[PurchaseOrder]:
        """Orders created since the world was seeded, oldest first."""
        return sorted(
            (po for po in self.purchase_orders() if po.number not in self._seed_orders),
            key=lambda po: po.number,
        )


def on_engine(deps: AgentDeps, engine: Engine) -> AgentDeps:
    """``deps`` with every governance store on ``engine`` (PostgreSQL, say)."""
    audit = AuditLog(engine)
    return dataclasses.replace(
        deps,
        audit=audit,
        usage=SqlUsageLedger(engine),
        approvals=ApprovalStore(engine, audit=audit, clock=deps.clock),
        executions=ExecutionLedger(engine, clock=deps.clock),
    )


def directory_with(extra_people: Iterable[Mapping[str, Any]], path: Path) -> Path:
    """A copy of the shipped directory with ``extra_people`` added, written to ``path``."""
    document = yaml.safe_load(DEFAULT_DIRECTORY_PATH.read_text(encoding="utf-8"))
    document["people"].extend(dict(person) for person in extra_people)
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def redecide(deps: AgentDeps, request: ApprovalRequest, args: Mapping[str, Any]) -> Decision:
    """The edit re-decided as every front end does it (through the operations pipeline)."""
    context = DecisionContext(now=deps.clock(), channel=request.channel, thread_id=request.thread_id)
    return decide_edit(
        deps.governance,
        deps.systems,
        deps.usage,
        tool=request.tool,
        args=args,
        requester=request.requester,
        context=context,
    )
