"""The vote rules: pure functions from a request and a ballot to the request after it (no SQL, no clock).

A vote is refused with an :class:`ApprovalError` subclass when the request is no longer pending, the
voter is the requester, already voted on these arguments, or holds none of the roles still needed; an
approval the policy asks to be given signed in (step-up) is refused from a one-click channel.
Requirements combine as in :func:`governance.decision.approval_satisfied`: one person fills one slot
only. A rejection needs a reason and may come from anyone holding a role of any requirement.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from governance.approvals._values import (
    SIGNED_IN_CHANNELS,
    AlreadyVoted,
    ApprovalError,
    ApprovalRequest,
    ApprovalStatus,
    ArgumentsChanged,
    NotEntitled,
    ReasonRequired,
    RequestClosed,
    SelfApproval,
    StepUpRequired,
    Vote,
    _json_copy,
)
from governance.decision import (
    Actor,
    ApprovalCheck,
    ApprovalRequirement,
    Decision,
    Tier,
    approval_satisfied,
    args_digest,
)


@dataclass(frozen=True, kw_only=True, slots=True)
class _Ballot:
    approver: Actor
    approve: bool
    comment: str | None
    reason: str | None
    channel: str
    edited_args: Mapping[str, Any] | None
    redecide: Callable[[Mapping[str, Any]], Decision] | None
    seen_digest: str | None = None  # the arguments the voter was shown; None: whatever they are now
    step_up: bool = False  # the policy asks for this approval to be given signed in


def _check_ballot(ballot: _Ballot) -> None:
    """Caller mistakes, not refusals: they are bugs in the surface that built the vote."""
    if ballot.edited_args is None:
        return
    if not ballot.approve:
        raise ValueError("edited_args only go with approve=True (edit-and-approve)")
    if ballot.redecide is None:
        raise ValueError("edited_args need redecide: edited arguments must be decided again")


def _cast(request: ApprovalRequest, ballot: _Ballot, now: datetime) -> tuple[ApprovalRequest, Vote]:
    """The request after ``ballot``, and the vote to store; raises ApprovalError when refused."""
    _refuse_if_closed(request, ballot)
    _refuse_if_changed(request, ballot)
    _refuse_if_ineligible(request, ballot)
    if not ballot.approve:
        return _rejected(request, ballot, now)
    _refuse_if_one_click(request, ballot)
    if ballot.edited_args is not None and args_digest(_json_copy(ballot.edited_args)) != request.args_digest:
        return _edited(request, ballot, ballot.edited_args, now)
    return _approved(request, ballot, now)  # an "edit" that changes nothing is an approval


def _refusal(request: ApprovalRequest, approver: Actor, *, approve: bool) -> ApprovalError | None:
    """The refusal a plain approval (or a rejection with a reason) by ``approver`` would get now."""
    reason = None if approve else "(a reason)"
    ballot = _Ballot(
        approver=approver,
        approve=approve,
        comment=None,
        reason=reason,
        channel="",
        edited_args=None,
        redecide=None,
    )
    try:
        _refuse_if_closed(request, ballot)
        _refuse_if_ineligible(request, ballot)
    except ApprovalError as refused:
        return refused
    return None


def _refuse_if_closed(request: ApprovalRequest, ballot: _Ballot) -> None:
    if request.final:
        raise RequestClosed(
            f"{request.id} is already {request.status.value} ({request.status_reason}); votes are closed",
            request_id=request.id,
            approver=ballot.approver.id,
        )


def _refuse_if_one_click(request: ApprovalRequest, ballot: _Ballot) -> None:
    """A step-up approval (or edit) needs a signed-in channel; a rejection may come from anywhere."""
    if ballot.step_up and ballot.channel not in SIGNED_IN_CHANNELS:
        raise StepUpRequired(
            f"{request.id} must be approved signed in on the review page (step-up), "
            f"not from {ballot.channel}",
            request_id=request.id,
            approver=ballot.approver.id,
        )


def _refuse_if_changed(request: ApprovalRequest, ballot: _Ballot) -> None:
    if ballot.seen_digest is not None and ballot.seen_digest != request.args_digest:
        raise ArgumentsChanged(
            f"the arguments of {request.id} changed since they were shown (an edit: now "
            f"{request.args_digest[:12]}…, shown {ballot.seen_digest[:12]}…); "
            "look at them again before voting",
            request_id=request.id,
            approver=ballot.approver.id,
        )


def _refuse_if_ineligible(request: ApprovalRequest, ballot: _Ballot) -> None:
    who = ballot.approver.id
    fields = {"request_id": request.id, "approver": who}
    if who == request.requester:
        raise SelfApproval(f"{who} requested this call and cannot approve or reject it", **fields)
    if _has_voted(request, who, request.args_digest):
        raise AlreadyVoted(f"{who} already voted on {request.id} for these arguments", **fields)
    if not ballot.approve and not (ballot.reason or "").strip():
        raise ReasonRequired(f"rejecting {request.id} needs a reason; it is sent back to the agent", **fields)
    if not ballot.approve and not _holds_required_role(request, ballot.approver):
        raise NotEntitled(f"{who} {_roles_text(ballot.approver)} holds none of the required roles", **fields)
    if ballot.approve and request.veto_window:
        if not _holds_required_role(request, ballot.approver):
            raise NotEntitled(f"{who} {_roles_text(ballot.approver)} may not end this veto window", **fields)
    elif ballot.approve:
        check = _check(request.requirements, request.counted_votes, request.requester)
        if not _adds_progress(request, check, ballot.approver):
            needed = f"holds none of the still-needed roles: {check.explanation}"
            raise NotEntitled(f"{who} {_roles_text(ballot.approver)} {needed}", **fields)


def _adds_progress(request: ApprovalRequest, before: ApprovalCheck, approver: Actor) -> bool:
    """True if the vote fills one more slot: the maximum matching grows with it."""
    votes = [*_voters(request.counted_votes), (approver.id, approver.roles)]
    after = approval_satisfied(request.requirements, votes, request.requester)
    return len(after.assignments) > len(before.assignments)


def _approved(request: ApprovalRequest, ballot: _Ballot, now: datetime) -> tuple[ApprovalRequest, Vote]:
    cast = _vote(ballot, request.args_digest, now)
    if request.veto_window:
        reason = f"approved by {cast.approver} before its veto window ended"
        return _advance(request, cast, ApprovalStatus.APPROVED, reason, now), cast
    counted = (*request.counted_votes, cast)
    check = _check(request.requirements, counted, request.requester)
    status = ApprovalStatus.APPROVED if check.satisfied else ApprovalStatus.PENDING
    return _advance(request, cast, status, check.explanation, now), cast


def _rejected(request: ApprovalRequest, ballot: _Ballot, now: datetime) -> tuple[ApprovalRequest, Vote]:
    cast = _vote(ballot, request.args_digest, now)
    verb = "vetoed" if request.veto_window else "rejected"
    reason = f"{verb} by {cast.approver}: {(ballot.reason or '').strip()}"
    return _advance(request, cast, ApprovalStatus.REJECTED, reason, now), cast


def _edited(
    request: ApprovalRequest, ballot: _Ballot, edited_args: Mapping[str, Any], now: datetime
) -> tuple[ApprovalRequest, Vote]:
    args = _json_copy(edited_args)
    digest = args_digest(args)
    who = ballot.approver.id
    if _has_voted(request, who, digest):
        raise AlreadyVoted(
            f"{who} already voted on {request.id} for these arguments", request_id=request.id, approver=who
        )
    assert ballot.redecide is not None  # _check_ballot
    decision = ballot.redecide(args)
    _check_redecision(decision, request.tool, digest)
    cast = _vote(ballot, digest, now, edited=True)
    status, reason = _edit_verdict(request, decision, cast)
    rebound = replace(
        request,
        args=args,
        args_digest=digest,
        requirements=decision.approvals,
        reasons=decision.reasons,
        rule_ids=decision.rule_ids,
        exceeded_limits=decision.exceeded_limits,
        notify=decision.notify,
        policy_version=decision.policy_version,
    )
    return _advance(rebound, cast, status, reason, now), cast


def _edit_verdict(request: ApprovalRequest, decision: Decision, cast: Vote) -> tuple[ApprovalStatus, str]:
    if decision.tier is Tier.DENY:
        return ApprovalStatus.REJECTED, "the edited call is denied by policy: " + "; ".join(decision.reasons)
    if decision.tier is not Tier.APPROVE:
        note = f"the edited call needs no approval (policy tier {decision.tier.value})"
        return ApprovalStatus.APPROVED, f"edited by {cast.approver}; {note}"
    # Approvals of earlier arguments do not count: they approved something else.
    counted = [vote for vote in request.votes if vote.approve and vote.args_digest == cast.args_digest]
    check = _check(decision.approvals, [*counted, cast], request.requester)
    status = ApprovalStatus.APPROVED if check.satisfied else ApprovalStatus.PENDING
    return status, f"edited by {cast.approver}; {check.explanation}"


def _check_redecision(decision: Decision, tool: str, digest: str) -> None:
    if decision.tool != tool:
        raise ValueError(f"redecide returned a decision for {decision.tool!r}, not {tool!r}")
    if decision.args_digest != digest:
        raise ValueError(
            "redecide returned a decision for other arguments than the edited ones; "
            "normalise edited arguments before voting so that what is approved is what runs"
        )


def _advance(
    request: ApprovalRequest, cast: Vote, status: ApprovalStatus, reason: str, now: datetime
) -> ApprovalRequest:
    return replace(
        request,
        votes=(*request.votes, cast),
        status=status,
        status_reason=reason,
        decided_at=now if status is not ApprovalStatus.PENDING else None,
        version=request.version + 1,
    )


def _expired(request: ApprovalRequest, now: datetime) -> ApprovalRequest:
    lifetime = _duration_text(request.expires_at - request.created_at)
    if request.veto_window:  # nobody vetoed in time: the call goes ahead
        return replace(
            request,
            status=ApprovalStatus.APPROVED,
            status_reason=f"its veto window of {lifetime} ended without a veto",
            decided_at=now,
            version=request.version + 1,
        )
    return replace(
        request,
        status=ApprovalStatus.EXPIRED,
        status_reason=f"expired after {lifetime} without approval",
        decided_at=now,
        version=request.version + 1,
    )


def _due(request: ApprovalRequest, now: datetime) -> bool:
    return request.status is ApprovalStatus.PENDING and now >= request.expires_at


def _has_voted(request: ApprovalRequest, approver: str, digest: str) -> bool:
    return any(vote.approver == approver and vote.args_digest == digest for vote in request.votes)


def _holds_required_role(request: ApprovalRequest, approver: Actor) -> bool:
    return any(not approver.roles.isdisjoint(requirement.roles) for requirement in request.requirements)


def _check(
    requirements: Sequence[ApprovalRequirement], counted: Sequence[Vote], requester: str
) -> ApprovalCheck:
    return approval_satisfied(requirements, _voters(counted), requester)


def _voters(votes: Sequence[Vote]) -> list[tuple[str, frozenset[str]]]:
    return [(vote.approver, frozenset(vote.roles)) for vote in votes]


def _vote(ballot: _Ballot, digest: str, now: datetime, *, edited: bool = False) -> Vote:
    return Vote(
        approver=ballot.approver.id,
        roles=tuple(sorted(ballot.approver.roles)),
        approve=ballot.approve,
        at=now,
        channel=ballot.channel,
        comment=ballot.comment,
        reason=ballot.reason,
        args_digest=digest,
        edited=edited,
    )


def _roles_text(approver: Actor) -> str:
    return f"(roles: {', '.join(sorted(approver.roles)) or 'none'})"


def _new_request(
    *,
    thread_id: str,
    tool_call_id: str,
    tool: str,
    args: Mapping[str, Any],
    decision: Decision,
    requester: str,
    channel: str,
    now: datetime,
    ttl: timedelta,
    stage: str = "plan",
) -> ApprovalRequest:
    stored = _json_copy(args)
    vetoable = decision.tier is Tier.NOTIFY and decision.veto is not None
    if not vetoable and (decision.tier is not Tier.APPROVE or not decision.approvals):
        raise ValueError(
            f"only an approve decision with approvers needs a request, got {decision.tier.value}"
        )
    if decision.tool != tool or decision.args_digest != args_digest(stored):
        raise ValueError(f"the decision given is not the decision on this {tool!r} call and its arguments")
    if vetoable:
        requirements, status_reason, expires_at = _veto_window(decision, now)
    else:
        if ttl <= timedelta(0):
            raise ValueError(f"ttl must be positive, got {ttl}")
        requirements = decision.approvals
        status_reason = approval_satisfied(decision.approvals, [], requester).explanation
        expires_at = now + ttl
    return ApprovalRequest(
        id="",
        thread_id=thread_id,
        tool_call_id=tool_call_id,
        tool=tool,
        args=stored,
        args_digest=decision.args_digest,
        requirements=requirements,
        requester=requester,
        channel=channel,
        reasons=decision.reasons,
        rule_ids=decision.rule_ids,
        exceeded_limits=decision.exceeded_limits,
        notify=decision.notify,
        policy_version=decision.policy_version,
        status=ApprovalStatus.PENDING,
        status_reason=status_reason,
        created_at=now,
        expires_at=expires_at,
        decided_at=None,
        version=1,
        stage=stage,
        proposed_digest=decision.args_digest,
    )


def _veto_window(decision: Decision, now: datetime) -> tuple[tuple[ApprovalRequirement, ...], str, datetime]:
    """What a notify call waits on during its veto window (see ``ApprovalRequest.veto_window``): a
    requirement nobody needs to meet, the status it shows, and when the window ends."""
    veto = decision.veto
    assert veto is not None
    ends = now + timedelta(seconds=veto.seconds)
    holding = " or ".join(veto.roles)
    status = f"veto window: runs at {ends.isoformat()} unless someone holding {holding} vetoes it"
    return (ApprovalRequirement(roles=veto.roles, count=0, rule_id=veto.rule_id),), status, ends


def _duration_text(length: timedelta) -> str:
    seconds = int(length.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"
