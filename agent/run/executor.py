"""The single path from a tool call to a tool handler.

:func:`execute` demands the governance decision for *exactly* these arguments (and, for the approve
tier, the final approved outcome bound to the same args digest). Anything else is a broken
invariant and raises :class:`GovernanceViolation` — a crash, never a message to the model.
Execution is exactly-once per (thread, tool_call_id, args digest) through the executions ledger.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from agent.run.errors import GovernanceViolation, NotificationFailed
from agent.run.notifier import Notification, recipients
from agent.run.state import AgentDeps, ClearedCall
from governance.approvals import ApprovalOutcome, ApprovalUnusable
from governance.audit import EventKind
from governance.decision import Decision, Tier, args_digest
from governance.executions import ExecutionRecord, ExecutionStatus, idempotency_key, usage_charge_key
from governance.reservations import hold_keys, holds
from tools.registry import result_to_json, run
from tools.spec import CallContext, SideEffect


@dataclass(frozen=True, kw_only=True)
class Executed:
    text: str  # what the model is told
    record: ExecutionRecord | None  # None for a dry run


def execute(
    deps: AgentDeps,
    call: ClearedCall,
    decision: Decision,
    *,
    approval: ApprovalOutcome | None,
    thread_id: str,
    actor_id: str,
) -> Executed:
    """Run ``call`` once, after notifying when the decision says so; see the module docstring.

    An approve-tier call consumes its approval first: the approval authorises this one execution
    (key and digest) and no other. The usage the call holds (see :func:`reserve_usage`) becomes its
    charge when it ran, and is released when it failed.
    """
    _demand_allowed(call, decision, approval)
    spec = deps.governance.registry.get(call["tool"])
    key = execution_key(call, thread_id)
    if deps.dry_run and spec.side_effect is not SideEffect.READ:
        return Executed(text=_dry_run_text(call, decision), record=None)
    if approval is not None and decision.tier is Tier.APPROVE:
        _consume(deps, approval, key, call["args_digest"])
    if decision.notify:
        _notify_once(deps, call, decision, key=key, thread_id=thread_id, actor_id=actor_id)
    context = CallContext(systems=deps.systems, actor_id=actor_id, idempotency_key=key)

    def handler() -> str:
        result = result_to_json(run(spec, call["args"], context))
        # Charged before the ledger records the outcome: a completed record implies the charge.
        _charge_usage(deps, decision, key)
        return result

    record = deps.executions.run_once(
        key, tool=call["tool"], args_digest=call["args_digest"], thread_id=thread_id, handler=handler
    )
    _release_if_failed(deps, call, record)
    _audit_execution(deps, call, record, thread_id=thread_id, actor_id=actor_id)
    return Executed(text=_result_text(call, record), record=record)


def execution_key(call: ClearedCall, thread_id: str) -> str:
    """The call's key in the executions ledger, also its idempotency key in the backend."""
    return idempotency_key(thread_id, call["tool_call_id"], call["args_digest"])


def reserve_usage(deps: AgentDeps, call: ClearedCall, decision: Decision, *, thread_id: str) -> str | None:
    """Hold what ``call`` counts against its limits, atomically; None if held, else a full limit's id.

    Made when the call is cleared to run, right after its last decision: a limit the decision found
    room in must still have that room when the hold is taken (another session may have taken it
    meanwhile), so the caller decides again when a limit's id comes back.
    """
    if deps.dry_run or not decision.usage_charges:
        return None
    key = execution_key(call, thread_id)
    now = deps.clock()
    return deps.usage.reserve(holds(deps.governance.policy, decision, now=now, execution_key=key), now)


def release_stale_holds(deps: AgentDeps, call: ClearedCall, *, thread_id: str) -> None:
    """Drop holds an interrupted earlier attempt left, unless that attempt may still be running.

    Without this the call's own hold would count against it when it is decided again.
    """
    key = execution_key(call, thread_id)
    keys = hold_keys(deps.governance.policy, call["tool"], key)
    if keys and deps.executions.get(key) is None:
        deps.usage.release(keys)


def recorded(deps: AgentDeps, call: ClearedCall, *, thread_id: str, actor_id: str) -> Executed | None:
    """The recorded outcome of ``call`` if it already ran (the node is re-run after a crash), audited.

    Such a call must not be decided again: the usage it was charged would count against it, and
    what ran cannot be taken back. ``None`` when the ledger has no outcome for it.
    """
    record = deps.executions.get(execution_key(call, thread_id))
    if record is None or record.status is ExecutionStatus.STARTED:
        return None
    _release_if_failed(deps, call, record)
    replayed = replace(record, replayed=True)
    _audit_execution(deps, call, replayed, thread_id=thread_id, actor_id=actor_id)
    return Executed(text=_result_text(call, replayed), record=replayed)


