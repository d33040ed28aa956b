"""The queue (``/``), one request (``/approvals/{id}``) and its decisions (approve, reject, edit).

What a person may not see answers 404, exactly as an unknown id does (and is audited); the voter is
always the signed-in person; every POST checks the session's CSRF token. A vote answers at once:
the worker resumes the thread, and the page's poll shows the execution when it arrives.

Every decision form carries the digest of the arguments the page showed (``seen``): a vote on
arguments an edit replaced meanwhile is refused, and the answer is the request page (409) showing the
current ones. A refusal caused by what others did meanwhile is that page too, never a bare error.
A form with a NUL in any field is refused (422, naming the fields): PostgreSQL text cannot store one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from agent.operations import ApprovalView, Operations
from agent.text import visible as visible_text
from agent.web import details, forms
from agent.web.pages import (
    PageProblem,
    SignInNeeded,
    Visitor,
    check_csrf,
    operations_of,
    problem_page,
    redirect,
    render,
    to_login,
    visitor,
)
from governance.approvals import ApprovalRequest

router = APIRouter(include_in_schema=False)

PAGE = 50
SYSTEMS = ("itsm", "inventory", "procurement", "knowledge")
STATUSES = ("pending", "approved", "rejected", "expired", "all")
_REQUEST_ID = re.compile(r"^(?i:APR-)?[0-9A-Fa-f]{8}$")
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_CHANGED = (
    "The arguments changed since you opened this page (an edit came first), so your decision was not "
    "recorded. Review the arguments shown now before you decide."
)


def page(request: Request, build: Callable[[Visitor], Response]) -> Response:
    """``build`` the page for the signed-in person; sign-in first, problems as pages."""
    try:
        who = visitor(request)
    except SignInNeeded:
        return to_login(request)
    try:
        return build(who)
    except PageProblem as problem:
        return problem_page(request, problem, who)


async def form_post(request: Request, act: Callable[[Visitor, dict[str, str]], Response]) -> Response:
    """A POST from one of the page's forms: signed in, CSRF token checked, then ``act`` (in a thread)."""
    form = await request.form()
    fields = {key: value for key, value in form.items() if isinstance(value, str)}

    def run() -> Response:
        try:
            who = visitor(request)
        except SignInNeeded:
            return problem_page(
                request, PageProblem(401, "Not signed in", "sign in first", audited=True), None
            )
        try:
            check_csrf(request, who, fields)
            refuse_nul(fields)
            return act(who, fields)
        except PageProblem as problem:
            return problem_page(request, problem, who)

    return await run_in_threadpool(run)


def refuse_nul(form: Mapping[str, str]) -> None:
    """422 naming each field that holds a NUL, before anything is stored: PostgreSQL text cannot hold
    one (the database would fail, a 500), and the API refuses NUL in free text the same way."""
    named = [visible_text(name) for name, value in form.items() if "\x00" in name or "\x00" in value]
    if named:
        problems = [f"{name}: a NUL character (U+0000) is not accepted; remove it" for name in named]
        raise PageProblem(422, "Invalid request", "; ".join(problems))


# --- the queue --------------------------------------------------------------------------------------


@router.get("/")
def queue(request: Request) -> Response:
    return page(request, lambda who: _queue(request, who))


def _queue(request: Request, who: Visitor) -> Response:
    filters = _filters(request.query_params)
    after = request.query_params.get("after") or None
    if after is not None and not _REQUEST_ID.match(after):
        raise PageProblem(422, "Invalid request", "after: not an approval request id (APR-…)")
    ops = operations_of(request)
    try:
        mine, more_mine = _waiting_for(ops, who, **filters)
        others, next_after = _collect(ops, who, after=after, **filters)
    except _UnknownCursor:
        raise PageProblem(422, "Invalid request", f"after: no approval request {after!r}") from None
    template = "queue_live.html" if request.query_params.get("live") == "1" else "queue.html"
    return render(
        request,
        template,
        who=who,
        filters=filters,
        mine=mine,
        more_mine=more_mine,
        others=others,
        next_after=next_after,
        after=after,
        queue_state=_queue_state(mine, more_mine, others, next_after),
        systems=SYSTEMS,
        statuses=STATUSES,
        tools=sorted(spec.name for spec in ops.governance.registry),
        live_query=_query({**{k: v for k, v in filters.items() if v}, "after": after, "live": "1"}),
        next_query=_query({**{k: v for k, v in filters.items() if v}, "after": next_after}),
        first_query=_query({k: v for k, v in filters.items() if v}),
    )


def _queue_state(
    mine: list[ApprovalRequest], more_mine: bool, others: list[ApprovalRequest], next_after: str | None
) -> str:
    """What the queue's poll compares: the lists' requests, their statuses and versions."""
    rows = ",".join(f"{r.id}/{r.status.value}/{r.version}" for r in [*mine, *others])
    return f"{len(mine)}{'+' if more_mine else ''}|{rows}|{next_after or ''}"


