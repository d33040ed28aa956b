"""What the operations service returns: frozen views front ends render (never live store objects)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from governance.approvals import ApprovalRequest
from governance.audit import AuditEvent

if TYPE_CHECKING:
    from governance.executions import ExecutionRecord


@dataclass(frozen=True, kw_only=True)
class ApprovalView:
    """Everything an approver needs to decide one request, exactly as it will execute."""

    request: ApprovalRequest
    request_text: str | None  # what the requester asked, in their words
    citations: tuple[Mapping[str, Any], ...]  # runbook sections and past incidents that grounded it
    history: tuple[AuditEvent, ...]  # requested, votes (refused ones too), final
    still_needed: str  # which approvals are missing, in words ("" when final)
    execution: ExecutionRecord | None = None  # what ran on it, once something did


@dataclass(frozen=True, kw_only=True)
class ExecutionView:
    """One executed call: its ledger row, the decision it ran on and who settled it, if anyone did."""

    record: ExecutionRecord
    decision: AuditEvent | None
    settlement: AuditEvent | None


@dataclass(frozen=True, kw_only=True)
class VoteOutcome:
    request: ApprovalRequest
    can_resume: bool  # every approval the thread waits for is final: resume it (the worker will)


@dataclass(frozen=True, kw_only=True)
class ThreadView:
    """One conversation: its messages (from the checkpoints), what grounded it, what waits, what happened."""

    thread_id: str
    owner: str | None  # who started it
    messages: tuple[Mapping[str, Any], ...]  # role, content, and tool calls / tool call id where present
    citations: tuple[Mapping[str, Any], ...]  # runbook sections and past incidents retrieved for it
    approvals: tuple[ApprovalRequest, ...]  # every approval request of the thread, oldest first
    events: tuple[AuditEvent, ...]  # its audit trail: requests, decisions, approvals, executions, answers

    @property
    def pending(self) -> tuple[ApprovalRequest, ...]:
        return tuple(request for request in self.approvals if not request.final)


@dataclass(frozen=True, kw_only=True)
class AuditPage:
    events: tuple[AuditEvent, ...]
    next_seq: int | None  # pass as ``after_seq`` for the next page; None on the last page


@dataclass(frozen=True, kw_only=True)
class PolicyInForce:
    version: str  # label + sha256 of the canonical policy
    document: Mapping[str, Any]  # the validated policy, as JSON
