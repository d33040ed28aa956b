"""Approvals: the queue (what the caller may see; ``mine=true``: what they may act on), one request
with the diff of an edit, and votes. The voter is always the authenticated caller. A vote returns its
outcome at once: resuming the thread is the worker's job."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query

from agent.api.auth import Caller
from agent.api.context import Ops
from agent.api.models import (
    ApprovalDetail,
    ApprovalPage,
    ApproveIn,
    EditIn,
    RejectIn,
    VoteResult,
    approval_detail,
    approval_out,
)
from agent.api.problems import Invalid, NotFound
from agent.operations import ApprovalView, Operations

_NO_CONTROL = r"^[^\x00-\x1f\x7f]+$"  # and no NUL, which PostgreSQL text cannot hold
RequestId = Annotated[
    str,
    Path(min_length=1, max_length=64, pattern=_NO_CONTROL, description="APR-… (case-insensitive)"),
]
Status = Literal["pending", "approved", "rejected", "expired", "all"]
_CURSOR = r"^(?i:APR-)?[0-9A-Fa-f]{8}$"


def build(page_max: int) -> APIRouter:
    router = APIRouter(prefix="/v1/approvals", tags=["approvals"])

    @router.get("", response_model=ApprovalPage, summary="List approvals")
    def list_approvals(
        caller: Caller,
        ops: Ops,
        status: Status = "pending",
        requester: Annotated[str | None, Query(max_length=64, pattern=_NO_CONTROL)] = None,
        tool: Annotated[str | None, Query(max_length=64, pattern=_NO_CONTROL)] = None,
        mine: Annotated[bool, Query(description="Only what you may still vote on")] = False,
        limit: int = Query(min(50, page_max), ge=1, le=page_max, description="Items per page"),
        cursor: str | None = Query(
            None, pattern=_CURSOR, description="next_cursor of the page before (an approval id)"
        ),
    ) -> ApprovalPage:
        """Oldest first, only requests you may see; pages follow the queue's order, so a request decided
        between two pages does not shift the next one."""
        from governance.approvals import UnknownRequest

        message = f"no approval request {cursor!r} to continue after"
        unknown = Invalid(message, errors=[{"loc": ["query", "cursor"], "msg": message}])
        if cursor is not None:  # one the caller may not see reads as unknown: ids cannot be probed
            after = ops.stores.approvals.get(cursor)
            if after is None or not ops.may_see_approval(caller.id, after):
                raise unknown
        try:
            requests = ops.approvals(
                status=None if status == "all" else status,
                requester=requester,
                tool=tool,
                actionable_by=caller.id if mine else None,
                visible_to=caller.id,
                limit=limit + 1,
                after=cursor,
            )
        except UnknownRequest:
            raise unknown from None
        items = requests[:limit]
        more = len(requests) > limit
        return ApprovalPage(
            items=[approval_out(r) for r in items], next_cursor=items[-1].id if more else None
        )

    @router.get("/{request_id}", response_model=ApprovalDetail, summary="Show an approval")
    def show_approval(request_id: RequestId, caller: Caller, ops: Ops) -> ApprovalDetail:
        """The exact arguments that run, why approval is needed, votes, history, and what an edit changed."""
        return approval_detail(_visible(ops, caller.id, request_id))

    @router.post("/{request_id}/approve", response_model=VoteResult, summary="Approve")
    def approve(request_id: RequestId, body: ApproveIn, caller: Caller, ops: Ops) -> VoteResult:
        return _vote(ops, caller.id, request_id, body.args_digest, approve=True, comment=body.comment)

    @router.post("/{request_id}/reject", response_model=VoteResult, summary="Reject (reason required)")
    def reject(request_id: RequestId, body: RejectIn, caller: Caller, ops: Ops) -> VoteResult:
        return _vote(ops, caller.id, request_id, body.args_digest, approve=False, reason=body.reason)

    @router.post("/{request_id}/edit", response_model=VoteResult, summary="Edit and approve")
    def edit(request_id: RequestId, body: EditIn, caller: Caller, ops: Ops) -> VoteResult:
        """Approve other arguments (the whole object): decided again as the requester's call; if the edit
        needs more authority than yours, it stays pending."""
        return _vote(
            ops,
            caller.id,
            request_id,
            body.args_digest,
            approve=True,
            comment=body.comment,
            edited_args=body.args,
        )

    return router


def _visible(ops: Operations, person_id: str, request_id: str) -> ApprovalView:
    from governance.approvals import UnknownRequest

    try:
        view = ops.approval(request_id)
    except UnknownRequest:
        view = None
    if view is None or not ops.may_see_approval(person_id, view.request):
        raise NotFound(f"no approval request {request_id!r}", request_id=request_id)
    return view


def _vote(
    ops: Operations, person_id: str, request_id: str, seen: str | None, *, approve: bool, **ballot: Any
) -> VoteResult:
    request = _visible(ops, person_id, request_id).request
    outcome = ops.vote(
        request.id, voter=person_id, approve=approve, channel="api", seen_digest=seen, **ballot
    )
    return VoteResult(approval=approval_out(outcome.request), can_resume=outcome.can_resume)
