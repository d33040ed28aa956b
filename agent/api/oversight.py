"""Oversight: the autonomy kill switch (pause, resume, what is paused), monitors and their trips
(clear one), and vetoing a call in its veto window. The acting person is always the authenticated
caller; who may do what is the policy's ``autonomy`` section (and a rule's ``veto_by`` for vetoes)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from agent.api.auth import Caller
from agent.api.context import Ops
from agent.api.models import NO_NUL
from agent.api.problems import ApiProblem, Conflict, Forbidden, Invalid, NotFound

_NO_CONTROL = r"^[^\x00-\x1f\x7f]+$"
RestrictionId = Annotated[
    str,
    Path(min_length=1, max_length=40, pattern=_NO_CONTROL, description="RST-… (case-insensitive)"),
]
RequestId = Annotated[
    str,
    Path(min_length=1, max_length=64, pattern=_NO_CONTROL, description="APR-… (case-insensitive)"),
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PauseIn(_In):
    reason: str = Field(min_length=1, max_length=2000, pattern=NO_NUL)
    tool: str | None = Field(default=None, min_length=1, max_length=128, pattern=r"^[a-z0-9_*?\[\]-]+$")
    person: str | None = Field(default=None, min_length=1, max_length=64, pattern=_NO_CONTROL)
    deny: bool = False


class ReasonIn(_In):
    reason: str = Field(min_length=1, max_length=2000, pattern=NO_NUL)


class RestrictionOut(BaseModel):
    id: str
    source: str
    name: str
    rule_id: str
    scope: str
    subject: str | None
    tools: list[str]
    tier: str
    reason: str
    created_at: str
    created_by: str


class MonitorOut(BaseModel):
    id: str
    kind: str
    per: str
    window: str
    threshold: float
    on_trip: str
    description: str
    trips: list[RestrictionOut]


class VetoOut(BaseModel):
    request_id: str
    status: str
    reason: str


router = APIRouter(prefix="/v1", tags=["oversight"])


@contextmanager
def _refusals(conflict: ApiProblem | None = None) -> Iterator[None]:
    """The service's refusals as problems: a field it calls invalid is a 422 naming it; a state
    conflict is ``conflict``, in the API's words (the route knows which routes to point to)."""
    from agent.operations.oversight import OversightConflict, OversightInvalid, OversightRefused
    from governance.restrictions import AlreadyCleared, UnknownRestriction

    try:
        yield
    except OversightRefused as exc:
        raise Forbidden(str(exc)) from exc
    except OversightConflict as exc:
        raise (conflict or Conflict(str(exc))) from exc
    except OversightInvalid as exc:
        message = str(exc)
        where = ["body", exc.field] if exc.field else ["body"]
        raise Invalid(message, errors=[{"loc": where, "msg": message}]) from exc
    except UnknownRestriction as exc:
        message = f"no restriction {exc.restriction_id!r} (see GET /v1/autonomy and GET /v1/monitors)"
        raise NotFound(message, restriction_id=exc.restriction_id) from exc
    except AlreadyCleared as exc:
        raise Conflict(str(exc)) from exc


def _out(restriction: Any) -> RestrictionOut:
    data = restriction.to_dict()
    return RestrictionOut(**{k: v for k, v in data.items() if k in RestrictionOut.model_fields})


@router.post("/autonomy/pause", response_model=RestrictionOut, status_code=201, summary="Pause autonomy")
def pause(body: PauseIn, caller: Caller, ops: Ops) -> RestrictionOut:
    """Matched calls need approval (``deny``: are refused) until resumed; audited ``autonomy_paused``."""
    with _refusals():
        return _out(
            ops.oversight.pause(
                by=caller.id, reason=body.reason, tool=body.tool, person=body.person, deny=body.deny
            )
        )


@router.post("/autonomy/{restriction_id}/resume", response_model=RestrictionOut, summary="Resume autonomy")
def resume(restriction_id: RestrictionId, body: ReasonIn, caller: Caller, ops: Ops) -> RestrictionOut:
    conflict = f"{restriction_id} is a monitor trip: clear it with POST /v1/monitors/{restriction_id}/clear"
    with _refusals(Conflict(conflict, restriction_id=restriction_id)):
        return _out(ops.oversight.resume(restriction_id, by=caller.id, reason=body.reason))


@router.get("/autonomy", response_model=list[RestrictionOut], summary="Pauses in force")
def pauses(caller: Caller, ops: Ops) -> list[RestrictionOut]:
    return [_out(r) for r in ops.oversight.pauses()]


@router.get("/monitors", response_model=list[MonitorOut], summary="Monitors and their trips")
def monitors(caller: Caller, ops: Ops) -> list[MonitorOut]:
    return [
        MonitorOut(
            id=v.monitor.id,
            kind=v.monitor.kind,
            per=v.monitor.per,
            window=v.monitor.window,
            threshold=v.monitor.threshold,
            on_trip=v.monitor.on_trip,
            description=v.monitor.description,
            trips=[_out(t) for t in v.trips],
        )
        for v in ops.oversight.monitors()
    ]


@router.post("/monitors/{restriction_id}/clear", response_model=RestrictionOut, summary="Clear a trip")
def clear(restriction_id: RestrictionId, body: ReasonIn, caller: Caller, ops: Ops) -> RestrictionOut:
    conflict = f"{restriction_id} is an autonomy pause: end it with POST /v1/autonomy/{restriction_id}/resume"
    with _refusals(Conflict(conflict, restriction_id=restriction_id)):
        return _out(ops.oversight.clear(restriction_id, by=caller.id, reason=body.reason))


@router.post("/approvals/{request_id}/veto", response_model=VetoOut, summary="Veto a call in its window")
def veto(request_id: RequestId, body: ReasonIn, caller: Caller, ops: Ops) -> VetoOut:
    """Stop a notify-tier call waiting out its veto window; the agent is told the reason."""
    request = ops.stores.approvals.get(request_id)
    if request is None or not ops.may_see_approval(caller.id, request):
        raise NotFound(f"no approval request {request_id!r}", request_id=request_id)
    conflict = (
        f"{request.id} is not in a veto window; reject it instead: POST /v1/approvals/{request.id}/reject"
    )
    with _refusals(Conflict(conflict, request_id=request.id)):
        outcome = ops.oversight.veto(request.id, voter=caller.id, reason=body.reason, channel="api")
    return VetoOut(
        request_id=outcome.request.id,
        status=outcome.request.status.value,
        reason=outcome.request.status_reason,
    )
