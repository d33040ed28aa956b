"""Conversations with the governed agent: start a turn, resume a paused thread, report what happened.

Guards the LangGraph quirks DESIGN.md lists: a checkpointer is always used, and resuming an unknown
or finished thread is an error, never a silent new run.
"""

from __future__ import annotations

import logging
import sqlite3
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.types import Command

from agent import tracing
from agent.run.errors import ThreadNotWaiting, ThreadStopped, ThreadWaiting, UnknownThread
from agent.run.events import Delivery, TurnListener
from agent.run.graph import build_graph
from agent.run.grounding import RetrieverGrounder, cited_ids
from agent.run.state import AgentDeps
from governance.approvals import ApprovalRequest
from governance.audit import AuditEvent, EventKind, recording
from tools import sqlite

# Nodes between a model message with tool calls and the tool messages answering them.
_TOOL_NODES = frozenset({"govern", "act", "await_approval"})
_log = logging.getLogger("opslayer.session")


@dataclass(frozen=True, kw_only=True)
class CallOutcome:
    """What governance did with one tool call during a turn, as the audit trail recorded it."""

    tool_call_id: str
    tool: str
    tier: str | None  # of the latest decision (plan or re-check); None if the call was never decided
    rule_ids: tuple[str, ...]
    reasons: tuple[str, ...]
    notified: tuple[str, ...]  # who was told before it ran (notify tier)
    approval_id: str | None  # the request it waits for, or ran on
    status: str  # refused | waiting | completed | failed | decided


@dataclass(frozen=True, kw_only=True)
class TurnResult:
    thread_id: str
    answer: str | None  # None while the thread waits for approval
    events: list[AuditEvent] = field(default_factory=list)  # what governance did during the turn
    pending: list[ApprovalRequest] = field(default_factory=list)

    @property
    def citations(self) -> list[str]:
        """The citation ids the answer carries (runbook sections, past incidents)."""
        return cited_ids(self.answer) if self.answer else []

    @property
    def calls(self) -> list[CallOutcome]:
        """One outcome per tool call decided, notified, asked about or run in this turn, in order."""
        outcomes: dict[str, dict[str, Any]] = {}
        for event in self.events:
            call_id = event.payload.get("tool_call_id")
            if not isinstance(call_id, str):
                continue
            outcome = outcomes.setdefault(call_id, {"tool": event.payload.get("tool", ""), "notified": ()})
            _fold(outcome, event)
        return [_outcome(call_id, outcome) for call_id, outcome in outcomes.items()]


def _fold(outcome: dict[str, Any], event: AuditEvent) -> None:
    payload = event.payload
    if event.kind == EventKind.DECISION:
        refused = payload.get("tier") == "deny"
        outcome.update(
            tier=payload.get("tier"), rules=payload.get("rule_ids", []), reasons=payload.get("reasons", [])
        )
        outcome["status"] = "refused" if refused else outcome.get("status", "decided")
    elif event.kind == EventKind.APPROVAL_REQUESTED:
        outcome.update(approval_id=payload.get("request_id") or payload.get("approval_id"), status="waiting")
    elif event.kind == EventKind.NOTIFICATION:
        outcome["notified"] = tuple(payload.get("recipients", ()))
    elif event.kind == EventKind.EXECUTION:
        outcome.update(
            status=payload.get("status"), approval_id=payload.get("approval_id") or outcome.get("approval_id")
        )


def _outcome(call_id: str, outcome: dict[str, Any]) -> CallOutcome:
    return CallOutcome(
        tool_call_id=call_id,
        tool=str(outcome["tool"]),
        tier=outcome.get("tier"),
        rule_ids=tuple(outcome.get("rules", ())),
        reasons=tuple(outcome.get("reasons", ())),
        notified=tuple(outcome["notified"]),
        approval_id=outcome.get("approval_id"),
        status=str(outcome.get("status", "decided")),
    )