def _demand_allowed(call: ClearedCall, decision: Decision, approval: ApprovalOutcome | None) -> None:
    digest = args_digest(call["args"])
    if digest != call["args_digest"] or decision.args_digest != digest or decision.tool != call["tool"]:
        raise GovernanceViolation(f"decision for {decision.tool} does not cover call {call['tool_call_id']}")
    if decision.tier in (Tier.AUTO, Tier.NOTIFY):
        return
    if decision.tier is Tier.APPROVE and approval is not None and approval.approved:
        if approval.args_digest == digest:
            return
        raise GovernanceViolation(f"approval {approval.request_id} is for other arguments than the call")
    raise GovernanceViolation(
        f"{decision.tier.value}-tier call {call['tool_call_id']} has no approval to run"
    )


def _consume(deps: AgentDeps, approval: ApprovalOutcome, key: str, digest: str) -> None:
    try:
        deps.approvals.consume(approval.request_id, execution_key=key, args_digest=digest)
    except ApprovalUnusable as exc:
        raise GovernanceViolation(str(exc)) from exc


def _release_if_failed(deps: AgentDeps, call: ClearedCall, record: ExecutionRecord) -> None:
    if record.status is ExecutionStatus.FAILED:
        deps.usage.release(hold_keys(deps.governance.policy, call["tool"], record.key))


def _notify_once(
    deps: AgentDeps, call: ClearedCall, decision: Decision, *, key: str, thread_id: str, actor_id: str
) -> None:
    """Notify before executing; keyed in the ledger so a re-run after a crash does not notify twice.

    Raises if the notifier fails: the call does not run unannounced, and a resume tries again.
    """
    notification = Notification(
        thread_id=thread_id,
        tool=call["tool"],
        requester=actor_id,
        targets=decision.notify,
        recipients=recipients(decision.notify, deps.governance.directory),
        text=f"{actor_id} is running {call['tool']} {json.dumps(call['args'], ensure_ascii=False)}",
    )

    def send() -> str:
        deps.notifier.send(notification)
        deps.audit.append(
            EventKind.NOTIFICATION,
            {
                "tool_call_id": call["tool_call_id"],
                "tool": call["tool"],
                "targets": list(notification.targets),
                "recipients": list(notification.recipients),
                "text": notification.text,
                "args_digest": call["args_digest"],
            },
            thread_id=thread_id,
            actor=actor_id,
        )
        return "sent"

    # A notification that failed is sent again when the thread is resumed: telling people twice is
    # better than a call that can never run. One that went out is never repeated.
    record = deps.executions.run_once(
        "notify:" + key,
        tool=call["tool"],
        args_digest=call["args_digest"],
        thread_id=thread_id,
        handler=send,
        retry_failed=True,
    )
    if record.status.value != "completed":
        raise NotificationFailed(f"notification before {call['tool']} failed: {record.error}")


def _charge_usage(deps: AgentDeps, decision: Decision, key: str) -> None:
    now = deps.clock()
    for charge in decision.usage_charges:
        deps.usage.record(charge, now, usage_charge_key(key, charge.limit_id))


def _audit_execution(
    deps: AgentDeps, call: ClearedCall, record: ExecutionRecord, *, thread_id: str, actor_id: str
) -> None:
    payload = {
        "tool_call_id": call["tool_call_id"],
        "tool": call["tool"],
        "args_digest": call["args_digest"],
        "approval_id": call["approval_id"],
        "status": record.status.value,
        "replayed": record.replayed,
        "result": record.result if record.result is None else record.result[:2000],
        "error": record.error,
        "error_type": record.error_type,
    }
    deps.audit.append(EventKind.EXECUTION, payload, thread_id=thread_id, actor=actor_id)


def _result_text(call: ClearedCall, record: ExecutionRecord) -> str:
    """What the model is told: the tool's result, or the failure with the arguments that ran.

    A result describes the record the call created or changed, so it already shows arguments an
    approver edited. A failure has no record: it carries ``args`` — what ran, which after
    edit-and-approve is not what the model proposed — so the answer can say what failed.
    """
    if record.status.value == "completed":
        return record.result or ""
    failure = {
        "status": "failed",
        "tool": call["tool"],
        "error": record.error,
        "error_type": record.error_type,
        "args": call["args"],
    }
    return json.dumps(failure, ensure_ascii=False)


def _dry_run_text(call: ClearedCall, decision: Decision) -> str:
    extra = f" and would notify {', '.join(decision.notify)} first" if decision.notify else ""
    return json.dumps(
        {
            "status": "dry_run",
            "tool": call["tool"],
            "reason": f"dry run: would run (tier {decision.tier.value}){extra}; nothing was executed",
        }
    )
