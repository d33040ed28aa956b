"""Approvals: the queue as each person may see and act on it, one request with its context, and votes
(a layer of :class:`~agent.operations.Operations`, see :mod:`agent.operations.core`)."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from agent.operations import access
from agent.operations.core import metered
from agent.operations.trail import Trail
from agent.operations.views import ApprovalView, VoteOutcome
from governance.approvals import ApprovalRequest, ApprovalStatus, UnknownRequest, granted_to
from governance.audit import AuditEvent, EventKind
from governance.decision import Actor
from governance.work import RESUME

if TYPE_CHECKING:  # imported where used: reading the queue stays cheap
    from governance.decision import Decision
    from governance.directory import Person
    from governance.executions import ExecutionRecord


class Reviews(Trail):
    """The approval queue and votes."""

    def approvals(
        self,
        *,
        status: ApprovalStatus | str | None = ApprovalStatus.PENDING,
        requester: str | None = None,
        tool: str | None = None,
        actionable_by: str | None = None,
        visible_to: str | None = None,
        limit: int | None = None,
        after: str | None = None,
    ) -> builtins.list[ApprovalRequest]:
        """The queue, oldest first: ``limit`` requests after the request ``after`` (all without a limit).

        ``actionable_by``: only what that person may still vote on, escalations to them included;
        ``visible_to``: only what that person may see. The store reads only requests that may concern
        them, in batches, and the rules of :mod:`agent.operations.access` decide: a page costs about one
        query however long the queue is, also for someone it holds nothing for.
        """
        acting = None if actionable_by is None else self.person(actionable_by)
        seeing = None if visible_to is None else self.person(visible_to)
        if seeing is not None and access.is_auditor(seeing):
            seeing = None  # auditors see every request

        def read(limit: int | None, after: str | None) -> builtins.list[ApprovalRequest]:
            return self.stores.approvals.list(
                status=status,
                requester=requester,
                tool=tool,
                approvable_by=None if acting is None else _actor(acting),
                visible_to=None if seeing is None else _actor(seeing),
                limit=limit,
                after=after,
            )

        def keep(page: builtins.list[ApprovalRequest]) -> builtins.list[ApprovalRequest]:
            if acting is not None:
                page = self.actionable(acting.id, page)
            return page if seeing is None else self.visible(seeing.id, page)

        if limit is None:
            return keep(read(None, after))
        found: builtins.list[ApprovalRequest] = []
        batch = max(2 * limit, 100)
        while True:
            page = read(batch, after)
            found += keep(page)
            if len(found) >= limit or len(page) < batch:
                return found[:limit]
            after = page[-1].id

    def actionable(
        self, person_id: str, requests: Sequence[ApprovalRequest]
    ) -> builtins.list[ApprovalRequest]:
        """Those of ``requests`` the person's approval would count for now (a slot still open that a role of
        theirs fills), escalations to them included (one read)."""
        return self._allowed(person_id, requests, access.may_act)

    def rejectable(
        self, person_id: str, requests: Sequence[ApprovalRequest]
    ) -> builtins.list[ApprovalRequest]:
        """Those of ``requests`` the person may reject now (a qualified approver may reject even once the
        slot their role fills is taken)."""
        return self._allowed(person_id, requests, access.may_reject)

    def visible(self, person_id: str, requests: Sequence[ApprovalRequest]) -> builtins.list[ApprovalRequest]:
        """Those of ``requests`` the person may see, escalations to them included (one read)."""
        return self._allowed(
            person_id, requests, lambda r, p, granted: access.may_see_approval(p, r, granted)
        )

    def _allowed(
        self,
        person_id: str,
        requests: Sequence[ApprovalRequest],
        rule: Callable[[ApprovalRequest, Person, frozenset[str]], bool],
    ) -> builtins.list[ApprovalRequest]:
        person = self.person(person_id)
        nudges = self.stores.approvals.nudges([r.id for r in requests])
        return [r for r in requests if rule(r, person, granted_to(nudges.get(r.id, ()), person.id))]

    def may_see_approval(self, person_id: str, request: ApprovalRequest) -> bool:
        """The requester, whoever holds a role it asks for or voted on it, auditors, and the people it
        was escalated to with the right to approve."""
        return bool(self.visible(person_id, [request]))

    def approval(self, request_id: str) -> ApprovalView:
        """One request with its context; ``UnknownRequest`` for an unknown id."""
        request = self.stores.approvals.get(request_id)
        if request is None:
            raise UnknownRequest(f"no approval request {request_id!r}", request_id=request_id)
        events = list(self.stores.audit.events(thread_id=request.thread_id))
        asked = [e for e in events if e.kind == EventKind.REQUEST and _at(e) <= request.created_at]
        cited = [c for e in events if e.kind == EventKind.RETRIEVAL for c in e.payload.get("citations", [])]
        return ApprovalView(
            request=request,
            request_text=str(asked[-1].payload.get("text")) if asked else None,
            citations=tuple(cited),
            history=tuple(e for e in events if _about(e, request.id)),
            still_needed="" if request.final else request.status_reason,
            execution=self._ran_on(request),
        )

    def _ran_on(self, request: ApprovalRequest) -> ExecutionRecord | None:
        """What ran on ``request``. A call that waited out its veto window is a notify call, which uses
        no approval: it is found by its key in the ledger (thread, tool call, the arguments' digest)."""
        from governance.executions import idempotency_key

        key = request.consumed_by
        if key is None and request.veto_window and request.status is ApprovalStatus.APPROVED:
            key = idempotency_key(request.thread_id, request.tool_call_id, request.args_digest)
        return None if key is None else self.stores.executions.get(key)

    @metered
    def vote(
        self,
        request_id: str,
        *,
        voter: str,
        approve: bool,
        channel: str,
        comment: str | None = None,
        reason: str | None = None,
        edited_args: Mapping[str, Any] | None = None,
        seen_digest: str | None = None,
    ) -> VoteOutcome:
        """Approve, reject (reason required) or edit-and-approve as ``voter``, who always comes from the
        authenticated caller. Refusals raise ``ApprovalError`` (audited); edits that fail validation raise
        ``InvalidArguments``. Resuming the thread is the caller's (or the worker's) next step.

        Front ends that show the arguments pass their ``args_digest`` as ``seen_digest``: if an edit
        replaced them meanwhile, the vote is refused (``ArgumentsChanged``) instead of approving
        arguments the voter never saw. An approval the policy asks to be given signed in (step-up) is
        refused (``StepUpRequired``) from a channel where a click suffices."""
        approver = self.governance.directory.actor(voter)
        request = self.approval(request_id).request
        edited = self._canonical(request.tool, edited_args) if edited_args is not None else None
        after = self.stores.approvals.vote(
            request.id,
            approver=approver,
            approve=approve,
            comment=comment,
            reason=reason,
            channel=channel,
            edited_args=edited,
            redecide=(lambda args: self.redecide(request, args)) if edited is not None else None,
            seen_digest=seen_digest,
            step_up=self.needs_step_up(request),
        )
        waiting = self.stores.approvals.list(status=ApprovalStatus.PENDING, thread_id=after.thread_id)
        if after.final and not waiting:  # durable before the caller hears of it: the worker resumes it
            self.queue(RESUME, after.thread_id)
        return VoteOutcome(request=after, can_resume=after.final and not waiting)

    def needs_step_up(self, request: ApprovalRequest) -> bool:
        """Whether a rule that asked for this approval says ``step_up: true`` (the policy in force): it
        is then approved signed in only (``governance.approvals.SIGNED_IN_CHANNELS``), never by a click
        in chat."""
        rules = {rule.id: rule for rule in self.governance.policy.policy.rules}
        return any(getattr(rules.get(rule_id), "step_up", False) for rule_id in request.rule_ids)

    def redecide(self, request: ApprovalRequest, args: Mapping[str, Any]) -> Decision:
        """The decision on edited arguments, as the requester's own call at this moment."""
        from agent.run.review import decide_edit
        from governance.decision import DecisionContext

        context = DecisionContext(now=self._clock(), channel=request.channel, thread_id=request.thread_id)
        return decide_edit(
            self.governance,
            self.systems,
            self.stores.usage,
            tool=request.tool,
            args=args,
            requester=request.requester,
            context=context,
        )

    def _canonical(self, tool: str, args: Mapping[str, Any]) -> dict[str, Any]:
        from tools.spec import canonical_args

        return canonical_args(self.governance.registry.get(tool).parse_args(dict(args)))


def _actor(person: Person) -> Actor:
    return Actor(id=person.id, roles=person.roles)


def _about(event: AuditEvent, request_id: str) -> bool:
    kinds = (EventKind.APPROVAL_REQUESTED, EventKind.APPROVAL_VOTE, EventKind.APPROVAL_FINAL)
    return event.kind in kinds and request_id in (
        event.payload.get("request_id"),
        event.payload.get("approval_id"),
    )


def _at(event: AuditEvent) -> datetime:
    return datetime.fromisoformat(event.at)
