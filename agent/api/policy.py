"""The policy in force (with its version), explaining a call against it, and the caller (``/v1/me``,
with their own API tokens: listing them and revoking one, say when it leaked)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from agent.api.auth import Caller
from agent.api.context import Ops
from agent.api.models import ExplainIn, ExplainOut, PersonOut, PolicyOut, TokenOut, person_out
from agent.api.problems import NotFound

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


@router.get("/me/tokens", response_model=list[TokenOut], summary="Your API tokens")
def my_tokens(caller: Caller, ops: Ops) -> list[TokenOut]:
    return [TokenOut.model_validate(record.to_dict()) for record in ops.tokens(person=caller.id)]


@router.post("/me/tokens/{token_id}/revoke", response_model=TokenOut, summary="Revoke one of your tokens")
def revoke_my_token(
    token_id: Annotated[str, Path(pattern=r"^[0-9a-f]{16}$", description="The id `GET /v1/me/tokens` shows")],
    caller: Caller,
    ops: Ops,
) -> TokenOut:
    """It never authenticates again (the token in this request included). Someone else's: 404."""
    from governance.tokens import NoSuchToken

    try:
        record = ops.revoke_token(token_id, by=caller.id, person=caller.id)
    except NoSuchToken:
        raise NotFound(f"no API token {token_id!r}", token_id=token_id) from None
    return TokenOut.model_validate(record.to_dict())
