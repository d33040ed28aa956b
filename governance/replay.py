"""Shadow mode: re-decide every recorded tool call under another policy and report tier changes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from governance.audit import AuditEvent, AuditLog, EventKind
from governance.compiled import CompiledPolicy
from governance.decide import decide
from governance.decision import DecisionContext, Tier, ToolCall
from governance.directory import Directory, UnknownPerson
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


def replay(audit: AuditLog, policy: CompiledPolicy, directory: Directory) -> Iterator[ReplayedCall]:
    """Each first-stage decision in the trail, decided again under ``policy``.

    Limits are evaluated against a usage ledger rebuilt as the replay goes: a call's charges count
    once it executed in the recorded history.
    """
    usage = InMemoryUsage()
    executed = _executed_calls(audit)
    for event in audit.events(kinds=[EventKind.DECISION]):
        payload = event.payload
        if payload.get("stage") != "plan" or "args" not in payload:
            continue
        replayed, charges = _redecide(event, policy, directory, usage)
        if (event.thread_id, payload.get("tool_call_id")) in executed:
            for charge in charges:
                usage.record(charge, datetime.fromisoformat(event.at), f"{event.event_id}:{charge.limit_id}")
        yield replayed


def _redecide(
    event: AuditEvent, policy: CompiledPolicy, directory: Directory, usage: InMemoryUsage
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
    decision = decide(policy, call, actor, context, usage)
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
