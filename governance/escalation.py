"""Escalation of undecided approval requests: who is reminded, then escalated to, and when (pure).

For a pending request whose rule sets ``escalate_after`` (E):

- at half of E the eligible approvers are reminded (step ``remind``);
- at E it is escalated (``escalate-1``) to ``escalate_to``: ``manager`` (the managers, in the
  directory, of the eligible approvers), ``role:x``, ``user:y`` or ``#channel``;
- at every further E it climbs one more level of managers (``escalate-2``, …) while there is one.

Escalated people may approve only when the rule says ``escalation_may_approve: true``; then they are
granted the roles of that rule's requirement on this request. Expiry is unchanged.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from governance.approvals import ApprovalRequest
from governance.audit import EventKind
from governance.directory import Directory, UnknownPerson
from governance.policy import Policy, Rule, parse_duration

REMIND = "remind"


@dataclass(frozen=True, kw_only=True, slots=True)
class Step:
    """One reminder or escalation due on a request."""

    request_id: str
    step: str
    kind: EventKind
    level: int
    rule_id: str
    people: tuple[str, ...]
    channels: tuple[str, ...]
    grants: tuple[str, ...]


def due_steps(
    request: ApprovalRequest, policy: Policy, directory: Directory, now: datetime, taken: Collection[str]
) -> list[Step]:
    """The steps due on ``request`` at ``now`` and not ``taken`` yet, in order."""
    rule = _escalating_rule(request, policy)
    if rule is None or request.final or request.veto_window or rule.escalate_after is None:
        return []
    after = parse_duration(rule.escalate_after)
    age = now - request.created_at
    approvers = _eligible(request, rule, directory)
    steps = []
    if age >= after / 2 and REMIND not in taken:
        steps.append(_step(request, rule, REMIND, 0, approvers, (), ()))
    people = approvers
    for level in range(1, _levels(age, after) + 1):
        people, channels = _targets(rule, directory, people, first=level == 1)
        if not people and not channels:
            break
        name = f"escalate-{level}"
        if name not in taken:
            grants = _grants(request, rule) if rule.escalation_may_approve else ()
            steps.append(_step(request, rule, name, level, people, channels, grants))
    return steps


def _levels(age: timedelta, after: timedelta) -> int:
    return int(age / after) if age >= after else 0


def _escalating_rule(request: ApprovalRequest, policy: Policy) -> Rule | None:
    rules = [r for r in policy.rules if r.id in request.rule_ids and r.escalate_after is not None]
    return min(rules, key=lambda r: parse_duration(r.escalate_after or "1s"), default=None)


def _eligible(request: ApprovalRequest, rule: Rule, directory: Directory) -> tuple[str, ...]:
    roles = {role for req in request.requirements for role in req.roles}
    people = {p.id for role in roles for p in directory.people_with_role(role)}
    return tuple(sorted(people - {request.requester}))


def _targets(
    rule: Rule, directory: Directory, previous: tuple[str, ...], *, first: bool
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """People and channels of the next level: managers climb; other targets are told once."""
    people: set[str] = set()
    channels: set[str] = set()
    for target in rule.escalate_to:
        if target == "manager":
            people |= _managers(previous, directory)
        elif not first:
            continue
        elif target.startswith("role:"):
            people |= {p.id for p in directory.people_with_role(target.removeprefix("role:"))}
        elif target.startswith("user:"):
            people.add(target.removeprefix("user:"))
        else:
            channels.add(target)
    return tuple(sorted(people)), tuple(sorted(channels))


def _managers(people: tuple[str, ...], directory: Directory) -> set[str]:
    managers = set()
    for person_id in people:
        try:
            manager = directory.get(person_id).manager
        except UnknownPerson:
            continue
        if manager:
            managers.add(manager)
    return managers


def _grants(request: ApprovalRequest, rule: Rule) -> tuple[str, ...]:
    own = [req for req in request.requirements if req.rule_id == rule.id] or list(request.requirements)
    return tuple(sorted({role for req in own for role in req.roles}))


def _step(
    request: ApprovalRequest,
    rule: Rule,
    name: str,
    level: int,
    people: tuple[str, ...],
    channels: tuple[str, ...],
    grants: tuple[str, ...],
) -> Step:
    return Step(
        request_id=request.id,
        step=name,
        kind=EventKind.APPROVAL_REMINDER if name == REMIND else EventKind.APPROVAL_ESCALATED,
        level=level,
        rule_id=rule.id,
        people=people,
        channels=channels,
        grants=grants,
    )
