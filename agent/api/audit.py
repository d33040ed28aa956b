"""The audit trail: a person reads the events of threads they may see; auditors read everything,
verify the chain and read its head."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field

from agent.api.auth import Caller
from agent.api.context import Ops
from agent.api.models import EventPage, HeadOut, VerifyOut, event_out
from agent.api.problems import Forbidden
from agent.api.threads import visible_thread
from agent.operations import Operations

_HEAD = r"^[0-9]{1,18}:[0-9a-fA-F]{64}$"
_NO_CONTROL = r"^[^\x00-\x1f\x7f]+$"  # and no NUL, which PostgreSQL text cannot hold


def build(page_max: int) -> APIRouter:
    router = APIRouter(prefix="/v1/audit", tags=["audit"])

    @router.get("", response_model=EventPage, summary="Query the audit trail")
    def query(
        caller: Caller,
        ops: Ops,
        thread: Annotated[
            str | None, Query(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$")
        ] = None,
        kind: Annotated[
            list[Annotated[str, Field(max_length=64, pattern=_NO_CONTROL)]] | None,
            Query(max_length=20, description="Event kinds (repeatable)"),
        ] = None,
        actor: Annotated[
            str | None, Query(min_length=1, max_length=64, pattern=_NO_CONTROL, description="Who acted")
        ] = None,
        since: Annotated[datetime | None, Query(description="From this time (ISO 8601, inclusive)")] = None,
        until: Annotated[datetime | None, Query(description="Before this time (ISO 8601)")] = None,
        limit: Annotated[int, Query(ge=1, le=page_max)] = min(100, page_max),
        cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,18}$", description="next_cursor")] = None,
    ) -> EventPage:
        """Oldest first. Without ``thread``, auditors only."""
        if thread is not None:
            visible_thread(ops, caller.id, thread)
        else:
            _auditor(
                ops, caller.id, "the whole audit trail", hint="; ask about one of your threads with ?thread="
            )
        found = ops.audit_query(
            thread=thread,
            kinds=kind,
            actor=actor,
            since=_aware(since),
            until=_aware(until),
            after_seq=int(cursor) if cursor else 0,
            limit=limit,
        )
        cursor = None if found.next_seq is None else str(found.next_seq)
        return EventPage(items=[event_out(e) for e in found.events], next_cursor=cursor)

    @router.get("/head", response_model=HeadOut, summary="The newest event's seq and hash")
    def head(caller: Caller, ops: Ops) -> HeadOut:
        _auditor(ops, caller.id, "the audit head")
        newest = ops.head()
        return HeadOut(seq=newest.seq, hash=newest.hash)

    @router.get("/verify", response_model=VerifyOut, summary="Verify the hash chain")
    def verify(
        caller: Caller,
        ops: Ops,
        head: Annotated[str | None, Query(pattern=_HEAD, description="A SEQ:HASH kept earlier")] = None,
    ) -> VerifyOut:
        from agent.api.problems import Invalid
        from governance.audit import ChainHead

        _auditor(ops, caller.id, "verifying the audit trail")
        try:
            kept = None if head is None else ChainHead.parse(head)
        except ValueError as exc:
            raise Invalid(f"head: {exc}", errors=[{"loc": ["query", "head"], "msg": str(exc)}]) from None
        result = ops.verify(head=kept)
        return VerifyOut(
            ok=result.ok,
            checked=result.checked,
            head=HeadOut(seq=result.head.seq, hash=result.head.hash),
            first_broken_seq=result.first_broken_seq,
            event_id=result.event_id,
            problem=None if result.problem is None else str(result.problem),
        )

    return router


def _auditor(ops: Operations, person_id: str, what: str, *, hint: str = "") -> None:
    if not ops.is_auditor(person_id):
        raise Forbidden(f"{what} is for auditors only{hint}")


def _aware(moment: datetime | None) -> datetime | None:
    """A time without an offset is UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)