def _filters(query: Mapping[str, str]) -> dict[str, Any]:
    status = query.get("status") or "pending"
    system = query.get("system") or None
    tool, requester = query.get("tool") or None, query.get("requester") or None
    problems = []
    if status not in STATUSES:
        problems.append(f"status: one of {', '.join(STATUSES)}")
    if system is not None and system not in SYSTEMS:
        problems.append(f"system: one of {', '.join(SYSTEMS)}")
    for name, value in (("tool", tool), ("requester", requester)):
        if value is not None and not _NAME.match(value):
            problems.append(f"{name}: letters, digits and . _ @ - only, at most 64")
    if problems:
        raise PageProblem(422, "Invalid request", "; ".join(problems))
    return {"status": status, "system": system, "tool": tool, "requester": requester}


class _UnknownCursor(Exception):
    pass


def _waiting_for(
    ops: Operations, who: Visitor, *, status: str, system: str | None, tool: str | None, requester: str | None
) -> tuple[list[ApprovalRequest], bool]:
    """The first page of what the person may still vote on (read until found: nothing that waits for
    them may be missing, however much else the queue holds), and whether there is more."""
    if status not in ("pending", "all"):
        return [], False
    found: list[ApprovalRequest] = []
    after: str | None = None
    while True:
        batch = ops.approvals(
            requester=requester, tool=tool, actionable_by=who.person.id, limit=PAGE + 1, after=after
        )
        found += [r for r in batch if system is None or r.tool.startswith(f"{system}_")]
        if len(found) > PAGE or len(batch) <= PAGE:
            return found[:PAGE], len(found) > PAGE
        after = batch[-1].id


def _collect(
    ops: Operations,
    who: Visitor,
    *,
    after: str | None,
    status: str,
    system: str | None,
    tool: str | None,
    requester: str | None,
) -> tuple[list[ApprovalRequest], str | None]:
    """One page of the queue, oldest first, and the id to continue after (None on the last page).

    What the person may see but not vote on (that is in :func:`_waiting_for`). At most ``_SCAN``
    requests are read for one page, so a page costs the same however long the queue is and whatever
    the person may see: a page cut short by the bound still links to the next."""
    from governance.approvals import UnknownRequest

    found: list[ApprovalRequest] = []
    scanned = 0
    while True:
        try:
            batch = ops.approvals(
                status=None if status == "all" else status,
                requester=requester,
                tool=tool,
                visible_to=who.person.id,
                limit=_BATCH,
                after=after,
            )
        except UnknownRequest:
            raise _UnknownCursor() from None
        acting = {r.id for r in ops.actionable(who.person.id, batch)}
        for request in batch:
            if request.id not in acting and (system is None or request.tool.startswith(f"{system}_")):
                found.append(request)
                if len(found) > PAGE:
                    return found[:PAGE], found[PAGE - 1].id
        scanned += len(batch)
        if len(batch) < _BATCH:
            return found, None
        after = batch[-1].id
        if scanned >= _SCAN:
            return found, after


_BATCH = 100
_SCAN = 200


def _query(values: Mapping[str, str | None]) -> str:
    from urllib.parse import urlencode

    return urlencode({k: v for k, v in values.items() if v})


# --- one request ------------------------------------------------------------------------------------


@router.get("/approvals/{request_id}")
def show_approval(request: Request, request_id: str) -> Response:
    return page(request, lambda who: _approval_page(request, who, request_id))


@router.post("/approvals/{request_id}/approve")
async def approve(request: Request, request_id: str) -> Response:
    return await form_post(
        request,
        lambda who, form: _vote(request, who, request_id, form, approve=True, comment=_text(form, "comment")),
    )


@router.post("/approvals/{request_id}/reject")
async def reject(request: Request, request_id: str) -> Response:
    return await form_post(
        request,
        lambda who, form: _reject(request, who, request_id, form),
    )


@router.post("/approvals/{request_id}/veto")
async def veto(request: Request, request_id: str) -> Response:
    return await form_post(request, lambda who, form: _veto(request, who, request_id, form))


@router.post("/approvals/{request_id}/edit")
async def edit(request: Request, request_id: str) -> Response:
    return await form_post(request, lambda who, form: _edit(request, who, request_id, form))


def visible(ops: Operations, who: Visitor, request_id: str) -> ApprovalView:
    """The request, or 404 (audited) when it does not exist or the person may not see it."""
    from governance.approvals import UnknownRequest

    view = None
    if len(request_id) <= 64:
        try:
            view = ops.approval(request_id)
        except UnknownRequest:
            view = None
    if view is None or not ops.may_see_approval(who.person.id, view.request):
        raise PageProblem(404, "Not found", f"no approval request {request_id!r}", audited=True)
    return view


