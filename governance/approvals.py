"""Approval requests: durable, idempotent per tool call, bound to an args digest, settled by votes.

Life of a request::

    pending ──quorum met─────────────────────► approved
       │  ├──reject (reason required)─────────► rejected
       │  ├──edit; policy denies the edit ────► rejected
       │  ├──edit; edit needs no approval ────► approved (with the edited args)
       │  └──edit; needs more than the editor ► pending (new args; earlier votes no longer count)
       └──expires_at passed──────────────────► expired (counts as a rejection)

A vote is refused with an :class:`ApprovalError` subclass (and audited as ``approval_vote`` with
``accepted: false``) when the request is unknown or no longer pending, the voter is the requester,
already voted on these arguments, or holds none of the roles still needed. Requirements combine as in
:func:`governance.decision.approval_satisfied`: one person fills one slot only. A rejection needs a
reason and may come from anyone holding a role of any requirement (a qualified approver can veto).

Votes are bound to the args digest they were cast on; only approvals of the current digest count, so
an edit discards the approvals of the arguments it replaced.

Concurrency: every change is one transaction ``UPDATE ... WHERE id = :id AND version = :seen`` plus
the vote row; a writer that lost the race re-reads and re-checks, so approvers racing on the last vote
(in any number of processes) produce one final state and one ``approval_final`` event. Audit events
are appended after the commit (:class:`AuditLog` owns its transaction): a crash in between can lose an
event, but an event is never written for a change that did not happen.
"""

from __future__ import annotations

import builtins
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Row,
    String,
    Table,
    Text,
    UniqueConstraint,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.schema import CreateIndex, CreateTable

from governance.audit import AuditLog, EventKind, NewEvent
from governance.decision import (
    Actor,
    ApprovalCheck,
    ApprovalRequirement,
    Decision,
    Tier,
    approval_satisfied,
    args_digest,
)

DEFAULT_TTL = timedelta(hours=24)
_PREFIX = "APR-"
_ID_ATTEMPTS = 16
_WRITE_ATTEMPTS = 50

_metadata = MetaData()

