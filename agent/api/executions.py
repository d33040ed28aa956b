"""Executions: the ledger of calls that ran (those of threads the caller may see; everything for
auditors and the settle roles), and settling a call a crash left ``started`` (settle roles only)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from agent.api.auth import Caller
from agent.api.context import Ops, Page, paging
from agent.api.models import (
    ExecutionDetail,
    ExecutionOut,
    ExecutionPage,
    SettleIn,
    execution_detail,
    execution_out,
)
from agent.api.problems import Forbidden, NotFound
from agent.api.threads import visible_thread
from agent.operations import ExecutionView, Operations

Key = Annotated[
    str,
    Path(
        min_length=1,
        max_length=128,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description="The key, or a unique prefix of it",
    ),
]


def build(page_max: int) -> APIRouter:
    router = APIRouter(prefix="/v1/executions", tags=["executions"])
    page_of = paging(page_max)

    @router.get("", response_model=ExecutionPage, summary="List executions")
    def list_executions(
        caller: Caller,
        ops: Ops,
        status: Literal["started", "completed", "failed"] | None = None,
        thread: Annotated[
            str | None, Query(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$")
        ] = None,
        page: Page = page_of,
    ) -> ExecutionPage:
        """The most recently started first."""
        from governance.executions import ExecutionStatus

        wanted = None if status is None else ExecutionStatus(status)
        everything = ops.is_auditor(caller.id) or ops.may_settle(caller.id)
        if thread is not None and not everything:
            visible_thread(ops, caller.id, thread)  # 404 for a thread they may not see, not an empty page
        window = page.offset + page.limit + 1
        records = ops.executions(status=wanted, thread=thread, limit=window, visible_to=caller.id)
        items, cursor = page.cut(records)
        return ExecutionPage(items=[execution_out(r) for r in items], next_cursor=cursor)

    @router.get("/{key}", response_model=ExecutionDetail, summary="Show an execution")
    def show_execution(key: Key, caller: Caller, ops: Ops) -> ExecutionDetail:
        return execution_detail(_visible(ops, caller.id, key))

    @router.post("/{key}/settle", response_model=ExecutionOut, summary="Settle a started execution")
    def settle(key: Key, body: SettleIn, caller: Caller, ops: Ops) -> ExecutionOut:
        """Record what the backend shows for a call a crash left started (settle roles only; audited)."""
        from governance.executions import ExecutionStatus

        record = _visible(ops, caller.id, key).record
        if not ops.may_settle(caller.id):
            raise Forbidden(
                f"settling needs one of the roles {', '.join(ops.settings.settle_roles)}",
                execution_key=record.key,
            )
        status = ExecutionStatus(body.status)
        return execution_out(ops.settle(record.key, status, text=body.text, operator=caller.id))

    return router


def _visible(ops: Operations, person_id: str, key: str) -> ExecutionView:
    """404 — as for a key nobody has — unless the person may see it; a prefix is ambiguous (409) only
    among executions they may see all of."""
    from governance.executions import UnknownExecution

    try:
        return ops.execution(key, visible_to=person_id)
    except UnknownExecution:
        raise NotFound(f"no execution with key {key!r}", execution_key=key) from None