def _approval_page(
    request: Request,
    who: Visitor,
    request_id: str,
    *,
    status: int = 200,
    error: str | None = None,
    problems: list[str] | None = None,
    edit_values: Mapping[str, str] | None = None,
) -> Response:
    ops = operations_of(request)
    view = visible(ops, who, request_id)
    live = request.method == "GET" and request.query_params.get("live") == "1"
    return render(
        request,
        "approval_live.html" if live else "approval.html",
        who=who,
        status=status,
        **details.approval_context(ops, view, who.person, edit_values=edit_values),
        live=live,
        error=error,
        problems=problems or [],
    )


def _reject(request: Request, who: Visitor, request_id: str, form: Mapping[str, str]) -> Response:
    reason = _text(form, "reason")
    if reason is None:
        visible(operations_of(request), who, request_id)
        error = "A rejection needs a reason: the agent and the requester are told it."
        return _approval_page(request, who, request_id, status=422, error=error)
    return _vote(request, who, request_id, form, approve=False, reason=reason)


def _vote(
    request: Request, who: Visitor, request_id: str, form: Mapping[str, str], *, approve: bool, **ballot: Any
) -> Response:
    from governance.approvals import ApprovalError

    ops = operations_of(request)
    view = visible(ops, who, request_id)
    try:
        ops.vote(
            view.request.id,
            voter=who.person.id,
            approve=approve,
            channel="web",
            seen_digest=_seen(form),
            **ballot,
        )
    except ApprovalError as refused:
        return _refused(request, who, request_id, refused)
    return redirect(f"/approvals/{view.request.id}")


def _seen(form: Mapping[str, str]) -> str | None:
    """The digest of the arguments the page showed (every decision form carries it; a POST made by hand
    without one is checked as an API vote is)."""
    return form.get("seen", "")[:64] or None


def _refused(request: Request, who: Visitor, request_id: str, refused: Exception) -> Response:
    """A refused vote: the requester's own is 403; what others did meanwhile is the request page (409)."""
    from governance.approvals import ArgumentsChanged, SelfApproval

    if isinstance(refused, SelfApproval):
        raise PageProblem(403, "Not allowed", str(refused)) from None
    error = _CHANGED if isinstance(refused, ArgumentsChanged) else f"Your vote was not recorded: {refused}."
    return _approval_page(request, who, request_id, status=409, error=error)


def _veto(request: Request, who: Visitor, request_id: str, form: Mapping[str, str]) -> Response:
    """Stop a call waiting out its veto window (the service says who may, and settles a veto racing
    the window's end: the page then shows whichever came first)."""
    from agent.operations.oversight import OversightInvalid
    from governance.approvals import ApprovalError, NotEntitled, SelfApproval

    ops = operations_of(request)
    view = visible(ops, who, request_id)
    reason = _text(form, "reason")
    if reason is None:
        error = "A veto needs a reason: the agent and the requester are told it."
        return _approval_page(request, who, request_id, status=422, error=error)
    try:
        ops.oversight.veto(view.request.id, voter=who.person.id, reason=reason, channel="web")
    except (SelfApproval, NotEntitled) as refused:
        raise PageProblem(403, "Not allowed", str(refused)) from None
    except (ApprovalError, OversightInvalid) as conflict:
        return _approval_page(request, who, request_id, status=409, error=str(conflict))
    return redirect(f"/approvals/{view.request.id}")


def _edit(request: Request, who: Visitor, request_id: str, form: dict[str, str]) -> Response:
    from governance.approvals import ApprovalError, ArgumentsChanged
    from tools.errors import InvalidArguments

    ops = operations_of(request)
    view = visible(ops, who, request_id)
    schema = ops.governance.registry.get(view.request.tool).json_schema()
    values = {k: v for k, v in form.items() if k not in ("csrf", "comment", "seen")}
    try:
        if _seen(form) not in (None, view.request.args_digest):  # fields filled from other arguments
            raise ArgumentsChanged(_CHANGED, request_id=view.request.id, approver=who.person.id)
        args = forms.parse(schema, values, view.request.args)
        ops.vote(
            view.request.id,
            voter=who.person.id,
            approve=True,
            channel="web",
            comment=_text(form, "comment"),
            edited_args=args,
            seen_digest=_seen(form),
        )
    except (forms.FormError, InvalidArguments) as invalid:
        return _approval_page(
            request,
            who,
            request_id,
            status=422,
            problems=invalid.problems,
            edit_values=values,
            error="The edit was not accepted: the arguments are not valid.",
        )
    except ApprovalError as refused:
        return _refused(request, who, request_id, refused)
    return redirect(f"/approvals/{view.request.id}")


def _text(form: Mapping[str, str], name: str) -> str | None:
    value = form.get(name, "").strip()
    return value or None