def open_checkpointer(path: Path) -> SqliteSaver:
    """LangGraph checkpoints in a SQLite file, in WAL mode.

    ``synchronous=NORMAL`` (as for governance.db): a commit survives a process crash; only a power
    loss can drop the newest commits, and the executions ledger keeps even that from running a call twice.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, check_same_thread=False, timeout=sqlite.LOCK_TIMEOUT_S)
    sqlite.configure(connection)
    saver = SqliteSaver(connection)
    saver.setup()
    return saver


def open_postgres_checkpointer(url: str, *, pool_size: int = 8) -> BaseCheckpointSaver[Any]:
    """LangGraph checkpoints in PostgreSQL (``url`` as SQLAlchemy spells it), through a connection pool
    of at most ``pool_size`` connections.

    The pool's connections are in autocommit mode without prepared statements, as the saver requires;
    ``setup()`` creates or migrates its tables and is safe to run from several processes.
    """
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool
    from sqlalchemy import make_url

    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    pool: ConnectionPool[Any] = ConnectionPool(
        conninfo,
        min_size=1,
        max_size=pool_size,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        open=True,
    )
    saver = PostgresSaver(pool)
    saver.setup()
    return saver


def forget_superseded(checkpointer: BaseCheckpointSaver[Any], thread_id: str) -> None:
    """Delete the checkpoints of ``thread_id`` older than its latest, with their writes.

    A run writes a checkpoint after every step (about six a turn, each holding the whole conversation),
    and resuming a thread needs only its latest one and that one's pending writes (an interrupt, the
    results of steps that finished before a crash), which stay. The PostgreSQL saver does it itself
    (``prune``, ``keep_latest``); the SQLite saver has no such method, so the same deletions run here,
    in one transaction under the saver's lock.
    """
    if isinstance(checkpointer, SqliteSaver):
        with checkpointer.cursor() as cursor:
            for table in ("writes", "checkpoints"):
                cursor.execute(_SUPERSEDED_SQLITE.format(table=table), (thread_id,))
    else:
        checkpointer.prune([thread_id], strategy="keep_latest")


# Rows of a thread older than the latest checkpoint of their namespace: checkpoint ids sort by time, and
# the saver loads a thread's latest checkpoint as the greatest id.
_SUPERSEDED_SQLITE = """
DELETE FROM {table} WHERE thread_id = ? AND checkpoint_id < (
    SELECT max(latest.checkpoint_id) FROM checkpoints AS latest
    WHERE latest.thread_id = {table}.thread_id AND latest.checkpoint_ns = {table}.checkpoint_ns
)"""


class AgentSession:
    """One process's handle on the agent: graph + checkpointer + run dependencies.

    ``callbacks`` (LangChain callback handlers, e.g. the LLM metrics) see every model call of every run.
    After each turn the thread's superseded checkpoints are deleted (:func:`forget_superseded`) unless
    ``keep_history``.
    """

    def __init__(
        self,
        deps: AgentDeps,
        checkpointer: BaseCheckpointSaver[Any],
        *,
        callbacks: Sequence[BaseCallbackHandler] = (),
        keep_history: bool = False,
    ) -> None:
        self.deps = deps
        self.checkpointer = checkpointer
        self.graph = build_graph(checkpointer)
        self._callbacks = list(callbacks)
        self._keep_history = keep_history

    def warm(self) -> None:
        """Load what a first turn would otherwise wait for: the grounding's model and indexes."""
        if isinstance(self.deps.grounder, RetrieverGrounder):
            self.deps.grounder.warm()

    def send(
        self,
        message: str,
        *,
        actor_id: str,
        thread_id: str | None = None,
        channel: str = "cli",
        on_event: TurnListener | None = None,
    ) -> TurnResult:
        """Run one user turn (a new thread unless ``thread_id`` names an existing one).

        ``on_event`` receives the turn's events as they happen (see :mod:`agent.run.events`).
        """
        self.deps.governance.directory.get(actor_id)  # unknown people are refused before anything runs
        if thread_id is None:
            thread_id = f"t-{uuid.uuid4().hex[:12]}"
        else:
            self._check_can_continue(thread_id)
        delivery = None if on_event is None else Delivery(on_event)
        with recording(None if delivery is None else delivery.audited) as events:
            self.deps.audit.append(
                EventKind.REQUEST,
                {"text": message, "channel": channel, "dry_run": self.deps.dry_run},
                thread_id=thread_id,
                actor=actor_id,
            )
            state = {
                "messages": [HumanMessage(content=message)],
                "actor_id": actor_id,
                "channel": channel,
                "rounds": 0,
                "grounded": self.deps.grounder is not None,
            }
            return self._run(state, thread_id, actor_id, events, delivery)

    def resume(self, thread_id: str, *, on_event: TurnListener | None = None) -> TurnResult:
        """Continue a thread paused for approval (call when its approvals are final).

        A thread whose run stopped part-way (the process crashed, or the LLM endpoint failed) is
        continued from the node that did not finish; the executions ledger makes re-running it safe.
        """
        snapshot = self.graph.get_state(self._config(thread_id))
        if not snapshot.values:
            raise UnknownThread(thread_id)
        if not snapshot.next:
            raise ThreadNotWaiting(thread_id)
        actor_id = snapshot.values["actor_id"]
        delivery = None if on_event is None else Delivery(on_event)
        with recording(None if delivery is None else delivery.audited) as events:
            if not self._waiting(thread_id):
                return self._run(None, thread_id, actor_id, events, delivery)
            ids = [item["approval_id"] for item in snapshot.values.get("pending", [])]
            outcomes = {i: self.deps.approvals.outcome(i).status.value for i in ids}
            resume: Command[Any] = Command(resume={"approvals": outcomes})
            return self._run(resume, thread_id, actor_id, events, delivery)

    def pending_approvals(self, thread_id: str) -> list[str]:
        """Approval ids the thread waits for (empty when it is not paused)."""
        if not self._waiting(thread_id):
            return []
        values = self.graph.get_state(self._config(thread_id)).values
        return [item["approval_id"] for item in values.get("pending", [])]

    def exists(self, thread_id: str) -> bool:
        return bool(self.graph.get_state(self._config(thread_id)).values)

    def _run(
        self,
        graph_input: Any,
        thread_id: str,
        actor_id: str,
        recorded: list[AuditEvent],
        delivery: Delivery | None,
    ) -> TurnResult:
        """Run the graph; ``recorded`` collects the audit events of the turn as they are appended."""
        config = self._config(thread_id)
        operation = "send" if isinstance(graph_input, dict) else "resume"
        version = self.deps.governance.policy.version
        try:
            with tracing.turn(
                self.deps.tracing, operation, thread_id=thread_id, actor_id=actor_id, policy_version=version
            ):
                values = self._invoke(graph_input, {**config, "callbacks": self._callbacks}, delivery)
        except Exception as exc:
            self.deps.audit.append(
                EventKind.ERROR,
                {"error": str(exc), "type": type(exc).__name__},
                thread_id=thread_id,
                actor=actor_id,
            )
            raise
        self._forget_history(thread_id)
        if values.pop(_INTERRUPT, None):
            pending = [self.deps.approvals.get(item["approval_id"]) for item in values.get("pending", [])]
            return TurnResult(
                thread_id=thread_id,
                answer=None,
                events=_of_thread(recorded, thread_id),
                pending=[p for p in pending if p is not None],
            )
        answer = _final_answer(values.get("messages", []))
        payload = {"text": answer, "citations": cited_ids(answer)}
        self.deps.audit.append(EventKind.RESPONSE, payload, thread_id=thread_id, actor=actor_id)
        return TurnResult(thread_id=thread_id, answer=answer, events=_of_thread(recorded, thread_id))

    def _invoke(self, graph_input: Any, config: Any, delivery: Delivery | None) -> dict[str, Any]:
        """Run the graph to its end or its next interrupt; stream the model's tokens to ``delivery``.

        Returns the state it stopped in, as the checkpoint holds it (so the turn need not read it back),
        with LangGraph's ``__interrupt__`` entry when it stopped to wait.
        """
        if delivery is None or not _streams(self.deps.model):  # governance events need no stream
            return dict(self.graph.invoke(graph_input, config, context=self.deps, durability="sync"))
        # "messages" mode makes a model that can stream do so; a whole message (a tool message, say)
        # arrives as a message, not a chunk, and is no token. "values" brings the state after each step.
        stream = self.graph.stream(
            graph_input, config, context=self.deps, stream_mode=["messages", "values"], durability="sync"
        )
        values: dict[str, Any] = {}
        for mode, chunk in stream:
            part: Any = chunk  # the state (values) or a (message, metadata) pair (messages)
            if mode == "values":
                values = dict(part)
            elif isinstance(part[0], AIMessageChunk):
                delivery.token(part[0].text)
        return values

    def _forget_history(self, thread_id: str) -> None:
        """Delete what the turn's last checkpoint superseded; a failure only leaves them for the next turn."""
        if self._keep_history:
            return
        try:
            forget_superseded(self.checkpointer, thread_id)
        except Exception:
            _log.warning("could not delete the superseded checkpoints of thread %s", thread_id, exc_info=True)

    def _check_can_continue(self, thread_id: str) -> None:
        snapshot = self.graph.get_state(self._config(thread_id))
        if _interrupted(snapshot):
            raise ThreadWaiting(f"thread {thread_id!r} is waiting for approval; approve or reject it first")
        if not _TOOL_NODES.isdisjoint(snapshot.next):  # a run crashed between tool calls and answers
            raise ThreadStopped(
                f"thread {thread_id!r} stopped before its tool calls were answered; resume it first"
            )

    def _waiting(self, thread_id: str) -> bool:
        return _interrupted(self.graph.get_state(self._config(thread_id)))

    @staticmethod
    def _config(thread_id: str) -> Any:
        return {"configurable": {"thread_id": thread_id}}


def _of_thread(events: list[AuditEvent], thread_id: str) -> list[AuditEvent]:
    return sorted((event for event in events if event.thread_id == thread_id), key=lambda event: event.seq)


def _final_answer(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, AIMessage) and not message.tool_calls:
            return str(message.content)
    return ""


def _streams(model: BaseChatModel) -> bool:
    """Whether the model can stream tokens (the offline planner cannot: its turns run unstreamed)."""
    return type(model)._stream is not BaseChatModel._stream


_INTERRUPT = "__interrupt__"  # where LangGraph's output names the interrupts a run stopped at


def _interrupted(snapshot: Any) -> bool:
    return any(task.interrupts for task in snapshot.tasks)
