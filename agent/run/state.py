"""The agent's graph state and the run dependencies passed through LangGraph's ``context_schema``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Protocol, TypedDict

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AnyMessage, BaseMessage
from langgraph.graph.message import add_messages

from agent.run.notifier import Notifier
from agent.tracing import Tracing
from governance.approvals import ApprovalStore
from governance.audit import AuditLog
from governance.executions import ExecutionLedger
from governance.usage import SqlUsageLedger
from tools.spec import Systems

if TYPE_CHECKING:
    from agent.run.governance import Governance


class ClearedCall(TypedDict):
    """A tool call governance let through (possibly after approval), waiting for ``act``."""

    tool_call_id: str
    tool: str
    args: dict[str, Any]
    args_digest: str
    approval_id: str | None


class PendingApproval(TypedDict):
    approval_id: str
    tool_call_id: str


class AgentState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    actor_id: str
    channel: str
    grounded: bool
    rounds: int
    cleared: list[ClearedCall]
    pending: list[PendingApproval]


class GroundingLike(Protocol):
    """What a grounder returns: a context message (or None) and the citations it carries."""

    @property
    def message(self) -> BaseMessage | None: ...

    @property
    def citations(self) -> list[dict[str, Any]]: ...


Grounder = Callable[[str], GroundingLike]


@dataclass(frozen=True, kw_only=True)
class AgentDeps:
    """Everything a run needs; built once per process by the entry point (never module globals)."""

    model: BaseChatModel
    governance: Governance
    systems: Systems
    audit: AuditLog
    usage: SqlUsageLedger
    approvals: ApprovalStore
    executions: ExecutionLedger
    notifier: Notifier
    clock: Callable[[], datetime]
    dry_run: bool = False
    round_limit: int = 8
    grounder: Grounder | None = None
    tracing: Tracing | None = None  # OpenTelemetry spans of each turn (agent/tracing.py); None: off
