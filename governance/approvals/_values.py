"""Approval values: the request, its votes, the outcome the agent resumes with, and the refusal errors.

Errors::

    ApprovalError            a refused vote; the message is for the person who voted
    ├── UnknownRequest
    ├── RequestClosed
    ├── SelfApproval
    ├── AlreadyVoted
    ├── NotEntitled
    ├── ReasonRequired
    └── ApprovalConflict     too many concurrent changes; trying again is safe

    RequestKeyTaken          a request key already belongs to another call (tool or arguments)
    ApprovalUnusable         an approval cannot authorise this execution (not approved, other
                             arguments, or already consumed by another execution)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from governance.canonical import canonical_json
from governance.decision import ApprovalRequirement


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


class ApprovalError(Exception):
    """A refused vote; the message names the problem and is meant for the person who voted."""

    def __init__(self, message: str, *, request_id: str, approver: str | None = None) -> None:
        super().__init__(message)
        self.request_id = request_id
        self.approver = approver


class UnknownRequest(ApprovalError):
    """No approval request has this id."""


class RequestClosed(ApprovalError):
    """The request is already approved, rejected or expired."""


class SelfApproval(ApprovalError):
    """The voter is the person who asked for the call."""


class AlreadyVoted(ApprovalError):
    """The voter already voted on these arguments."""


class NotEntitled(ApprovalError):
    """The voter holds none of the roles still needed (or, to reject, none of the required roles)."""


class ReasonRequired(ApprovalError):
    """A rejection without a reason: the reason is what the agent and the requester are told."""


class ArgumentsChanged(ApprovalError):
    """The request's arguments are no longer those the voter saw (an edit came first): look again."""


class StepUpRequired(ApprovalError):
    """The policy asks for this approval to be given signed in (``step_up``), and the vote came from a
    channel where one click suffices (a chat button)."""


SIGNED_IN_CHANNELS = frozenset({"web", "api", "cli", "eval"})
"""Channels whose voter proved who they are for this vote: a review-page session, an API token, the
operator's own command line, the eval harness standing in for one. A step-up approval from any other
channel (Slack's buttons, or a channel added later) is refused: fail closed."""


class ApprovalConflict(ApprovalError):
    """Too many concurrent changes to one request; trying again is safe."""


class RequestKeyTaken(Exception):
    """The (thread, tool call, stage) key already holds a request for another tool or other arguments.

    A request is found again only by the call that created it: a key is never reused for a
    different proposal, so an approval cannot move to arguments nobody approved.
    """


class ApprovalUnusable(Exception):
    """The approval cannot authorise this execution; nothing may run on it."""

    def __init__(self, message: str, *, request_id: str) -> None:
        super().__init__(message)
        self.request_id = request_id


@dataclass(frozen=True, kw_only=True, slots=True)
class Vote:
    """One accepted vote, bound to the args digest it was cast on."""

    approver: str
    roles: tuple[str, ...]
    approve: bool
    at: datetime
    channel: str
    comment: str | None
    reason: str | None
    args_digest: str
    edited: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "approver": self.approver,
            "roles": list(self.roles),
            "approve": self.approve,
            "at": _iso(self.at),
            "channel": self.channel,
            "comment": self.comment,
            "reason": self.reason,
            "args_digest": self.args_digest,
            "edited": self.edited,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class ApprovalRequest:
    """A request as stored. ``args`` are the arguments that will run if approved (edits included)."""

    id: str
    thread_id: str
    tool_call_id: str
    tool: str
    args: Mapping[str, Any]
    args_digest: str
    requirements: tuple[ApprovalRequirement, ...]
    requester: str
    channel: str
    reasons: tuple[str, ...]
    rule_ids: tuple[str, ...]
    notify: tuple[str, ...]
    policy_version: str
    status: ApprovalStatus
    status_reason: str
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    version: int
    votes: tuple[Vote, ...] = ()
    # Which review created it: "plan" (the model's proposal) or "recheck-…" (escalated just before
    # running). Part of the request's key, and never chosen by the model.
    stage: str = "plan"
    proposed_digest: str = ""  # digest of the arguments as proposed (``args_digest`` follows edits)
    consumed_by: str | None = None  # the execution key this approval authorised, once used
    # The limits the call was found to exceed when approval was asked (or the edit decided): only
    # these may be exceeded on this approval; a limit crossed later needs approval of its own.
    exceeded_limits: tuple[str, ...] = ()

    @property
    def final(self) -> bool:
        return self.status is not ApprovalStatus.PENDING

    @property
    def veto_window(self) -> bool:
        """A notify-tier call waiting out its veto window: it is approved when ``expires_at`` comes
        unless someone holding a role of its requirements (each of count 0: nobody need approve)
        vetoes it first; approving early ends the wait."""
        return bool(self.requirements) and all(r.count == 0 for r in self.requirements)

    @property
    def counted_votes(self) -> tuple[Vote, ...]:
        """Approvals of the current arguments: the only votes that count toward the quorum."""
        return tuple(vote for vote in self.votes if vote.approve and vote.args_digest == self.args_digest)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "thread_id": self.thread_id,
            "tool_call_id": self.tool_call_id,
            "tool": self.tool,
            "args": json.loads(_canonical(self.args)),
            "args_digest": self.args_digest,
            "requirements": [requirement.to_dict() for requirement in self.requirements],
            "requester": self.requester,
            "channel": self.channel,
            "reasons": list(self.reasons),
            "rule_ids": list(self.rule_ids),
            "notify": list(self.notify),
            "policy_version": self.policy_version,
            "status": self.status.value,
            "status_reason": self.status_reason,
            "created_at": _iso(self.created_at),
            "expires_at": _iso(self.expires_at),
            "decided_at": None if self.decided_at is None else _iso(self.decided_at),
            "version": self.version,
            "votes": [vote.to_dict() for vote in self.votes],
            "stage": self.stage,
            "proposed_digest": self.proposed_digest,
            "consumed_by": self.consumed_by,
            "exceeded_limits": list(self.exceeded_limits),
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class ApprovalOutcome:
    """What the agent needs once it resumes: run ``args`` if approved, else tell the model ``reason``."""

    request_id: str
    tool_call_id: str
    tool: str
    status: ApprovalStatus
    reason: str
    args: Mapping[str, Any]
    args_digest: str

    @property
    def final(self) -> bool:
        return self.status is not ApprovalStatus.PENDING

    @property
    def approved(self) -> bool:
        return self.status is ApprovalStatus.APPROVED


def _json_copy(args: Mapping[str, Any]) -> dict[str, Any]:
    """A plain-JSON copy of ``args``: what is stored, digested and later run."""
    copied: dict[str, Any] = json.loads(_canonical(args))
    return copied


def _canonical(value: Any) -> str:
    try:
        return canonical_json(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"approval data must be plain JSON: {exc}") from exc


def _iso(moment: datetime) -> str:
    return _utc(moment).isoformat(timespec="microseconds")


def _utc(moment: datetime) -> datetime:
    if moment.utcoffset() is None:
        raise ValueError(f"approval times must be timezone-aware, got {moment.isoformat()}")
    return moment.astimezone(UTC)
