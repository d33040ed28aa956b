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
already voted on these arguments, holds none of the roles still needed, or was shown other arguments
than the request now holds (``seen_digest``: an edit came between), or approves from a one-click
channel what the policy asks to be approved signed in (``step_up``). Requirements combine as in
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
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select, tuple_

from governance.approvals._events import _final_payload, _refusal_payload, _requested_payload, _vote_payload
from governance.approvals._nudges import Nudge, _insert_nudge, _read_nudges, approval_nudges, granted_to
from governance.approvals._rows import (
    _concerning,
    _consume,
    _insert_request,
    _normalise_id,
    _read_requests,
    _request_id,
    _write,
    approval_requests,
    approval_votes,
)
from governance.approvals._rules import _Ballot, _cast, _check_ballot, _due, _expired, _new_request, _refusal
from governance.approvals._values import (
    SIGNED_IN_CHANNELS,
    AlreadyVoted,
    ApprovalConflict,
    ApprovalError,
    ApprovalOutcome,
    ApprovalRequest,
    ApprovalStatus,
    ApprovalUnusable,
    ArgumentsChanged,
    NotEntitled,
    ReasonRequired,
    RequestClosed,
    RequestKeyTaken,
    SelfApproval,
    StepUpRequired,
    UnknownRequest,
    Vote,
    _iso,
    _utc,
)
from governance.audit import AuditLog, EventKind, NewEvent
from governance.decision import Actor, Decision
from governance.store import create_tables

__all__ = [
    "DEFAULT_TTL",
    "SIGNED_IN_CHANNELS",
    "AlreadyVoted",
    "ApprovalConflict",
    "ApprovalError",
    "ApprovalOutcome",
    "ApprovalRequest",
    "ApprovalStatus",
    "ApprovalStore",
    "ApprovalUnusable",
    "ArgumentsChanged",
    "NotEntitled",
    "Nudge",
    "ReasonRequired",
    "RequestClosed",
    "RequestKeyTaken",
    "SelfApproval",
    "StepUpRequired",
    "UnknownRequest",
    "Vote",
    "approval_nudges",
    "approval_requests",
    "approval_votes",
    "granted_to",
    "vote_refusal",
]

DEFAULT_TTL = timedelta(hours=24)
_ID_ATTEMPTS = 16
_WRITE_ATTEMPTS = 50


