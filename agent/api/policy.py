"""The policy in force (with its version), explaining a call against it, and the caller (``/v1/me``)."""

from __future__ import annotations

from fastapi import APIRouter

from agent.api.auth import Caller
from agent.api.context import Ops
from agent.api.models import ExplainIn, ExplainOut, PersonOut, PolicyOut, person_out

router = APIRouter(prefix="/v1", tags=["policy and people"])


@router.get("/policy", response_model=PolicyOut, summary="The policy in force")
def policy(caller: Caller, ops: Ops) -> PolicyOut:
    current = ops.policy()
    return PolicyOut(version=current.version, document=dict(current.document))


@router.post("/policy/explain", response_model=ExplainOut, summary="Explain a call")
def explain(body: ExplainIn, caller: Caller, ops: Ops) -> ExplainOut:
    """The decision you would get for this call now; nothing runs."""
    decision, notes = ops.explain(body.tool, body.args, actor=caller.id)
    return ExplainOut(decision=decision.to_dict(), notes=list(notes))


@router.get("/me", response_model=PersonOut, summary="Who you are")
def me(caller: Caller, ops: Ops) -> PersonOut:
    return person_out(caller, auditor=ops.is_auditor(caller.id), may_settle=ops.may_settle(caller.id))
