"""The values ``decide`` takes and returns: a tool call, who asks, in which context, and the verdict.

Also the pure approval rule used later by the review queue: :func:`approval_satisfied`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from governance.canonical import digest

if TYPE_CHECKING:
    from governance.usage import UsageCharge


class Tier(StrEnum):
    """What happens to a call, weakest to strongest: the strongest tier among matching rules wins."""

    AUTO = "auto"
    NOTIFY = "notify"
    APPROVE = "approve"
    DENY = "deny"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Tier.AUTO: 0, Tier.NOTIFY: 1, Tier.APPROVE: 2, Tier.DENY: 3}


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolCall:
    """A proposed call: tool name, validated JSON-able arguments, and read-only facts looked up for policy."""

    tool: str
    args: Mapping[str, Any]
    facts: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class Actor:
    """The person on whose behalf the call runs."""

    id: str
    roles: frozenset[str] = frozenset()


@dataclass(frozen=True, kw_only=True, slots=True)
class DecisionContext:
    """Everything about the moment of the decision; ``now`` comes from the caller, never from a clock."""

    now: datetime
    channel: str = "cli"
    thread_id: str | None = None

    def __post_init__(self) -> None:
        if self.now.tzinfo is None or self.now.utcoffset() is None:
            raise ValueError(f"DecisionContext.now must be timezone-aware, got {self.now.isoformat()}")


@dataclass(frozen=True, kw_only=True, slots=True)
class ApprovalRequirement:
    """``count`` distinct people, none of them the requester, each holding one of ``roles``."""

    roles: tuple[str, ...]
    count: int
    rule_id: str

    def to_dict(self) -> dict[str, Any]:
        return {"roles": list(self.roles), "count": self.count, "rule_id": self.rule_id}


@dataclass(frozen=True, kw_only=True, slots=True)
class VetoWindow:
    """A notify-tier call waits ``seconds`` before it runs; one person holding ``roles`` may stop it."""

    seconds: int
    roles: tuple[str, ...]
    rule_id: str

    def to_dict(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "roles": list(self.roles), "rule_id": self.rule_id}


@dataclass(frozen=True, kw_only=True, slots=True)
class Decision:
    """The verdict on one call.

    ``approvals`` is non-empty only for ``approve`` and must all be met; ``notify`` lists targets
    (``role:``, ``user:``, ``#channel``) for ``notify`` and ``approve``; a ``deny`` carries neither.
    ``usage_charges`` is what to add to the usage ledger once the call has executed.
    """

    tool: str
    tier: Tier
    rule_ids: tuple[str, ...]
    reasons: tuple[str, ...]
    approvals: tuple[ApprovalRequirement, ...]
    notify: tuple[str, ...]
    policy_version: str
    args_digest: str
    condition_errors: tuple[str, ...] = ()
    usage_charges: tuple[UsageCharge, ...] = ()
    exceeded_limits: tuple[str, ...] = ()
    veto: VetoWindow | None = None
    """Set on a notify decision whose rule has a veto window: the call waits it out first."""
    restrictions: tuple[str, ...] = ()
    """Ids of the restrictions (tripped monitors, autonomy pauses) that held this call."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "tier": self.tier.value,
            "rule_ids": list(self.rule_ids),
            "reasons": list(self.reasons),
            "approvals": [requirement.to_dict() for requirement in self.approvals],
            "notify": list(self.notify),
            "policy_version": self.policy_version,
            "args_digest": self.args_digest,
            "condition_errors": list(self.condition_errors),
            "usage_charges": [_charge_dict(charge) for charge in self.usage_charges],
            "exceeded_limits": list(self.exceeded_limits),
            **({"veto": self.veto.to_dict()} if self.veto is not None else {}),
            **({"restrictions": list(self.restrictions)} if self.restrictions else {}),
        }


def args_digest(args: Mapping[str, Any]) -> str:
    """sha256 hex of the canonical JSON of ``args`` (:mod:`governance.canonical`): what an approval is
    bound to. Arguments JSON cannot hold (NaN, objects) raise: they never reach a decision."""
    return digest(args)


