"""Shadow mode: re-decide every recorded tool call under another policy and report tier changes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from governance.audit import AuditEvent, AuditLog, EventKind
from governance.compiled import CompiledPolicy
from governance.decide import decide
from governance.decision import ApprovalRequirement, DecisionContext, Tier, ToolCall
from governance.directory import Directory, UnknownPerson
from governance.oversight import Oversight, Restriction
from governance.usage import InMemoryUsage


@dataclass(frozen=True, kw_only=True)
class ReplayedCall:
    seq: int
    thread_id: str | None
    actor: str
    tool: str
    old_tier: str
    new_tier: str
    new_rules: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return self.old_tier != self.new_tier


_RESTRICTING = (EventKind.AUTONOMY_PAUSED, EventKind.MONITOR_TRIPPED)
_LIFTING = (EventKind.AUTONOMY_RESUMED, EventKind.MONITOR_CLEARED)


def replay(audit: AuditLog, policy: CompiledPolicy, directory: Directory) -> Iterator[ReplayedCall]:
    """Each first-stage decision in the trail, decided again under ``policy``.

    Limits are evaluated against a usage ledger rebuilt as the replay goes: a call's charges count
    once it executed in the recorded history. Restrictions (autonomy pauses, tripped monitors) are
    rebuilt the same way, from their events: each call is decided under those in force when it was.
    """
    usage = InMemoryUsage()
    executed = _executed_calls(audit)
    restrictions: dict[str, Restriction] = {}
    for event in audit.events(kinds=[EventKind.DECISION, *_RESTRICTING, *_LIFTING]):
        payload = event.payload
        if event.kind in _RESTRICTING or event.kind in _LIFTING:
            _follow(event, restrictions)
            continue
        if payload.get("stage") != "plan" or "args" not in payload:
            continue
        oversight = Oversight(restrictions=tuple(restrictions[key] for key in sorted(restrictions)))
        replayed, charges = _redecide(event, policy, directory, usage, oversight)
        if (event.thread_id, payload.get("tool_call_id")) in executed:
            for charge in charges:
                usage.record(charge, datetime.fromisoformat(event.at), f"{event.event_id}:{charge.limit_id}")
        yield replayed


def _follow(event: AuditEvent, restrictions: dict[str, Restriction]) -> None:
    """Apply a pause, resume, trip or clearance event to the restrictions in force."""
    payload = event.payload
    key = str(payload.get("restriction_id"))
    if event.kind in _LIFTING:
        restrictions.pop(key, None)
        return
    tier = Tier(str(payload.get("tier", Tier.NOTIFY.value)))
    if tier not in (Tier.APPROVE, Tier.DENY):
        return  # a monitor that only notifies restricts nothing
    restrictions[key] = Restriction(
        id=key,
        source=str(payload.get("source")),
        name=str(payload.get("name")),
        scope=str(payload.get("scope")),
        subject=payload.get("subject"),
        tools=tuple(payload.get("tools") or ()),
        tier=tier,
        approvals=tuple(
            ApprovalRequirement(roles=tuple(a["roles"]), count=int(a["count"]), rule_id=str(a["rule_id"]))
            for a in payload.get("approvals") or ()
        ),
        reason=str(payload.get("reason", "")),
        created_at=datetime.fromisoformat(event.at),
        created_by=str(payload.get("created_by", "")),
    )


def _redecide(
    event: AuditEvent,
    policy: CompiledPolicy,
    directory: Directory,
    usage: InMemoryUsage,
    oversight: Oversight,
) -> tuple[ReplayedCall, tuple]:  # type: ignore[type-arg]
    payload = event.payload
    actor_id = event.actor or ""
    try:
        actor = directory.actor(actor_id)
    except UnknownPerson:
        from governance.decision import Actor

        actor = Actor(id=actor_id)
    context = DecisionContext(
        now=datetime.fromisoformat(event.at), channel="replay", thread_id=event.thread_id
    )
    call = ToolCall(tool=payload["tool"], args=payload["args"], facts=payload.get("facts", {}))
    decision = decide(policy, call, actor, context, usage, oversight)
    replayed = ReplayedCall(
        seq=event.seq,
        thread_id=event.thread_id,
        actor=actor_id,
        tool=payload["tool"],
        old_tier=payload.get("tier", Tier.DENY.value),
        new_tier=decision.tier.value,
        new_rules=decision.rule_ids,
    )
    return replayed, decision.usage_charges


def _executed_calls(audit: AuditLog) -> set[tuple[str | None, str]]:
    return {
        (event.thread_id, event.payload.get("tool_call_id", ""))
        for event in audit.events(kinds=[EventKind.EXECUTION])
        if event.payload.get("status") == "completed"
    }
