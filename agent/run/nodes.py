"""Graph nodes: ground → plan → govern → act (↔ await_approval) → plan … → answer."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.messages.tool import invalid_tool_call
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from agent import tracing
from agent.run.errors import GovernanceViolation, PlannerUnavailable
from agent.run.executor import Executed, execute, recorded, release_stale_holds, reserve_usage
from agent.run.prompts import system_prompt
from agent.run.review import (
    AwaitApproval,
    Proposed,
    Refuse,
    Run,
    Verdict,
    refusal_text,
    refuse_duplicates,
    review,
)
from agent.run.state import AgentDeps, AgentState, ClearedCall, PendingApproval
from governance.approvals import ApprovalRequest, ApprovalStatus, RequestKeyTaken
from governance.audit import EventKind
from governance.decision import Actor, Decision, DecisionContext, approval_satisfied

# A cleared call whose limits another session filled between its decision and its hold is decided
# again; each round sees the other holds, so it ends in a hold or an escalation well within this.
_RESERVE_ATTEMPTS = 8


def ground(state: AgentState, runtime: Runtime[AgentDeps]) -> dict[str, Any]:
    """Retrieval hook (the grounding issue fills it): context messages for the latest request."""
    deps = runtime.context
    request = _latest_request(state)
    if deps.grounder is None or not request:
        return {}
    with tracing.span(deps.tracing, "opslayer.grounding") as current:
        grounding = deps.grounder(request)
        current.set_attribute("opslayer.citations", len(grounding.citations))
    if grounding.message is None:
        return {}
    deps.audit.append(
        EventKind.RETRIEVAL,
        {"request": request, "citations": grounding.citations},
        thread_id=_thread_id(runtime, state),
        actor=state["actor_id"],
    )
    return {"messages": [grounding.message]}


def plan(state: AgentState, runtime: Runtime[AgentDeps]) -> dict[str, Any]:
    deps = runtime.context
    rounds = state.get("rounds", 0)
    if rounds >= deps.round_limit:
        text = (
            f"I stopped after {deps.round_limit} planning rounds without finishing, to avoid a runaway loop. "
            "Nothing further was executed; please narrow the request or continue in this thread."
        )
        return {"messages": [AIMessage(content=text)]}
    person = deps.governance.directory.get(state["actor_id"])
    tools = deps.governance.registry.openai_tools()
    model = deps.model.bind_tools(tools, parallel_tool_calls=True)
    messages: list[BaseMessage] = [SystemMessage(content=system_prompt(person)), *state["messages"]]
    try:
        with tracing.span(deps.tracing, "opslayer.model", round=rounds + 1) as current:
            reply = model.invoke(messages)
            current.set_attribute("opslayer.tool_calls", len(getattr(reply, "tool_calls", None) or ()))
    except Exception as exc:  # any endpoint failure: report it, execute nothing, keep the thread
        raise PlannerUnavailable(_describe_llm_error(exc)) from exc
    return {"messages": [_storable(reply)], "rounds": rounds + 1}


def govern(state: AgentState, runtime: Runtime[AgentDeps]) -> dict[str, Any]:
    """Decide every tool call of the latest model message: each is refused, cleared, or awaits approval."""
    deps = runtime.context
    thread_id = _thread_id(runtime, state)
    actor = deps.governance.directory.actor(state["actor_id"])
    context = DecisionContext(now=deps.clock(), channel=state.get("channel", "cli"), thread_id=thread_id)
    proposed, duplicates = _proposed_calls(_last_ai(state), _earlier_ids(state))
    verdicts: list[Verdict | Asked] = [
        Refuse(call=calls[0], message=refuse_duplicates(deps, calls, actor, context))
        for calls in duplicates.values()
    ]
    verdicts += [
        _planned(deps, _reviewed(deps, call, actor, context, "plan"), state, thread_id) for call in proposed
    ]
    return {
        "messages": [_refusal(v) for v in verdicts if isinstance(v, Refuse)],
        "cleared": [_cleared(v.call.id, v.call.tool, v.args, None) for v in verdicts if isinstance(v, Run)],
        "pending": [
            {"approval_id": v.request.id, "tool_call_id": v.request.tool_call_id}
            for v in verdicts
            if isinstance(v, Asked)
        ],
    }


def await_approval(state: AgentState, runtime: Runtime[AgentDeps]) -> dict[str, Any]:
    """Pause until every pending approval of this round is final; then clear or reject each call."""
    deps = runtime.context
    pending = state.get("pending", [])
    answer = interrupt({"approvals": [item["approval_id"] for item in pending]})
    if not isinstance(answer, dict) or "approvals" not in answer:
        raise GovernanceViolation("resume value must be a mapping with an 'approvals' key")
    outcomes = [deps.approvals.outcome(item["approval_id"]) for item in pending]
    if not all(outcome.final for outcome in outcomes):
        return {}  # still pending: `after_await` routes back here and we pause again
    _trace_waits(deps, [item["approval_id"] for item in pending])
    cleared = list(state.get("cleared", []))
    messages: list[BaseMessage] = []
    for item, outcome in zip(pending, outcomes, strict=True):
        if outcome.approved:
            cleared.append(
                _cleared(item["tool_call_id"], outcome.tool, dict(outcome.args), item["approval_id"])
            )
        else:
            # The arguments that were up for approval: an approver may have edited them before
            # another rejected them, and the answer must describe what was actually refused.
            text = refusal_text(
                outcome.status.value,
                outcome.tool,
                f"{outcome.status.value}: {outcome.reason}",
                approval_id=item["approval_id"],
                args=dict(outcome.args),
            )
            messages.append(ToolMessage(content=text, tool_call_id=item["tool_call_id"], status="error"))
    return {"messages": messages, "cleared": cleared, "pending": []}


def act(state: AgentState, runtime: Runtime[AgentDeps]) -> dict[str, Any]:
    """Re-check and execute every cleared call exactly once, in order."""
    deps = runtime.context
    thread_id = _thread_id(runtime, state)
    actor = deps.governance.directory.actor(state["actor_id"])
    messages: list[BaseMessage] = []
    pending: list[PendingApproval] = list(state.get("pending", []))
    for call in state.get("cleared", []):
        context = DecisionContext(now=deps.clock(), channel=state.get("channel", "cli"), thread_id=thread_id)
        message = _recheck_and_run(deps, call, actor, context, thread_id, state, pending)
        if message is not None:
            messages.append(message)
    return {"messages": messages, "cleared": [], "pending": pending}


# --- routing ------------------------------------------------------------------------------------


def at_start(state: AgentState) -> str:
    """Skip the ground step (one checkpoint less per turn) when the run has no grounder."""
    return "ground" if state.get("grounded", True) else "plan"


def after_plan(state: AgentState) -> str:
    last = _last_ai(state)
    return "govern" if last is not None and (last.tool_calls or last.invalid_tool_calls) else "__end__"


def after_act(state: AgentState) -> str:
    return "await_approval" if state.get("pending") else "plan"


def after_govern(state: AgentState) -> str:
    return "act" if state.get("cleared") else after_act(state)


def after_await(state: AgentState) -> str:
    if state.get("pending"):
        return "await_approval"
    return "act" if state.get("cleared") else "plan"


# --- helpers ------------------------------------------------------------------------------------


def _reviewed(deps: AgentDeps, call: Proposed, actor: Actor, context: DecisionContext, stage: str) -> Verdict:
    """:func:`review` in an ``opslayer.decision`` span naming the tool, the stage and the outcome."""
    with tracing.span(deps.tracing, "opslayer.decision", tool=call.tool, stage=stage) as current:
        verdict = review(deps, call, actor, context, stage=stage)
        decision = getattr(verdict, "decision", None)
        current.set_attribute("opslayer.tier", "deny" if decision is None else decision.tier.value)
        if decision is not None:
            current.set_attribute("opslayer.rule_ids", list(decision.rule_ids))
    return verdict


def _trace_waits(deps: AgentDeps, request_ids: list[str]) -> None:
    """An ``opslayer.approval_wait`` span per decided request: from its creation to its decision."""
    if deps.tracing is None:
        return
    for request_id in request_ids:
        request = deps.approvals.get(request_id)
        if request is not None and request.decided_at is not None:
            deps.tracing.record(
                "opslayer.approval_wait",
                start=request.created_at,
                end=request.decided_at,
                tool=request.tool,
                approval_id=request.id,
                status=request.status.value,
            )


@dataclass(frozen=True, kw_only=True)
class Asked:
    """An approval request the call now waits for."""

    request: ApprovalRequest


def _planned(deps: AgentDeps, verdict: Verdict, state: AgentState, thread_id: str) -> Verdict | Asked:
    """What a first review leads to: an approve-tier call gets its durable request (or, dry, a note)."""
    if not isinstance(verdict, AwaitApproval):
        return verdict
    call, decision = verdict.call, verdict.decision
    if deps.dry_run:
        needs = " and ".join(f"{r.count} × {' or '.join(r.roles)}" for r in decision.approvals)
        note = f"dry run: would need approval by {needs}; nothing was executed"
        return Refuse(call=call, message=refusal_text("dry_run", call.tool, note), error=False)
    try:
        request = deps.approvals.request(
            thread_id=thread_id,
            tool_call_id=call.id,
            tool=call.tool,
            args=verdict.args,
            decision=decision,
            requester=state["actor_id"],
            channel=state.get("channel", "cli"),
        )
    except RequestKeyTaken as taken:
        return _key_taken(deps, call, taken, thread_id, state["actor_id"])
    return Asked(request=request)


def _refusal(verdict: Refuse) -> ToolMessage:
    status = "error" if verdict.error else "success"
    return ToolMessage(content=verdict.message, tool_call_id=verdict.call.id, status=status)


def _recheck_and_run(
    deps: AgentDeps,
    call: ClearedCall,
    actor: Actor,
    context: DecisionContext,
    thread_id: str,
    state: AgentState,
    pending: list[PendingApproval],
) -> ToolMessage | None:
    """Decide again just before running, hold the call's usage, then run it.

    Policy or usage may have changed since the first decision; the hold makes the last decision's
    view of the limits true until the call has run (see :func:`agent.run.executor.reserve_usage`). A call
    that already ran (this node re-run after a crash) gets its recorded outcome instead.
    """
    done = recorded(deps, call, thread_id=thread_id, actor_id=actor.id)
    if done is not None:
        return _tool_message(call, done)
    release_stale_holds(deps, call, thread_id=thread_id)
    proposed = Proposed(id=call["tool_call_id"], tool=call["tool"], raw_args=call["args"])
    for _ in range(_RESERVE_ATTEMPTS):
        verdict = _reviewed(deps, proposed, actor, context, "recheck")
        if isinstance(verdict, Refuse):
            return _refusal(verdict)
        if isinstance(verdict, AwaitApproval) and not _approval_covers(deps, call, verdict.decision):
            if deps.dry_run:
                note = refusal_text("dry_run", call["tool"], "dry run: would need approval")
                return _refusal(Refuse(call=proposed, message=note, error=False))
            asked = _escalate(deps, call, verdict.decision, actor, thread_id, state)
            if isinstance(asked, Refuse):
                return _refusal(asked)
            pending.append({"approval_id": asked.request.id, "tool_call_id": call["tool_call_id"]})
            return None
        if reserve_usage(deps, call, verdict.decision, thread_id=thread_id) is None:
            approval = deps.approvals.outcome(call["approval_id"]) if call["approval_id"] else None
            with tracing.span(deps.tracing, "opslayer.execution", tool=call["tool"]) as current:
                done = execute(
                    deps, call, verdict.decision, approval=approval, thread_id=thread_id, actor_id=actor.id
                )
                current.set_attribute(
                    "opslayer.status", "dry_run" if done.record is None else done.record.status.value
                )
            return _tool_message(call, done)
        context = DecisionContext(now=deps.clock(), channel=context.channel, thread_id=thread_id)
    text = refusal_text(
        "refused", call["tool"], "its limits kept changing while it was being cleared; nothing ran, try again"
    )
    return ToolMessage(content=text, tool_call_id=call["tool_call_id"], status="error")


def _escalate(
    deps: AgentDeps,
    call: ClearedCall,
    decision: Decision,
    actor: Actor,
    thread_id: str,
    state: AgentState,
) -> Asked | Refuse:
    """Ask for the approval the re-check needs; the call waits for it.

    The request's stage names the policy version, exceeded limits and arguments it was made for, so a
    later re-check under other conditions asks again; the model cannot name a stage, only a call id.
    """
    proposed = Proposed(id=call["tool_call_id"], tool=call["tool"], raw_args=call["args"])
    try:
        request = deps.approvals.request(
            thread_id=thread_id,
            tool_call_id=call["tool_call_id"],
            stage=_recheck_stage(decision),
            tool=call["tool"],
            args=call["args"],
            decision=decision,
            requester=state["actor_id"],
            channel=state.get("channel", "cli"),
        )
    except RequestKeyTaken as taken:
        return _key_taken(deps, proposed, taken, thread_id, actor.id)
    if request.status is ApprovalStatus.APPROVED:  # given, and still not enough: never loop on it
        reason = f"approval {request.id} does not meet what the policy now requires; nothing ran"
        return Refuse(
            call=proposed, message=refusal_text("refused", call["tool"], reason, approval_id=request.id)
        )
    if request.status is ApprovalStatus.PENDING:
        _audit_escalation(deps, call, request, thread_id, actor.id)
    return Asked(request=request)


def _recheck_stage(decision: Decision) -> str:
    identity = json.dumps([decision.policy_version, sorted(decision.exceeded_limits), decision.args_digest])
    return "recheck-" + hashlib.sha256(identity.encode()).hexdigest()[:24]


def _audit_escalation(
    deps: AgentDeps, call: ClearedCall, request: ApprovalRequest, thread_id: str, actor_id: str
) -> None:
    deps.audit.append(
        EventKind.APPROVAL_REQUESTED,
        {
            "escalated_from": call["approval_id"],
            "approval_id": request.id,
            "tool_call_id": call["tool_call_id"],
            "reason": "re-check before execution needs more approval than was given",
        },
        thread_id=thread_id,
        actor=actor_id,
    )


def _key_taken(
    deps: AgentDeps, call: Proposed, taken: RequestKeyTaken, thread_id: str, actor_id: str
) -> Refuse:
    """Refuse (and audit) a call whose approval key already serves another proposal."""
    reason = (
        f"tool_call id {call.id!r} is already taken by another request in this thread; the call did not run"
    )
    payload = {
        "stage": "validation",
        "tool_call_id": call.id,
        "tool": call.tool,
        "tier": "deny",
        "reasons": [reason, str(taken)],
    }
    deps.audit.append(EventKind.DECISION, payload, thread_id=thread_id, actor=actor_id)
    return Refuse(
        call=call, message=refusal_text("refused", call.tool, f"{reason}. Give every tool call its own id.")
    )


def _tool_message(call: ClearedCall, done: Executed) -> ToolMessage:
    status = "success" if done.record is None or done.record.status.value == "completed" else "error"
    return ToolMessage(content=done.text, tool_call_id=call["tool_call_id"], status=status)


def _approval_covers(deps: AgentDeps, call: ClearedCall, decision: Decision) -> bool:
    """True when the approval already given meets the requirements of the fresh decision.

    The approvers must fill the fresh requirements, and every limit the call now exceeds must be
    one the approval was asked for: approving an order that fitted the day's budget is not approving
    the order that, by the time it runs, breaks it — even when the same role is asked for both.
    """
    if not call["approval_id"]:
        return False
    request = deps.approvals.get(call["approval_id"])
    if request is None or request.status is not ApprovalStatus.APPROVED:
        return False
    if not set(decision.exceeded_limits) <= set(request.exceeded_limits):
        return False
    votes = [(vote.approver, frozenset(vote.roles)) for vote in request.counted_votes]
    return approval_satisfied(decision.approvals, votes, request.requester).satisfied


def _cleared(tool_call_id: str, tool: str, args: dict[str, Any], approval_id: str | None) -> ClearedCall:
    from governance.decision import args_digest

    return {
        "tool_call_id": tool_call_id,
        "tool": tool,
        "args": args,
        "args_digest": args_digest(args),
        "approval_id": approval_id,
    }


def _earlier_ids(state: AgentState) -> set[str]:
    """Every tool-call id the thread used before its latest model message (calls and answers)."""
    last = _last_ai(state)
    used: set[str] = set()
    for message in state.get("messages", []):
        if isinstance(message, ToolMessage):
            used.add(message.tool_call_id)
        elif isinstance(message, AIMessage) and message is not last:
            used.update(call["id"] or "" for call in message.tool_calls)
            used.update(bad["id"] or "" for bad in message.invalid_tool_calls)
    return used


def _proposed_calls(
    message: AIMessage | None, used: set[str]
) -> tuple[list[Proposed], dict[str, list[Proposed]]]:
    """The message's tool calls, unparsable ones included; calls sharing an id are set apart, by id.

    Calls that share an id — with each other or with any call made earlier in the thread — are
    refused, not run: approvals and executions are keyed by id, so a reused id could find the
    earlier call's approval or recorded result.
    """
    if message is None:
        return [], {}
    every = [
        Proposed(id=call["id"] or "", tool=call["name"], raw_args=call["args"]) for call in message.tool_calls
    ]
    every += [
        Proposed(id=bad["id"] or "", tool=bad["name"] or "", raw_args=bad["args"] or "")
        for bad in message.invalid_tool_calls
    ]
    by_id: dict[str, list[Proposed]] = {}
    for call in every:
        by_id.setdefault(call.id, []).append(call)
    duplicates = {
        call_id: calls for call_id, calls in sorted(by_id.items()) if len(calls) > 1 or call_id in used
    }
    return [call for call in every if call.id not in duplicates], duplicates


def _storable(reply: BaseMessage) -> BaseMessage:
    """``reply`` with calls whose arguments are not plain JSON turned into invalid calls with their text.

    NaN, infinity and integers beyond 64 bits parse as JSON but cannot be stored by the checkpointer,
    the args digest or the audit trail; validation would refuse such a call anyway.
    """
    if not isinstance(reply, AIMessage):
        return reply
    bad = [call for call in reply.tool_calls if not _plain_json(call["args"])]
    if not bad:
        return reply
    invalid = [
        invalid_tool_call(
            name=call["name"],
            args=json.dumps(call["args"]),
            id=call["id"],
            error="arguments are not plain JSON (NaN, infinity or an integer beyond 64 bits)",
        )
        for call in bad
    ]
    kept = [call for call in reply.tool_calls if all(call is not b for b in bad)]
    return reply.model_copy(
        update={"tool_calls": kept, "invalid_tool_calls": [*reply.invalid_tool_calls, *invalid]}
    )


def _plain_json(value: Any) -> bool:
    if value is None or isinstance(value, bool | str):
        return True
    if isinstance(value, int):
        return -(2**63) <= value < 2**64
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_plain_json(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and _plain_json(item) for key, item in value.items())
    return False


def _last_ai(state: AgentState) -> AIMessage | None:
    for message in reversed(state.get("messages", [])):
        if isinstance(message, AIMessage):
            return message
    return None


def _latest_request(state: AgentState) -> str:
    for message in reversed(state.get("messages", [])):
        if isinstance(message, HumanMessage):
            return str(message.content)
    return ""


def _thread_id(runtime: Runtime[AgentDeps], state: AgentState) -> str:
    from langgraph.config import get_config

    return str(get_config()["configurable"]["thread_id"])


def _describe_llm_error(exc: Exception) -> str:
    name = type(exc).__name__
    status = getattr(exc, "status_code", None)
    hints = {401: "the API key was refused", 403: "access denied", 429: "rate limited by the LLM endpoint"}
    if status in hints:
        return f"LLM endpoint error ({status}): {hints[status]}; nothing was executed"
    if "Timeout" in name:
        return "LLM endpoint timed out; nothing was executed"
    if status is not None and status >= 500:
        return f"LLM endpoint failed ({status}); nothing was executed"
    if "Connection" in name:
        return "LLM endpoint could not be reached; nothing was executed"
    if status is None and isinstance(exc, ValueError | TypeError):  # the client could not parse the reply
        return f"LLM endpoint sent a malformed reply ({exc}); nothing was executed"
    return f"LLM endpoint error ({name}: {exc}); nothing was executed"