def _charge_dict(charge: UsageCharge) -> dict[str, Any]:
    return {"limit_id": charge.limit_id, "key": charge.key, "amount": charge.amount}


@dataclass(frozen=True, kw_only=True, slots=True)
class ApprovalCheck:
    """Whether votes meet all requirements, who fills which requirement, and why not if they don't."""

    satisfied: bool
    explanation: str
    assignments: tuple[tuple[str, str], ...] = ()
    """(approver id, rule id of the requirement they count toward)."""


def approval_satisfied(
    requirements: Sequence[ApprovalRequirement],
    votes: Sequence[tuple[str, AbstractSet[str]]],
    requester_id: str,
) -> ApprovalCheck:
    """Check approve votes against requirements.

    Each requirement needs ``count`` distinct approvers holding one of its roles; the requester never
    counts; a person counts toward one slot only, so someone holding two required roles cannot satisfy
    a two-person rule alone. Solved as a bipartite matching, so the result does not depend on vote order.
    """
    approvers = _eligible_approvers(votes, requester_id)
    slots = [index for index, requirement in enumerate(requirements) for _ in range(requirement.count)]
    slot_of = _match(slots, approvers, requirements)
    assignments = tuple(
        sorted((approver, requirements[slots[slot]].rule_id) for approver, slot in slot_of.items())
    )
    missing = _missing(requirements, slots, set(slot_of.values()))
    if missing:
        notes = _ignored_votes(votes, requester_id, approvers, requirements)
        return ApprovalCheck(satisfied=False, explanation="; ".join(missing + notes), assignments=assignments)
    return ApprovalCheck(satisfied=True, explanation=_approved_by(assignments), assignments=assignments)


def _approved_by(assignments: tuple[tuple[str, str], ...]) -> str:
    if not assignments:
        return "no approval required"
    return "approved by " + ", ".join(f"{approver} (rule {rule_id!r})" for approver, rule_id in assignments)


def _eligible_approvers(
    votes: Sequence[tuple[str, AbstractSet[str]]], requester_id: str
) -> dict[str, frozenset[str]]:
    approvers: dict[str, frozenset[str]] = {}
    for approver_id, roles in votes:
        if approver_id != requester_id:
            approvers[approver_id] = approvers.get(approver_id, frozenset()) | frozenset(roles)
    return dict(sorted(approvers.items()))


def _match(
    slots: list[int], approvers: dict[str, frozenset[str]], requirements: Sequence[ApprovalRequirement]
) -> dict[str, int]:
    """Maximum matching approver -> slot by augmenting paths (Kuhn); sizes here are a handful."""
    holder: dict[int, str] = {}

    def can_fill(slot: int, approver: str) -> bool:
        return not approvers[approver].isdisjoint(requirements[slots[slot]].roles)

    def augment(approver: str, visited: set[int]) -> bool:
        for slot in range(len(slots)):
            if slot in visited or not can_fill(slot, approver):
                continue
            visited.add(slot)
            if slot not in holder or augment(holder[slot], visited):
                holder[slot] = approver
                return True
        return False

    for approver in approvers:
        augment(approver, set())
    return {approver: slot for slot, approver in holder.items()}


def _missing(requirements: Sequence[ApprovalRequirement], slots: list[int], filled: set[int]) -> list[str]:
    short: dict[int, int] = {}
    for slot, index in enumerate(slots):
        if slot not in filled:
            short[index] = short.get(index, 0) + 1
    return [
        f"needs {count} more approver(s) holding {' or '.join(requirements[index].roles)} "
        f"(rule {requirements[index].rule_id!r})"
        for index, count in sorted(short.items())
    ]


def _ignored_votes(
    votes: Sequence[tuple[str, AbstractSet[str]]],
    requester_id: str,
    approvers: Mapping[str, frozenset[str]],
    requirements: Sequence[ApprovalRequirement],
) -> list[str]:
    notes = []
    if any(approver_id == requester_id for approver_id, _ in votes):
        notes.append(f"{requester_id} requested this call and cannot approve it")
    required = {role for requirement in requirements for role in requirement.roles}
    notes.extend(
        f"{approver} holds none of the required roles"
        for approver, roles in approvers.items()
        if roles.isdisjoint(required)
    )
    return notes