approval_requests = Table(
    "approval_requests",
    _metadata,
    Column("id", String(32), primary_key=True),
    Column("thread_id", String(255), nullable=False),
    Column("tool_call_id", String(255), nullable=False),
    Column("tool", String(128), nullable=False),
    Column("args", Text, nullable=False),
    Column("args_digest", String(64), nullable=False),
    Column("requirements", Text, nullable=False),
    Column("requester", String(255), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("reasons", Text, nullable=False),
    Column("rule_ids", Text, nullable=False),
    Column("notify", Text, nullable=False),
    Column("policy_version", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("status_reason", Text, nullable=False),
    # ISO-8601 UTC text of fixed width: compares correctly as text on every engine.
    Column("created_at", String(40), nullable=False),
    Column("expires_at", String(40), nullable=False),
    Column("decided_at", String(40), nullable=True),
    Column("version", Integer, nullable=False),
    UniqueConstraint("thread_id", "tool_call_id", name="uq_approval_requests_call"),
    Index("ix_approval_requests_due", "status", "expires_at"),
    Index("ix_approval_requests_thread", "thread_id"),
)

approval_votes = Table(
    "approval_votes",
    _metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(32), ForeignKey("approval_requests.id"), nullable=False),
    Column("approver", String(255), nullable=False),
    Column("roles", Text, nullable=False),
    Column("approve", Boolean, nullable=False),
    Column("at", String(40), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("comment", Text, nullable=True),
    Column("reason", Text, nullable=True),
    Column("args_digest", String(64), nullable=False),
    Column("edited", Boolean, nullable=False),
    # Second line of defence behind the version check: one vote per person per set of arguments.
    UniqueConstraint("request_id", "approver", "args_digest", name="uq_approval_votes_once"),
    Index("ix_approval_votes_request", "request_id"),
)

_JOINED = select(
    approval_requests, *(column.label(f"vote_{column.name}") for column in approval_votes.c)
).select_from(
    approval_requests.outerjoin(approval_votes, approval_votes.c.request_id == approval_requests.c.id)
)

_MUTABLE = (
    "args",
    "args_digest",
    "requirements",
    "reasons",
    "rule_ids",
    "notify",
    "policy_version",
    "status",
    "status_reason",
    "decided_at",
    "version",
)


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


class ApprovalConflict(ApprovalError):
    """Too many concurrent changes to one request; trying again is safe."""


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

    @property
    def final(self) -> bool:
        return self.status is not ApprovalStatus.PENDING

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


@dataclass(frozen=True, kw_only=True, slots=True)
class _Ballot:
    approver: Actor
    approve: bool
    comment: str | None
    reason: str | None
    channel: str
    edited_args: Mapping[str, Any] | None
    redecide: Callable[[Mapping[str, Any]], Decision] | None


class ApprovalStore:
    """Approval requests and votes in ``engine`` (tables created if missing), audited to ``audit``."""

    def __init__(self, engine: Engine, *, audit: AuditLog, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self._audit = audit
        self._clock = clock
        _create_schema(engine)

    def request(
        self,
        *,
        thread_id: str,
        tool_call_id: str,
        tool: str,
        args: Mapping[str, Any],
        decision: Decision,
        requester: str,
        channel: str,
        ttl: timedelta = DEFAULT_TTL,
    ) -> ApprovalRequest:
        """The request for this tool call, created (and audited) on the first call only.

        LangGraph re-runs an interrupted node from its top, so a repeated call returns the stored request
        as it now is (possibly edited or final) and ignores the arguments given.
        """
        existing = self._find_call(thread_id, tool_call_id)
        if existing is not None:
            return self._settle_expiry(existing, self._now())
        draft = _new_request(
            thread_id=thread_id,
            tool_call_id=tool_call_id,
            tool=tool,
            args=args,
            decision=decision,
            requester=requester,
            channel=channel,
            now=self._now(),
            ttl=ttl,
        )
        for salt in range(_ID_ATTEMPTS):
            candidate = replace(draft, id=_request_id(thread_id, tool_call_id, salt))
            if self._insert(candidate):
                self._audit.append(
                    EventKind.APPROVAL_REQUESTED,
                    _requested_payload(candidate),
                    thread_id=thread_id,
                    actor=requester,
                )
                return candidate
            existing = self._find_call(thread_id, tool_call_id)
            if existing is not None:  # a concurrent run of the same node created it first
                return self._settle_expiry(existing, self._now())
        raise RuntimeError(f"no free approval id for thread {thread_id!r}, tool call {tool_call_id!r}")

    def vote(
        self,
        request_id: str,
        *,
        approver: Actor,
        approve: bool,
        comment: str | None = None,
        reason: str | None = None,
        channel: str,
        edited_args: Mapping[str, Any] | None = None,
        redecide: Callable[[Mapping[str, Any]], Decision] | None = None,
    ) -> ApprovalRequest:
        """Cast a vote; return the request after it, or raise (and audit) an :class:`ApprovalError`.

        Edit-and-approve: pass ``edited_args`` and ``redecide``, which must decide the edited call as the
        requester's call (same actor and context as the original decision) and return the Decision for
        exactly these arguments. Its requirements, reasons and policy version replace the request's.
        """
        ballot = _Ballot(
            approver=approver,
            approve=approve,
            comment=comment,
            reason=reason,
            channel=channel,
            edited_args=edited_args,
            redecide=redecide,
        )
        _check_ballot(ballot)
        for _ in range(_WRITE_ATTEMPTS):
            now = self._now()  # one moment for the expiry check and the vote
            request = self._current(_normalise_id(request_id), now)
            try:
                if request is None:
                    raise UnknownRequest(
                        f"no approval request {request_id!r}", request_id=request_id, approver=approver.id
                    )
                after, cast = _cast(request, ballot, now)
            except ApprovalError as refusal:
                self._audit_refusal(refusal, ballot, request)
                raise
            if self._commit(request, after, cast):
                self._audit_vote(request, after, cast)
                return after
        raise ApprovalConflict(
            f"{request_id} changed too often while voting; try again",
            request_id=request_id,
            approver=approver.id,
        )

    def expire_due(self, now: datetime | None = None) -> builtins.list[ApprovalRequest]:
        """Expire every pending request whose ``expires_at`` has passed; return those this call expired."""
        moment = self._now() if now is None else _utc(now)
        query = select(approval_requests.c.id).where(
            approval_requests.c.status == ApprovalStatus.PENDING.value,
            approval_requests.c.expires_at <= _iso(moment),
        )
        with self._engine.connect() as conn:
            due = [row.id for row in conn.execute(query)]
        expired = []
        for request_id in due:
            request = self._load(request_id)
            if request is not None and _due(request, moment) and self._expire(request, moment):
                expired.append(_expired(request, moment))
        return expired

    def get(self, request_id: str) -> ApprovalRequest | None:
        """The request (expired first if it is due), or None; ids are case-insensitive, ``APR-`` optional."""
        return self._current(_normalise_id(request_id), self._now())

    def outcome(self, request_id: str) -> ApprovalOutcome:
        """Status, reason and the arguments that would run; :class:`UnknownRequest` for an unknown id."""
        request = self.get(request_id)
        if request is None:
            raise UnknownRequest(f"no approval request {request_id!r}", request_id=request_id)
        return ApprovalOutcome(
            request_id=request.id,
            tool_call_id=request.tool_call_id,
            tool=request.tool,
            status=request.status,
            reason=request.status_reason,
            args=request.args,
            args_digest=request.args_digest,
        )

    def list(
        self, *, status: ApprovalStatus | str | None = None, thread_id: str | None = None
    ) -> builtins.list[ApprovalRequest]:
        """Requests oldest first, optionally filtered; due requests are expired first."""
        self.expire_due()
        conditions = []
        if status is not None:
            conditions.append(approval_requests.c.status == ApprovalStatus(status).value)
        if thread_id is not None:
            conditions.append(approval_requests.c.thread_id == thread_id)
        return self._read(*conditions)

    def for_thread(self, thread_id: str) -> builtins.list[ApprovalRequest]:
        return self.list(thread_id=thread_id)

    def _now(self) -> datetime:
        return _utc(self._clock())

    def _current(self, request_id: str, now: datetime) -> ApprovalRequest | None:
        """The stored request with a due expiry applied; no vote can land after ``expires_at``."""
        request = self._load(request_id)
        return None if request is None else self._settle_expiry(request, now)

    def _settle_expiry(self, request: ApprovalRequest, now: datetime) -> ApprovalRequest:
        for _ in range(_WRITE_ATTEMPTS):
            if not _due(request, now):
                return request
            if self._expire(request, now):
                return _expired(request, now)
            reloaded = self._load(request.id)
            assert reloaded is not None  # requests are never deleted
            request = reloaded
        raise ApprovalConflict(f"{request.id} changed too often while expiring it", request_id=request.id)

    def _expire(self, request: ApprovalRequest, now: datetime) -> bool:
        after = _expired(request, now)
        if not self._commit(request, after, None):
            return False
        self._audit.append(EventKind.APPROVAL_FINAL, _final_payload(after), thread_id=after.thread_id)
        return True

    def _commit(self, before: ApprovalRequest, after: ApprovalRequest, cast: Vote | None) -> bool:
        """Write ``after`` only if nobody changed the request since ``before`` was read."""
        row = _request_row(after)
        guard = update(approval_requests).where(
            approval_requests.c.id == before.id, approval_requests.c.version == before.version
        )
        with self._engine.begin() as conn:
            if conn.execute(guard.values({name: row[name] for name in _MUTABLE})).rowcount != 1:
                return False
            if cast is not None:
                conn.execute(insert(approval_votes).values(_vote_row(after.id, cast)))
        return True

    def _insert(self, request: ApprovalRequest) -> bool:
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(approval_requests).values(_request_row(request)))
        except IntegrityError:
            return False
        return True

    def _load(self, request_id: str) -> ApprovalRequest | None:
        return self._load_where(approval_requests.c.id == request_id)

    def _find_call(self, thread_id: str, tool_call_id: str) -> ApprovalRequest | None:
        return self._load_where(
            approval_requests.c.thread_id == thread_id, approval_requests.c.tool_call_id == tool_call_id
        )

    def _load_where(self, *conditions: Any) -> ApprovalRequest | None:
        return next(iter(self._read(*conditions)), None)

    def _read(self, *conditions: Any) -> builtins.list[ApprovalRequest]:
        """Requests with their votes, oldest first, read in one statement.

        One statement is one snapshot on every engine, so a request row and its votes always agree
        (two queries could see a vote committed between them next to the row from before it).
        """
        order = (approval_requests.c.created_at, approval_requests.c.id, approval_votes.c.seq)
        with self._engine.connect() as conn:
            rows = conn.execute(_JOINED.where(*conditions).order_by(*order)).all()
        grouped: dict[str, tuple[Row[Any], builtins.list[Vote]]] = {}
        for row in rows:
            _, votes = grouped.setdefault(row.id, (row, []))
            if row.vote_seq is not None:
                votes.append(_vote_from_row(row))
        return [_request_from_row(row, votes) for row, votes in grouped.values()]

    def _audit_vote(self, before: ApprovalRequest, after: ApprovalRequest, cast: Vote) -> None:
        payload = {"request_id": after.id, "accepted": True, **cast.to_dict()}
        if cast.edited:
            payload |= {
                "args": json.loads(_canonical(after.args)),
                "replaced_args_digest": before.args_digest,
            }
        events = [
            NewEvent(
                kind=EventKind.APPROVAL_VOTE,
                payload=payload,
                thread_id=after.thread_id,
                actor=cast.approver,
            )
        ]
        if after.final:
            final = _final_payload(after)
            events.append(NewEvent(kind=EventKind.APPROVAL_FINAL, payload=final, thread_id=after.thread_id))
        self._audit.append_many(events)

    def _audit_refusal(
        self, refusal: ApprovalError, ballot: _Ballot, request: ApprovalRequest | None
    ) -> None:
        payload = {
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
        thread_id = None if request is None else request.thread_id
        self._audit.append(EventKind.APPROVAL_VOTE, payload, thread_id=thread_id, actor=ballot.approver.id)


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
    _refuse_if_ineligible(request, ballot)
    if not ballot.approve:
        return _rejected(request, ballot, now)
    if ballot.edited_args is not None:
        return _edited(request, ballot, ballot.edited_args, now)
    return _approved(request, ballot, now)


def _refuse_if_closed(request: ApprovalRequest, ballot: _Ballot) -> None:
    if request.final:
        raise RequestClosed(
            f"{request.id} is already {request.status.value} ({request.status_reason}); votes are closed",
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
    if ballot.approve:
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
    counted = (*request.counted_votes, cast)
    check = _check(request.requirements, counted, request.requester)
    status = ApprovalStatus.APPROVED if check.satisfied else ApprovalStatus.PENDING
    return _advance(request, cast, status, check.explanation, now), cast


def _rejected(request: ApprovalRequest, ballot: _Ballot, now: datetime) -> tuple[ApprovalRequest, Vote]:
    cast = _vote(ballot, request.args_digest, now)
    reason = f"rejected by {cast.approver}: {(ballot.reason or '').strip()}"
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
) -> ApprovalRequest:
    stored = _json_copy(args)
    if decision.tier is not Tier.APPROVE or not decision.approvals:
        raise ValueError(
            f"only an approve decision with approvers needs a request, got {decision.tier.value}"
        )
    if decision.tool != tool or decision.args_digest != args_digest(stored):
        raise ValueError(f"the decision given is not the decision on this {tool!r} call and its arguments")
    if ttl <= timedelta(0):
        raise ValueError(f"ttl must be positive, got {ttl}")
    return ApprovalRequest(
        id="",
        thread_id=thread_id,
        tool_call_id=tool_call_id,
        tool=tool,
        args=stored,
        args_digest=decision.args_digest,
        requirements=decision.approvals,
        requester=requester,
        channel=channel,
        reasons=decision.reasons,
        rule_ids=decision.rule_ids,
        notify=decision.notify,
        policy_version=decision.policy_version,
        status=ApprovalStatus.PENDING,
        status_reason=approval_satisfied(decision.approvals, [], requester).explanation,
        created_at=now,
        expires_at=now + ttl,
        decided_at=None,
        version=1,
    )


def _request_id(thread_id: str, tool_call_id: str, salt: int) -> str:
    """Short, stable, typable: ``APR-`` + 8 hex of the call's identity (salted only on a collision)."""
    identity = json.dumps([thread_id, tool_call_id, salt]).encode()
    return _PREFIX + hashlib.sha256(identity).hexdigest()[:8].upper()


def _normalise_id(request_id: str) -> str:
    text = request_id.strip().upper()
    return text if text.startswith(_PREFIX) else _PREFIX + text


def _requested_payload(request: ApprovalRequest) -> dict[str, Any]:
    return {
        "request_id": request.id,
        "tool_call_id": request.tool_call_id,
        "tool": request.tool,
        "args": json.loads(_canonical(request.args)),
        "args_digest": request.args_digest,
        "requirements": [requirement.to_dict() for requirement in request.requirements],
        "requester": request.requester,
        "channel": request.channel,
        "reasons": list(request.reasons),
        "rule_ids": list(request.rule_ids),
        "policy_version": request.policy_version,
        "expires_at": _iso(request.expires_at),
    }


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


def _request_row(request: ApprovalRequest) -> dict[str, Any]:
    return {
        "id": request.id,
        "thread_id": request.thread_id,
        "tool_call_id": request.tool_call_id,
        "tool": request.tool,
        "args": _canonical(request.args),
        "args_digest": request.args_digest,
        "requirements": _canonical([requirement.to_dict() for requirement in request.requirements]),
        "requester": request.requester,
        "channel": request.channel,
        "reasons": _canonical(list(request.reasons)),
        "rule_ids": _canonical(list(request.rule_ids)),
        "notify": _canonical(list(request.notify)),
        "policy_version": request.policy_version,
        "status": request.status.value,
        "status_reason": request.status_reason,
        "created_at": _iso(request.created_at),
        "expires_at": _iso(request.expires_at),
        "decided_at": None if request.decided_at is None else _iso(request.decided_at),
        "version": request.version,
    }


def _request_from_row(row: Row[Any], votes: Sequence[Vote]) -> ApprovalRequest:
    return ApprovalRequest(
        id=row.id,
        thread_id=row.thread_id,
        tool_call_id=row.tool_call_id,
        tool=row.tool,
        args=json.loads(row.args),
        args_digest=row.args_digest,
        requirements=tuple(_requirement(item) for item in json.loads(row.requirements)),
        requester=row.requester,
        channel=row.channel,
        reasons=tuple(json.loads(row.reasons)),
        rule_ids=tuple(json.loads(row.rule_ids)),
        notify=tuple(json.loads(row.notify)),
        policy_version=row.policy_version,
        status=ApprovalStatus(row.status),
        status_reason=row.status_reason,
        created_at=datetime.fromisoformat(row.created_at),
        expires_at=datetime.fromisoformat(row.expires_at),
        decided_at=None if row.decided_at is None else datetime.fromisoformat(row.decided_at),
        version=row.version,
        votes=tuple(votes),
    )


def _requirement(item: Mapping[str, Any]) -> ApprovalRequirement:
    return ApprovalRequirement(roles=tuple(item["roles"]), count=int(item["count"]), rule_id=item["rule_id"])


def _vote_row(request_id: str, vote: Vote) -> dict[str, Any]:
    return {**vote.to_dict(), "request_id": request_id, "roles": _canonical(list(vote.roles))}


def _vote_from_row(row: Row[Any]) -> Vote:
    """A vote from a row of :data:`_JOINED` (vote columns prefixed ``vote_``)."""
    return Vote(
        approver=row.vote_approver,
        roles=tuple(json.loads(row.vote_roles)),
        approve=bool(row.vote_approve),
        at=datetime.fromisoformat(row.vote_at),
        channel=row.vote_channel,
        comment=row.vote_comment,
        reason=row.vote_reason,
        args_digest=row.vote_args_digest,
        edited=bool(row.vote_edited),
    )


def _create_schema(engine: Engine) -> None:
    # IF NOT EXISTS: processes starting together must not race on a check-then-create.
    with engine.begin() as conn:
        for table in (approval_requests, approval_votes):
            conn.execute(CreateTable(table, if_not_exists=True))
            for index in table.indexes:
                conn.execute(CreateIndex(index, if_not_exists=True))


def _json_copy(args: Mapping[str, Any]) -> dict[str, Any]:
    """A plain-JSON copy of ``args``: what is stored, digested and later run."""
    copied: dict[str, Any] = json.loads(_canonical(args))
    return copied


def _canonical(value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"approval data must be plain JSON: {exc}") from exc


def _iso(moment: datetime) -> str:
    return _utc(moment).isoformat(timespec="microseconds")


def _utc(moment: datetime) -> datetime:
    if moment.utcoffset() is None:
        raise ValueError(f"approval times must be timezone-aware, got {moment.isoformat()}")
    return moment.astimezone(UTC)


def _duration_text(length: timedelta) -> str:
    seconds = int(length.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"
