"""The API's request and response bodies (what the OpenAPI document describes), and the conversions
from the operations service's values. Arguments, payloads and citations are passed through as JSON:
exactly what executes, what was recorded, what was cited."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from agent.operations import ApprovalView, ExecutionView, ThreadView
    from agent.run.session import TurnResult
    from governance.approvals import ApprovalRequest
    from governance.audit import AuditEvent
    from governance.directory import Person
    from governance.executions import ExecutionRecord

_TEXT_MAX = 20_000
_REASON_MAX = 2_000
# Free text is stored as text on every database, and PostgreSQL text holds no NUL: refused here (422
# naming the field) rather than by the database (a 500). Required text must not be blank either.
NO_NUL = r"^[^\x00]*$"
NOT_BLANK = r"^\s*[^\s\x00][^\x00]*$"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


# --- requests ---------------------------------------------------------------------------------------


class MessageIn(_In):
    message: str = Field(
        min_length=1,
        max_length=_TEXT_MAX,
        pattern=NOT_BLANK,
        description="What you ask the agent, in words (not blank)",
    )


_SEEN = (
    "The `args_digest` of the arguments you reviewed: if an edit replaced them since, the vote is refused "
    "(409, `arguments-changed`) rather than counted for arguments you did not see. Recommended."
)


class _VoteIn(_In):
    args_digest: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$", description=_SEEN)


class ApproveIn(_VoteIn):
    comment: str | None = Field(default=None, max_length=_REASON_MAX, pattern=NO_NUL)


class RejectIn(_VoteIn):
    reason: str = Field(
        min_length=1, max_length=_REASON_MAX, pattern=NO_NUL, description="Told to the agent and requester"
    )


class EditIn(_VoteIn):
    args: dict[str, Any] = Field(description="The whole argument object to approve instead of the proposal")
    comment: str | None = Field(default=None, max_length=_REASON_MAX, pattern=NO_NUL)


class SettleIn(_In):
    status: Literal["completed", "failed"] = Field(description="What the backend shows for the call")
    text: str = Field(
        min_length=1,
        max_length=_REASON_MAX,
        pattern=NOT_BLANK,
        description="The result, or why it failed (not blank)",
    )


class ExplainIn(_In):
    tool: str = Field(min_length=1, max_length=64)
    args: dict[str, Any] = Field(default_factory=dict)


# --- responses --------------------------------------------------------------------------------------


class PersonOut(_Out):
    id: str
    display_name: str
    roles: list[str]
    email: str | None
    manager: str | None
    auditor: bool = Field(description="Reads the whole audit trail and every thread")
    may_settle: bool = Field(description="May settle executions a crash left started")


class TokenOut(_Out):
    """One of your API tokens (never its secret)."""

    id: str
    person: str
    label: str | None
    created_at: str
    expires_at: str | None
    revoked_at: str | None
    revoked_by: str | None


class RequirementOut(_Out):
    roles: list[str]
    count: int
    rule_id: str | None = None


class VoteOut(_Out):
    approver: str
    roles: list[str]
    approve: bool
    at: str
    channel: str
    comment: str | None
    reason: str | None
    args_digest: str
    edited: bool


class ApprovalOut(_Out):
    id: str
    thread_id: str
    tool_call_id: str
    tool: str
    args: dict[str, Any] = Field(description="Exactly the arguments that run if approved")
    args_digest: str
    requirements: list[RequirementOut]
    requester: str
    channel: str
    reasons: list[str]
    rule_ids: list[str]
    notify: list[str]
    policy_version: str
    status: Literal["pending", "approved", "rejected", "expired"]
    status_reason: str
    created_at: str
    expires_at: str
    decided_at: str | None
    version: int
    votes: list[VoteOut]
    stage: str
    proposed_digest: str
    consumed_by: str | None
    exceeded_limits: list[str]


class EventOut(_Out):
    seq: int
    event_id: str
    at: str
    thread_id: str | None
    kind: str
    actor: str | None
    payload: dict[str, Any]
    prev_hash: str
    hash: str


class CallOut(_Out):
    tool_call_id: str
    tool: str
    tier: str | None
    rule_ids: list[str]
    reasons: list[str]
    notified: list[str]
    approval_id: str | None
    status: str


class TurnOut(_Out):
    thread_id: str
    answer: str | None = Field(description="None while the thread waits for approval")
    citations: list[str]
    calls: list[CallOut] = Field(description="What governance did with each tool call of the turn")
    pending: list[ApprovalOut]
    events: list[EventOut]


class MessageOut(_Out):
    role: str
    content: Any
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None


class ThreadOut(_Out):
    thread_id: str
    owner: str | None
    messages: list[MessageOut]
    citations: list[dict[str, Any]]
    pending: list[ApprovalOut]
    approvals: list[ApprovalOut]
    events: list[EventOut]


class ArgChange(_Out):
    path: list[str | int]
    proposed: Any = None
    current: Any = None


class ApprovalDetail(_Out):
    approval: ApprovalOut
    request_text: str | None
    citations: list[dict[str, Any]]
    history: list[EventOut]
    still_needed: str
    proposed_args: dict[str, Any] | None = Field(description="The arguments as the agent proposed them")
    changes: list[ArgChange] = Field(description="Where the current arguments differ from the proposal")
    execution: ExecutionOut | None = Field(
        default=None, description="What ran on this request, once something did (a veto window's call too)"
    )


class VoteResult(_Out):
    approval: ApprovalOut
    can_resume: bool = Field(description="Every approval of the thread is final: the worker resumes it")


class ApprovalPage(_Out):
    items: list[ApprovalOut]
    next_cursor: str | None


class ExecutionOut(_Out):
    key: str
    tool: str
    args_digest: str
    thread_id: str | None
    status: str
    result: str | None
    error: str | None
    error_type: str | None
    attempts: int
    started_at: str
    finished_at: str | None
    replayed: bool


class ExecutionPage(_Out):
    items: list[ExecutionOut]
    next_cursor: str | None


class ExecutionDetail(_Out):
    execution: ExecutionOut
    decision: EventOut | None
    settlement: EventOut | None


class EventPage(_Out):
    items: list[EventOut]
    next_cursor: str | None


class HeadOut(_Out):
    seq: int
    hash: str


class VerifyOut(_Out):
    ok: bool
    checked: int
    head: HeadOut
    first_broken_seq: int | None
    event_id: str | None
    problem: str | None


class PolicyOut(_Out):
    version: str
    document: dict[str, Any]


class ExplainOut(_Out):
    decision: dict[str, Any]
    notes: list[str]


class HealthOut(_Out):
    status: Literal["ok"]


class ReadyOut(_Out):
    ready: bool
    checks: dict[str, str]


# --- conversions ------------------------------------------------------------------------------------


def person_out(person: Person, *, auditor: bool, may_settle: bool) -> PersonOut:
    return PersonOut(
        id=person.id,
        display_name=person.display_name,
        roles=sorted(person.roles),
        email=person.email,
        manager=person.manager,
        auditor=auditor,
        may_settle=may_settle,
    )


def approval_out(request: ApprovalRequest) -> ApprovalOut:
    return ApprovalOut.model_validate(request.to_dict())


def event_out(event: AuditEvent) -> EventOut:
    return EventOut.model_validate(event.to_dict())


def execution_out(record: ExecutionRecord) -> ExecutionOut:
    return ExecutionOut.model_validate(record.to_dict())


def turn_out(turn: TurnResult) -> TurnOut:
    return TurnOut(
        thread_id=turn.thread_id,
        answer=turn.answer,
        citations=list(turn.citations),
        calls=[
            CallOut(
                tool_call_id=c.tool_call_id,
                tool=c.tool,
                tier=c.tier,
                rule_ids=list(c.rule_ids),
                reasons=list(c.reasons),
                notified=list(c.notified),
                approval_id=c.approval_id,
                status=c.status,
            )
            for c in turn.calls
        ],
        pending=[approval_out(r) for r in turn.pending],
        events=[event_out(e) for e in turn.events],
    )


def thread_out(view: ThreadView) -> ThreadOut:
    return ThreadOut(
        thread_id=view.thread_id,
        owner=view.owner,
        messages=[MessageOut.model_validate(m) for m in view.messages],
        citations=[dict(c) for c in view.citations],
        pending=[approval_out(r) for r in view.pending],
        approvals=[approval_out(r) for r in view.approvals],
        events=[event_out(e) for e in view.events],
    )


def approval_detail(view: ApprovalView) -> ApprovalDetail:
    proposed = next(
        (e.payload.get("args") for e in view.history if e.kind == "approval_requested"),
        None,
    )
    current = dict(approval_out(view.request).args)
    return ApprovalDetail(
        approval=approval_out(view.request),
        request_text=view.request_text,
        citations=[dict(c) for c in view.citations],
        history=[event_out(e) for e in view.history],
        still_needed=view.still_needed,
        proposed_args=proposed if isinstance(proposed, dict) else None,
        changes=changes(proposed, current) if isinstance(proposed, dict) else [],
        execution=None if view.execution is None else execution_out(view.execution),
    )


def execution_detail(view: ExecutionView) -> ExecutionDetail:
    return ExecutionDetail(
        execution=execution_out(view.record),
        decision=None if view.decision is None else event_out(view.decision),
        settlement=None if view.settlement is None else event_out(view.settlement),
    )


def changes(proposed: Any, current: Any, path: Sequence[str | int] = ()) -> list[ArgChange]:
    """Where ``current`` differs from ``proposed``: one entry per changed, added or removed leaf."""
    if isinstance(proposed, Mapping) and isinstance(current, Mapping):
        found: list[ArgChange] = []
        for key in sorted(set(proposed) | set(current), key=str):
            found += changes(proposed.get(key), current.get(key), [*path, str(key)])
        return found
    if isinstance(proposed, list) and isinstance(current, list) and len(proposed) == len(current):
        return [
            c
            for i, (a, b) in enumerate(zip(proposed, current, strict=True))
            for c in changes(a, b, [*path, i])
        ]
    return [] if proposed == current else [ArgChange(path=list(path), proposed=proposed, current=current)]
