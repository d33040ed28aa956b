"""The records behind the queue: a thread (its conversation and governance events), the audit trail
(auditors: search, chain status and head), and executions a crash left ``started`` (settle roles:
settle them). Visibility is the API's: a thread a person may not see is a 404, as an unknown one."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response

from agent.web.pages import PageProblem, Visitor, operations_of, redirect, render
from agent.web.review import form_post, page

router = APIRouter(include_in_schema=False)

_THREAD = re.compile(r"^[^\x00-\x1f\x7f]{1,255}$")
_KIND = re.compile(r"^[a-z_]{1,40}$")
_AUDIT_PAGE = 100


@router.get("/threads/{thread_id:path}")
def show_thread(request: Request, thread_id: str) -> Response:
    return page(request, lambda who: _thread(request, who, thread_id))


def _thread(request: Request, who: Visitor, thread_id: str) -> Response:
    from agent.run.errors import UnknownThread

    ops = operations_of(request)
    if (
        not _THREAD.match(thread_id)
        or not thread_id.strip()
        or not ops.may_see_thread(who.person.id, thread_id)
    ):
        raise PageProblem(404, "Not found", f"no thread {thread_id!r}", audited=True)
    try:
        view = ops.thread(thread_id)
    except UnknownThread:
        raise PageProblem(404, "Not found", f"no thread {thread_id!r}", audited=True) from None
    return render(request, "thread.html", who=who, thread=view)


@router.get("/audit")
def audit(request: Request) -> Response:
    return page(request, lambda who: _audit(request, who))


def _audit(request: Request, who: Visitor) -> Response:
    ops = operations_of(request)
    if not ops.is_auditor(who.person.id):
        raise PageProblem(403, "Not allowed", "the audit trail is for auditors only", audited=True)
    query = request.query_params
    search = {
        "thread": query.get("thread") or None,
        "kind": query.get("kind") or None,
        "actor": query.get("actor") or None,
        "since": query.get("since") or None,
    }
    after = query.get("after") or "0"
    problems = []
    if search["thread"] is not None and not _THREAD.match(search["thread"]):
        problems.append("thread: at most 255 characters, no control characters")
    if search["kind"] is not None and not _KIND.match(search["kind"]):
        problems.append("kind: an event kind such as approval_vote")
    if search["actor"] is not None and len(search["actor"]) > 64:
        problems.append("actor: at most 64 characters")
    if not after.isdigit() or len(after) > 18:
        problems.append("after: an event seq")
    since = _moment(search["since"], problems)
    if problems:
        raise PageProblem(422, "Invalid request", "; ".join(problems))
    found = ops.audit_query(
        thread=search["thread"],
        kinds=[search["kind"]] if search["kind"] else None,
        actor=search["actor"],
        since=since,
        after_seq=int(after),
        limit=_AUDIT_PAGE,
    )
    verified = ops.verify() if query.get("verify") == "1" else None
    return render(
        request,
        "audit.html",
        who=who,
        search=search,
        events=found.events,
        next_seq=found.next_seq,
        head=ops.head(),
        verified=verified,
    )


def _moment(text: str | None, problems: list[str]) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        problems.append("since: a date or time such as 2026-12-01 or 2026-12-01T08:00")
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@router.get("/executions")
def executions(request: Request) -> Response:
    return page(request, lambda who: _executions(request, who))


def _executions(request: Request, who: Visitor, *, error: str | None = None, status: int = 200) -> Response:
    from governance.executions import ExecutionStatus

    ops = operations_of(request)
    settler = ops.may_settle(who.person.id)
    everything = settler or ops.is_auditor(who.person.id)
    stuck = ops.executions(status=ExecutionStatus.STARTED, limit=200)
    recent = ops.executions(limit=50)
    if not everything:
        stuck = [r for r in stuck if ops.may_see_execution(who.person.id, r)]
        recent = [r for r in recent if ops.may_see_execution(who.person.id, r)]
    return render(
        request,
        "executions.html",
        who=who,
        status=status,
        stuck=stuck,
        recent=recent,
        settler=settler,
        settle_roles=ops.settings.settle_roles,
        error=error,
    )


@router.post("/executions/{key}/settle")
async def settle(request: Request, key: str) -> Response:
    return await form_post(request, lambda who, form: _settle(request, who, key, form))


def _settle(request: Request, who: Visitor, key: str, form: dict[str, str]) -> Response:
    from governance.executions import ExecutionError, ExecutionStatus, UnknownExecution

    ops = operations_of(request)
    try:
        record = ops.execution(key[:128]).record
    except UnknownExecution:
        record = None
    if record is None or not ops.may_see_execution(who.person.id, record):
        raise PageProblem(404, "Not found", f"no execution with key {key!r}", audited=True)
    if not ops.may_settle(who.person.id):
        roles = ", ".join(ops.settings.settle_roles)
        raise PageProblem(403, "Not allowed", f"settling needs one of the roles {roles}", audited=True)
    outcome, text = form.get("status", ""), form.get("text", "").strip()
    if outcome not in ("completed", "failed") or not text:
        message = "choose completed or failed, and say what the backend shows"
        return _executions(request, who, error=message, status=422)
    try:
        ops.settle(record.key, ExecutionStatus(outcome), text=text[:2000], operator=who.person.id)
    except ExecutionError as refused:
        return _executions(request, who, error=str(refused), status=409)
    return redirect("/executions")