class ApprovalStore:
    """Approval requests and votes in ``engine`` (tables created if missing), audited to ``audit``.

    ``ttl``: how long a request waits for its votes before it expires (unless a call names its own).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        audit: AuditLog,
        clock: Callable[[], datetime],
        ttl: timedelta = DEFAULT_TTL,
    ) -> None:
        if ttl <= timedelta(0):
            raise ValueError(f"ttl must be positive, got {ttl}")
        self._engine = engine
        self._audit = audit
        self._clock = clock
        self._ttl = ttl
        create_tables(engine, approval_requests, approval_votes, approval_nudges)

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
        stage: str = "plan",
        ttl: timedelta | None = None,
    ) -> ApprovalRequest:
        """The request for this tool call at this ``stage``, created (and audited) on the first call only.

        A request is keyed by (thread, tool call id, stage); ``stage`` is set by the caller, never by the
        model, so a model-chosen call id cannot reach a request of another stage. LangGraph re-runs an
        interrupted node from its top, so a repeated call returns the stored request as it now is
        (possibly edited or final) — but only for the same tool and the same proposed arguments:
        anything else raises :class:`RequestKeyTaken`, so an approval never moves to another proposal.
        """
        draft = _new_request(
            thread_id=thread_id,
            tool_call_id=tool_call_id,
            tool=tool,
            args=args,
            decision=decision,
            requester=requester,
            channel=channel,
            now=self._now(),
            ttl=self._ttl if ttl is None else ttl,
            stage=stage,
        )
        existing = self._find_call(thread_id, tool_call_id, stage)
        if existing is not None:
            return self._same_proposal(existing, draft)
        for salt in range(_ID_ATTEMPTS):
            candidate = replace(draft, id=_request_id(thread_id, tool_call_id, stage, salt))
            if _insert_request(self._engine, candidate):
                events = [
                    NewEvent(
                        kind=EventKind.APPROVAL_REQUESTED,
                        payload=_requested_payload(candidate),
                        thread_id=thread_id,
                        actor=requester,
                    )
                ]
                if candidate.veto_window:
                    window = {"request_id": candidate.id, "ends_at": _iso(candidate.expires_at)}
                    payload = {**window, "tool": tool, "veto_by": list(candidate.requirements[0].roles)}
                    kind = EventKind.VETO_WINDOW
                    events.append(NewEvent(kind=kind, payload=payload, thread_id=thread_id, actor=requester))
                self._audit.append_many(events)
                return candidate
            existing = self._find_call(thread_id, tool_call_id, stage)
            if existing is not None:  # a concurrent run of the same node created it first
                return self._same_proposal(existing, draft)
        raise RuntimeError(f"no free approval id for thread {thread_id!r}, tool call {tool_call_id!r}")

    def consume(self, request_id: str, *, execution_key: str, args_digest: str) -> ApprovalRequest:
        """Use the approval for the one execution ``execution_key`` of ``args_digest``; return it.

        An approval authorises exactly one execution of exactly one digest. Asking again for the same
        execution (a resume after a crash) is fine; any other use raises :class:`ApprovalUnusable`.
        """
        request = self.get(request_id)
        if request is None:
            raise ApprovalUnusable(f"no approval request {request_id!r}", request_id=request_id)
        if not _consume(self._engine, request.id, execution_key, args_digest):
            current = self.get(request.id) or request
            raise ApprovalUnusable(_unusable(current, execution_key, args_digest), request_id=request.id)
        return replace(request, consumed_by=execution_key)

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
        seen_digest: str | None = None,
        step_up: bool = False,
    ) -> ApprovalRequest:
        """Cast a vote; return the request after it, or raise (and audit) an :class:`ApprovalError`.

        ``seen_digest``: the args digest of the arguments the voter was shown. When the request holds
        other arguments by the time the vote is written (another approver's edit), the vote is refused
        with :class:`ArgumentsChanged`, so nobody approves arguments they did not see.

        ``step_up``: the policy asks for this approval to be given signed in; an approval (or edit) from
        a channel outside :data:`SIGNED_IN_CHANNELS` is refused with :class:`StepUpRequired`.

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
            seen_digest=seen_digest,
            step_up=step_up,
        )
        _check_ballot(ballot)
        granted = self.granted_roles(_normalise_id(request_id), approver.id)
        if granted - approver.roles:  # escalated to them with the right to approve
            ballot = replace(ballot, approver=Actor(id=approver.id, roles=approver.roles | granted))
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
            if _write(self._engine, request, after, cast):
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

    def nudge(self, nudge: Nudge) -> bool:
        """Record a step taken on a request (announced, reminded, escalated); False if it was already
        taken (by this or another worker): only the one who recorded it tells people."""
        return _insert_nudge(self._engine, nudge)

    def nudges(self, request_ids: builtins.list[str]) -> dict[str, builtins.list[Nudge]]:
        """The steps already taken on each request, in order."""
        return _read_nudges(self._engine, request_ids)

    def granted_roles(self, request_id: str, person: str) -> frozenset[str]:
        """Roles ``person`` may approve ``request_id`` with because it was escalated to them."""
        return granted_to(_read_nudges(self._engine, [request_id]).get(request_id, []), person)

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
        self,
        *,
        status: ApprovalStatus | str | None = None,
        thread_id: str | None = None,
        requester: str | None = None,
        tool: str | None = None,
        approvable_by: Actor | None = None,
        visible_to: Actor | None = None,
        limit: int | None = None,
        after: str | None = None,
    ) -> builtins.list[ApprovalRequest]:
        """Requests oldest first, optionally filtered; due requests are expired first.

        ``approvable_by`` keeps requests of others a requirement of which names one of the person's
        roles, or that were escalated to them; ``visible_to`` keeps those, the person's own requests and
        the ones they voted on. Both are read in SQL and keep a little more than who may act or see
        (a vote already cast, a role named only as a rule id, an escalation that only informed): the
        caller applies its access rules to what is returned, without reading requests that concern
        someone else.

        ``limit`` and ``after`` page through them: ``after`` is the id of the last request of the
        previous page (``UnknownRequest`` if there is no such request).
        """
        self.expire_due()
        columns = approval_requests.c
        conditions = [
            _concerning(person, own=own)
            for person, own in ((approvable_by, False), (visible_to, True))
            if person is not None
        ]
        if status is not None:
            conditions.append(columns.status == ApprovalStatus(status).value)
        for column, value in (
            (columns.thread_id, thread_id),
            (columns.requester, requester),
            (columns.tool, tool),
        ):
            if value is not None:
                conditions.append(column == value)
        if after is not None:
            conditions.append(tuple_(columns.created_at, columns.id) > self._position(after))
        return _read_requests(self._engine, *conditions, limit=limit)

    def _position(self, request_id: str) -> tuple[str, str]:
        row_id = _normalise_id(request_id)
        with self._engine.connect() as conn:
            created = conn.execute(
                select(approval_requests.c.created_at).where(approval_requests.c.id == row_id)
            ).scalar()
        if created is None:
            raise UnknownRequest(f"no approval request {request_id!r} to page after", request_id=request_id)
        return created, row_id

    def backlog(self) -> tuple[int, datetime | None]:
        """How many requests wait (pending, not yet due to expire) and when the oldest was created.

        One aggregate query that writes nothing (no expiry), cheap enough for every metrics scrape.
        """
        columns = approval_requests.c
        query = select(func.count(), func.min(columns.created_at)).where(
            columns.status == ApprovalStatus.PENDING.value, columns.expires_at > _iso(self._now())
        )
        with self._engine.connect() as conn:
            count, oldest = conn.execute(query).one()
        return int(count), None if oldest is None else datetime.fromisoformat(oldest)

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
        if not _write(self._engine, request, after, None):
            return False
        self._audit.append(EventKind.APPROVAL_FINAL, _final_payload(after), thread_id=after.thread_id)
        return True

    def _load(self, request_id: str) -> ApprovalRequest | None:
        return self._load_where(approval_requests.c.id == request_id)

    def _find_call(self, thread_id: str, tool_call_id: str, stage: str) -> ApprovalRequest | None:
        return self._load_where(
            approval_requests.c.thread_id == thread_id,
            approval_requests.c.tool_call_id == tool_call_id,
            approval_requests.c.stage == stage,
        )

    def _same_proposal(self, existing: ApprovalRequest, draft: ApprovalRequest) -> ApprovalRequest:
        if existing.tool != draft.tool or existing.proposed_digest != draft.proposed_digest:
            raise RequestKeyTaken(
                f"approval request {existing.id} of thread {existing.thread_id!r} is keyed to tool call "
                f"{existing.tool_call_id!r} ({existing.stage}) for other arguments; it cannot serve this call"
            )
        return self._settle_expiry(existing, self._now())

    def _load_where(self, *conditions: Any) -> ApprovalRequest | None:
        return next(iter(_read_requests(self._engine, *conditions)), None)

    def _audit_vote(self, before: ApprovalRequest, after: ApprovalRequest, cast: Vote) -> None:
        vote = _vote_payload(before, after, cast)
        events = [
            NewEvent(
                kind=EventKind.APPROVAL_VOTE, payload=vote, thread_id=after.thread_id, actor=cast.approver
            )
        ]
        if after.final:
            final = _final_payload(after)
            events.append(NewEvent(kind=EventKind.APPROVAL_FINAL, payload=final, thread_id=after.thread_id))
        if before.veto_window and not cast.approve:
            veto = {"request_id": after.id, "reason": cast.reason, "tool": after.tool}
            events.append(
                NewEvent(kind=EventKind.VETO, payload=veto, thread_id=after.thread_id, actor=cast.approver)
            )
        self._audit.append_many(events)

    def _audit_refusal(
        self, refusal: ApprovalError, ballot: _Ballot, request: ApprovalRequest | None
    ) -> None:
        payload = _refusal_payload(refusal, ballot)
        thread_id = None if request is None else request.thread_id
        self._audit.append(EventKind.APPROVAL_VOTE, payload, thread_id=thread_id, actor=ballot.approver.id)


def _unusable(request: ApprovalRequest, execution_key: str, args_digest: str) -> str:
    if request.status is not ApprovalStatus.APPROVED:
        return f"approval {request.id} is {request.status.value}, not approved"
    if request.args_digest != args_digest:
        return f"approval {request.id} is for other arguments (digest {request.args_digest[:12]}…)"
    return f"approval {request.id} was already used by execution {request.consumed_by}; it authorises one"


def vote_refusal(request: ApprovalRequest, approver: Actor, *, approve: bool) -> ApprovalError | None:
    """The refusal an approval (``approve``) or a rejection by ``approver`` would get now, by the rules a
    vote is checked with; None when it would count. Front ends offer only the votes that would count."""
    return _refusal(request, approver, approve=approve)
