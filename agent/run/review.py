"""Governance for one tool call: validate, look up facts, decide, audit.

Everything here is decided before anything runs; :mod:`agent.run.executor` is the only code that runs
handlers, and it demands the decision this module produced.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from governance.audit import EventKind
from governance.decide import decide
from governance.decision import Actor, Decision, DecisionContext, Tier, ToolCall, args_digest
from governance.usage import UsageReader
from tools.errors import InvalidArguments, OpsError
from tools.spec import Systems, ToolSpec, canonical_args

if TYPE_CHECKING:
    from agent.run.governance import Governance
    from agent.run.state import AgentDeps


def lookup_facts(spec: ToolSpec, args: Any, systems: Systems) -> tuple[Mapping[str, Any], str | None]:
    """The read-only facts policy needs for this call, or an explanation of why they are missing.

    Missing facts are not an error here: conditions that need them fail closed in ``decide``. But
    ``InvalidArguments`` propagates: the system of record refused the arguments themselves (a price
    below the catalogue's, a SKU nobody offers), so the call is invalid, like one failing validation.
    """
    if spec.facts is None:
        return {}, None
    try:
        return dict(spec.facts(args, systems)), None
    except InvalidArguments:
        raise
    except OpsError as exc:
        return {}, f"facts for {spec.name} could not be looked up: {exc}"


@dataclass(frozen=True, kw_only=True)
class Assessed:
    """A call through the one pipeline: validated, canonical arguments, facts looked up, decided."""

    call: ToolCall
    decision: Decision
    note: str | None  # why facts are missing, when they are (conditions on them failed closed)


def assess(
    governance: Governance,
    systems: Systems | None,
    usage: UsageReader,
    *,
    tool: str,
    raw_args: Any,
    actor: Actor,
    context: DecisionContext,
) -> Assessed:
    """Validate → canonicalise → look up facts → decide: the one path for the graph, explain and edits.

    An unknown tool is decided as-is (deny). Raises ``InvalidArguments`` for arguments that fail
    validation or that the system of record refuses (a price below the supplier's catalogue). Without
    ``systems`` no facts are looked up (conditions on them fail closed).
    """
    call, note = ToolCall(tool=tool, args={}), None
    if tool in governance.registry:
        spec = governance.registry.get(tool)
        parsed = spec.parse_args(raw_args)
        facts, note = lookup_facts(spec, parsed, systems) if systems is not None else ({}, None)
        call = ToolCall(tool=tool, args=canonical_args(parsed), facts=facts)
    decision = decide(governance.policy, call, actor, context, usage, governance.oversight())
    return Assessed(call=call, decision=decision, note=note)


def decide_edit(
    governance: Governance,
    systems: Systems | None,
    usage: UsageReader,
    *,
    tool: str,
    args: Mapping[str, Any],
    requester: str,
    context: DecisionContext,
) -> Decision:
    """The decision on an approver's edited arguments, as the requester's own call (edit-and-approve)."""
    actor = governance.directory.actor(requester)
    return assess(
        governance, systems, usage, tool=tool, raw_args=dict(args), actor=actor, context=context
    ).decision


def explain(
    governance: Governance,
    *,
    tool: str,
    raw_args: Mapping[str, Any],
    actor: Actor,
    now: datetime,
    systems: Systems | None,
    usage: UsageReader,
    channel: str = "cli",
) -> tuple[Decision, list[str]]:
    """Decide one proposed call without executing it: the decision and notes (facts not looked up)."""
    context = DecisionContext(now=now, channel=channel)
    assessed = assess(governance, systems, usage, tool=tool, raw_args=raw_args, actor=actor, context=context)
    return assessed.decision, [assessed.note] if assessed.note else []


@dataclass(frozen=True, kw_only=True)
class Proposed:
    """A tool call as the model proposed it."""

    id: str
    tool: str
    raw_args: Any  # a mapping, or the raw text of arguments that were not valid JSON


@dataclass(frozen=True, kw_only=True)
class Run:
    """The call may run as decided (auto or notify tier)."""

    call: Proposed
    args: dict[str, Any]  # canonical arguments: exactly what will run
    decision: Decision


@dataclass(frozen=True, kw_only=True)
class Refuse:
    """Nothing runs; ``message`` is the tool message the model gets (JSON with status and reason)."""

    call: Proposed
    message: str
    error: bool = True  # False for a dry run's "would run / would need approval"


@dataclass(frozen=True, kw_only=True)
class AwaitApproval:
    """The call needs the approvals ``decision.approvals`` names before it may run."""

    call: Proposed
    args: dict[str, Any]
    decision: Decision


Verdict = Run | Refuse | AwaitApproval
"""What reviewing one call concluded; :func:`review` audits it before returning it."""


def review(deps: AgentDeps, call: Proposed, actor: Actor, context: DecisionContext, stage: str) -> Verdict:
    """Validate and decide ``call`` (see :func:`assess`); the decision or the refusal is audited.

    Arguments the facts lookup refuses (``InvalidArguments`` from the system of record) are refused
    exactly like arguments that fail validation.
    """
    try:
        assessed = assess(
            deps.governance,
            deps.systems,
            deps.usage,
            tool=call.tool,
            raw_args=call.raw_args,
            actor=actor,
            context=context,
        )
    except InvalidArguments as exc:
        return _invalid(deps, call, actor, context, str(exc))
    return _decided(deps, call, assessed, actor, context, stage)


def refusal_text(status: str, tool: str, reason: str, **extra: Any) -> str:
    """A ToolMessage body the model (and the offline planner) can read: JSON with status and reason."""
    return json.dumps({"status": status, "tool": tool, "reason": reason, **extra}, ensure_ascii=False)


def _decided(
    deps: AgentDeps, call: Proposed, assessed: Assessed, actor: Actor, context: DecisionContext, stage: str
) -> Verdict:
    tool_call, decision, note = assessed.call, assessed.decision, assessed.note
    payload = {
        "stage": stage,
        "tool_call_id": call.id,
        "args": dict(tool_call.args),
        "facts": dict(tool_call.facts),
        **decision.to_dict(),
        **({"note": note} if note else {}),
    }
    deps.audit.append(EventKind.DECISION, payload, thread_id=context.thread_id, actor=actor.id)
    args = dict(tool_call.args)
    if decision.tier is Tier.DENY:
        reason = f"refused by policy: {'; '.join(decision.reasons)}"
        message = refusal_text("refused", call.tool, reason, rule_ids=list(decision.rule_ids))
        return Refuse(call=call, message=message)
    if decision.tier is Tier.APPROVE or decision.veto is not None:  # a veto window waits like approval
        return AwaitApproval(call=call, args=args, decision=decision)
    return Run(call=call, args=args, decision=decision)


def refuse_duplicates(deps: AgentDeps, calls: list[Proposed], actor: Actor, context: DecisionContext) -> str:
    """Audit the refusal of every call sharing one tool_call id; return the model-facing text.

    None of them runs: one answer per id could not say which of the calls it is for.
    """
    if len(calls) == 1:
        reason = f"tool_call id {calls[0].id!r} was already used earlier in this thread; the call did not run"
    else:
        reason = f"duplicate tool_call id {calls[0].id!r}: none of the {len(calls)} calls with this id ran"
    for call in calls:
        _audit_refusal(deps, call, actor, context, reason)
    tools = sorted({call.tool for call in calls})
    return refusal_text("refused", ", ".join(tools), f"{reason}. Give every tool call its own id.")


def _invalid(deps: AgentDeps, call: Proposed, actor: Actor, context: DecisionContext, message: str) -> Refuse:
    _audit_refusal(deps, call, actor, context, message)
    text = refusal_text("invalid", call.tool, f"{message}. Fix the arguments and call the tool again.")
    return Refuse(call=call, message=text)


def _audit_refusal(
    deps: AgentDeps, call: Proposed, actor: Actor, context: DecisionContext, message: str
) -> None:
    """A call refused before policy saw it, audited as a deny decision of the validation stage."""
    payload = {
        "stage": "validation",
        "tool_call_id": call.id,
        "tool": call.tool,
        "tier": "deny",
        "reasons": [message],
        "raw_args": call.raw_args if isinstance(call.raw_args, Mapping | str) else repr(call.raw_args),
        "args_digest": _raw_digest(call.raw_args),
        "policy_version": deps.governance.policy.version,
    }
    deps.audit.append(EventKind.DECISION, payload, thread_id=context.thread_id, actor=actor.id)


def _raw_digest(raw: Any) -> str:
    if isinstance(raw, Mapping):
        try:
            return args_digest(raw)
        except (TypeError, ValueError):  # not JSON (NaN, …): digest its text instead
            pass
    return args_digest({"raw": str(raw)})
