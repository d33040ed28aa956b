"""Audit payloads for approvals: what the requested, vote and final events record."""

from __future__ import annotations

import json
from typing import Any

from governance.approvals._rules import _Ballot
from governance.approvals._values import ApprovalError, ApprovalRequest, Vote, _canonical

# The request as ``to_dict`` gives it, less what is not known or not needed at creation.
_REQUESTED_FIELDS = (
    "id",
    "tool_call_id",
    "tool",
    "args",
    "args_digest",
    "requirements",
    "requester",
    "channel",
    "reasons",
    "rule_ids",
    "exceeded_limits",
    "policy_version",
    "expires_at",
)


def _requested_payload(request: ApprovalRequest) -> dict[str, Any]:
    full = request.to_dict()
    return {("request_id" if field == "id" else field): full[field] for field in _REQUESTED_FIELDS}


def _final_payload(request: ApprovalRequest) -> dict[str, Any]:
    return {
        "request_id": request.id,
        "tool_call_id": request.tool_call_id,
        "tool": request.tool,
        "status": request.status.value,
        "reason": request.status_reason,
        "args_digest": request.args_digest,
        "approvers": [vote.approver for vote in request.counted_votes],
        "policy_version": request.policy_version,
    }


def _vote_payload(before: ApprovalRequest, after: ApprovalRequest, cast: Vote) -> dict[str, Any]:
    payload = {"request_id": after.id, "accepted": True, **cast.to_dict()}
    if cast.edited:
        payload |= {
            "args": json.loads(_canonical(after.args)),
            "replaced_args_digest": before.args_digest,
        }
    return payload


def _refusal_payload(refusal: ApprovalError, ballot: _Ballot) -> dict[str, Any]:
    return {
        "request_id": refusal.request_id,
        "accepted": False,
        "refusal": type(refusal).__name__,
        "message": str(refusal),
        "approver": ballot.approver.id,
        "roles": sorted(ballot.approver.roles),
        "approve": ballot.approve,
        "edited": ballot.edited_args is not None,
        "channel": ballot.channel,
        "comment": ballot.comment,
        "reason": ballot.reason,
    }
