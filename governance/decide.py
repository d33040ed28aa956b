"""``decide``: the deterministic verdict on one tool call under a compiled policy.

Pure: no I/O except reading usage totals through the given reader (whose errors propagate), no
clock (``context.now``), no randomness. Semantics:

- a tool outside the catalogue is denied;
- every candidate rule whose ``during`` windows contain ``now`` and whose ``when`` holds matches;
  the strongest tier among matches wins, approval requirements of approve-tier matches all apply,
  notify targets of notify- and approve-tier matches are united;
- fail closed: a ``when`` that raises or is not a bool counts as matched, and is reported;
- if no rule matched cleanly (without such an error), ``defaults.unmatched_tool`` applies too;
- a limit whose ``when`` holds is exceeded when used + amount > max (exactly max is fine) and then
  escalates to its ``exceeded_tier``; a limit whose ``when`` or ``sum`` cannot be evaluated counts
  as exceeded;
- every restriction in ``oversight`` that holds the call (a tripped monitor, an autonomy pause) raises
  it to the restriction's tier (approve or deny) and is named in the rule ids (``monitor:<id>``,
  ``pause:<id>``) and reasons;
- a notify decision whose notify rules have a veto window carries the longest one (``veto``).

CEL variables: ``args`` and ``facts`` (maps from the call), ``actor`` (``{id, roles}``), ``now``
(timestamp), ``context`` (``{channel, thread_id}``), ``usage`` (``{limit_id: used in window}`` for
the limits on this tool).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

import cel

from governance.compiled import (
    CompiledLimit,
    CompiledPolicy,
    CompiledRule,
    FlatInput,
    Programs,
    Reads,
    Selection,
    ToolPlan,
)
from governance.decision import (
    Actor,
    ApprovalRequirement,
    Decision,
    DecisionContext,
    Tier,
    ToolCall,
    VetoWindow,
    args_digest,
)
from governance.expressions import Expression, Failure
from governance.oversight import NO_OVERSIGHT, Oversight
from governance.usage import GLOBAL_KEY, UsageCharge, UsageReader, exceeds

_TIERS = (Tier.AUTO, Tier.NOTIFY, Tier.APPROVE, Tier.DENY)
# Shared activations kept per selection (one per distinct actor / context values read); then start over.
_MAX_SHARED = 256


def decide(
    policy: CompiledPolicy,
    call: ToolCall,
    actor: Actor,
    context: DecisionContext,
    usage: UsageReader,
    oversight: Oversight = NO_OVERSIGHT,
) -> Decision:
    """The decision on ``call`` by ``actor`` at ``context.now`` under ``policy`` and the restrictions
    in ``oversight``; see the module docstring."""
    verdict = _Verdict()
    plan = policy.plans.get(call.tool)
    if plan is None:
        verdict.add(Tier.DENY.rank, f"tool {call.tool!r} is not in the catalogue; unknown tools are denied")
        return verdict.decision(call, policy.version)
    # Rules outside their windows, and rules and limits guarded out by a missing `args` / `facts`
    # key (false whatever the rest says) need no CEL.
    selection = plan.select(call.args, call.facts, context.now)
    inputs = _Inputs(plan, call, actor, context, usage)
    values = inputs.values(selection)
    clean = _apply_rules(selection.rules, values, verdict)
    for limit in selection.limits:
        _apply_limit(limit, values, inputs, verdict)
    if not clean:
        _apply_default(policy, call.tool, verdict)
    for restriction in oversight.holding(call.tool, actor.id, context.thread_id):
        verdict.restrict(restriction.id, restriction.rule_id, restriction.tier, restriction.approvals)
        verdict.add(restriction.tier.rank, f"{restriction.rule_id}: {restriction.describe()}")
    return verdict.decision(call, policy.version)


def _apply_rules(rules: tuple[CompiledRule, ...], values: list[Any], verdict: _Verdict) -> bool:
    """Apply matching rules (all within their windows); True if one matched without a condition error."""
    clean = False
    for rule in rules:
        value = True if rule.slot is None else values[rule.slot]
        if value is True:
            verdict.match(rule)
            clean = True
        elif value is not False:
            verdict.match(rule)
            problem = _problem(value, "a bool")
            verdict.error(f"condition of rule {rule.id!r} could not be evaluated: {problem}", "matched")
    return clean


def _apply_limit(limit: CompiledLimit, values: list[Any], inputs: _Inputs, verdict: _Verdict) -> None:
    applies = True if limit.condition_slot is None else values[limit.condition_slot]
    if applies is False:
        return
    error = None if applies is True else _problem(applies, "a bool")
    amount, amount_error = _amount(limit, values)
    if amount is not None:
        key = inputs.actor.id if limit.per_actor else GLOBAL_KEY
        verdict.charges.append(UsageCharge(limit_id=limit.id, key=key, amount=amount))
    if error is not None:
        verdict.error(f"condition of limit {limit.id!r} could not be evaluated: {error}", "exceeded")
        verdict.exceed(limit, None)
    elif amount is None:
        verdict.error(f"amount of limit {limit.id!r} could not be evaluated: {amount_error}", "exceeded")
        verdict.exceed(limit, None)
    else:
        used = inputs.used(limit)
        if exceeds(used, amount, limit.max):
            usage = f"{_number(used)} used in {limit.window_text} + {_number(amount)}"
            verdict.exceed(limit, f"{limit.id}: {usage} would exceed {_number(limit.max)}")


def _amount(limit: CompiledLimit, values: list[Any]) -> tuple[float | None, str | None]:
    if limit.amount_slot is None:
        return 1.0, None
    value = values[limit.amount_slot]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        return None, _problem(value, "a finite number ≥ 0")
    return float(value), None


def _problem(value: Any, expected: str) -> str:
    return (
        value if isinstance(value, Failure) else f"returned {type(value).__name__} {value!r}, not {expected}"
    )


def _apply_default(policy: CompiledPolicy, tool: str, verdict: _Verdict) -> None:
    fallback = policy.unmatched
    verdict.add(fallback.tier.rank, _default_reason(tool, fallback.tier, bool(verdict.rule_ids)))
    verdict.collect(fallback.tier, fallback.approvals, fallback.notify)


@cache  # a catalogue's tools times four tiers, twice
def _default_reason(tool: str, tier: Tier, matched: bool) -> str:
    if matched:
        return f"no rule matched {tool!r} cleanly; the unmatched-tool default ({tier}) applies too"
    return f"no rule matches {tool!r}; the default for unmatched tools is {tier}"


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.2f}"


class _Verdict:
    """Collects what matched; turns into a :class:`Decision` once."""

    __slots__ = (
        "approvals",
        "charges",
        "errors",
        "exceeded",
        "notify",
        "rank",
        "reasons",
        "restrictions",
        "rule_ids",
        "vetoes",
    )

    def __init__(self) -> None:
        self.rank = 0
        self.rule_ids: list[str] = []
        self.reasons: list[str] = []
        self.errors: list[str] = []
        self.approvals: list[ApprovalRequirement] = []
        self.notify: list[str] = []
        self.charges: list[UsageCharge] = []
        self.exceeded: list[str] = []
        self.vetoes: list[VetoWindow] = []
        self.restrictions: list[str] = []

    def add(self, rank: int, reason: str) -> None:
        if rank > self.rank:
            self.rank = rank
        self.reasons.append(reason)

    def collect(
        self, tier: Tier, approvals: tuple[ApprovalRequirement, ...], notify: tuple[str, ...]
    ) -> None:
        if tier is Tier.APPROVE:
            self.approvals += approvals
        if tier is Tier.APPROVE or tier is Tier.NOTIFY:
            self.notify += notify

    def match(self, rule: CompiledRule) -> None:
        self.rule_ids.append(rule.id)
        self.add(rule.rank, rule.reason)
        if rule.approvals:
            self.approvals += rule.approvals
        if rule.notify:
            self.notify += rule.notify
        if rule.veto is not None:
            self.vetoes.append(rule.veto)

    def restrict(
        self, restriction_id: str, rule_id: str, tier: Tier, approvals: tuple[ApprovalRequirement, ...]
    ) -> None:
        self.restrictions.append(restriction_id)
        self.rule_ids.append(rule_id)
        if tier is Tier.APPROVE:
            self.approvals += approvals

    def exceed(self, limit: CompiledLimit, reason: str | None) -> None:
        """Escalate to the limit's tier; ``reason`` is None when an error (already reported) is the cause."""
        self.exceeded.append(limit.id)
        self.rank = max(self.rank, limit.tier.rank)
        if reason is not None:
            self.reasons.append(reason + (f" — {limit.reason}" if limit.reason else ""))
        self.collect(limit.tier, limit.approvals, limit.notify)

    def error(self, message: str, treated_as: str) -> None:
        self.errors.append(message)
        self.reasons.append(f"{message} — treated as {treated_as} (fail closed)")

    def decision(self, call: ToolCall, version: str) -> Decision:
        tier = _TIERS[self.rank]
        return Decision(
            tool=call.tool,
            tier=tier,
            rule_ids=tuple(self.rule_ids),
            reasons=tuple(self.reasons),
            approvals=_merge(self.approvals) if tier is Tier.APPROVE else (),
            notify=_targets(self.notify) if tier is Tier.APPROVE or tier is Tier.NOTIFY else (),
            policy_version=version,
            args_digest=_digest(call.args),
            condition_errors=tuple(self.errors),
            usage_charges=tuple(self.charges),
            exceeded_limits=tuple(self.exceeded),
            veto=_veto(self.vetoes) if tier is Tier.NOTIFY and self.vetoes else None,
            restrictions=tuple(self.restrictions),
        )


def _veto(vetoes: list[VetoWindow]) -> VetoWindow:
    """The longest window of the matching notify rules; anyone entitled by any of them may veto."""
    longest = max(vetoes, key=lambda veto: veto.seconds)
    roles = tuple(sorted({role for veto in vetoes for role in veto.roles}))
    return VetoWindow(seconds=longest.seconds, roles=roles, rule_id=longest.rule_id)


def _targets(notify: list[str]) -> tuple[str, ...]:
    return tuple(notify) if len(notify) < 2 else tuple(sorted(set(notify)))


def _merge(requirements: list[ApprovalRequirement]) -> tuple[ApprovalRequirement, ...]:
    """One requirement per role set, with the largest count asked for it."""
    if len(requirements) < 2:
        return tuple(requirements)
    merged: dict[tuple[str, ...], ApprovalRequirement] = {}
    for requirement in requirements:
        current = merged.get(requirement.roles)
        if current is None or requirement.count > current.count:
            merged[requirement.roles] = requirement
    return tuple(merged.values())


def _digest(args: Mapping[str, Any]) -> str:
    """The args digest; arguments JSON cannot hold get the digest of their text (decide never raises on
    them, and no approval or execution can match it: those demand the strict digest)."""
    try:
        return args_digest(args)
    except (TypeError, ValueError):
        return args_digest({"not_json": repr(args)})


class _Inputs:
    """The CEL input of one decision, built with only what the selected expressions read."""

    __slots__ = ("_totals", "actor", "call", "context", "plan", "usage")

    def __init__(
        self, plan: ToolPlan, call: ToolCall, actor: Actor, context: DecisionContext, usage: UsageReader
    ) -> None:
        self.plan, self.call, self.actor, self.context, self.usage = plan, call, actor, context, usage
        self._totals: dict[str, float] = {}

    def values(self, selection: Selection) -> list[Any]:
        """Each selected expression's value (or :class:`Failure`) by slot; ``False`` for the others."""
        if self.plan.reads_usage:
            # Read the ledger outside the CEL error handling: a failing reader is not a failing condition.
            _usage(self)
        values: list[Any] = [False] * len(self.plan.expressions)
        if selection.shared_slots:
            self._evaluate(values, selection.shared_slots, self._shared(selection))
        # The per-call slots run flat where they can (`flat` is None when there are none).
        flat = selection.flat
        if flat is not None and (activation := self._flat(flat)) is not None:
            self._evaluate(values, flat.programs, activation)
        elif selection.slots:
            self._evaluate(values, selection.slots, self._activation(selection.reads))
        return values

    def _evaluate(self, values: list[Any], programs: Programs, activation: cel.Context | None) -> None:
        if activation is None:
            for slot, _ in programs:
                values[slot] = self._whole(self.plan.expressions[slot])
            return
        for slot, program in programs:
            try:
                values[slot] = program.execute(activation)
            except Exception:  # any CEL failure (missing key, wrong type, ...) fails closed
                values[slot] = self._whole(self.plan.expressions[slot])

    def _flat(self, flat: FlatInput) -> cel.Context | None:
        """The flat input of ``flat``, or None if a key is missing or a value is one CEL cannot take
        (then the nested input, which finds the same problem, decides what happens)."""
        variables = {name: _narrow(_SOURCES[name](self), None) for name in flat.wholes}
        for variable, keys in flat.keys:
            source = _SOURCES[variable](self)
            for name, key in keys:
                if key not in source:
                    return None
                variables[name] = source[key]
        try:
            return cel.Context(variables)
        except Exception:
            return None

    def _shared(self, selection: Selection) -> cel.Context | None:
        """The input of expressions reading only ``actor`` / ``context``: converting values into CEL
        dominates the cost of a decision, so it is kept for later calls with the same values."""
        key = tuple(
            [getattr(self.actor if var == "actor" else self.context, f) for var, f in selection.shared_key]
        )
        if not all(map(_plain, key)):
            return self._activation(selection.shared_reads)
        activation = selection.activations.get(key)
        if activation is None and (activation := self._activation(selection.shared_reads)) is not None:
            if len(selection.activations) >= _MAX_SHARED:
                selection.activations.clear()
            selection.activations[key] = activation
        return activation

    def _activation(self, reads: Reads) -> cel.Context | None:
        try:
            return self._build(reads)
        except Exception:  # a value CEL cannot take: each expression finds out whether it reads it
            return None

    def _whole(self, expression: Expression) -> Any:
        # The narrowed input may lack a key that a reference we could not analyse reads (e.g. `.args.x`);
        # only an error with the whole variables is the expression's own.
        try:
            return expression.execute(self._build(tuple((name, None) for name in expression.fields)))
        except Exception as exc:
            return Failure.of(exc)

    def used(self, limit: CompiledLimit) -> float:
        if limit.id not in self._totals:
            key = self.actor.id if limit.per_actor else GLOBAL_KEY
            self._totals[limit.id] = self.usage.total(limit.id, key, self.context.now - limit.window)
        return self._totals[limit.id]

    def _build(self, reads: Reads) -> cel.Context:
        return cel.Context({name: _narrow(_SOURCES[name](self), keys) for name, keys in reads})


def _plain(value: Any) -> bool:
    """Whether values equal to this one always become the same CEL value (unlike ``1 == True``)."""
    if type(value) is frozenset:
        return all(type(item) is str for item in value)
    return value is None or type(value) is str


def _narrow(value: Any, keys: tuple[str, ...] | None) -> Any:
    if keys is not None:
        return {key: value[key] for key in keys if key in value}
    return dict(value) if type(value) is not dict and isinstance(value, Mapping) else value


def _usage(inputs: _Inputs) -> dict[str, float]:
    return {limit.id: inputs.used(limit) for limit in inputs.plan.limits}


_SOURCES: dict[str, Callable[[_Inputs], Any]] = {
    "args": lambda inputs: inputs.call.args,
    "facts": lambda inputs: inputs.call.facts,
    "actor": lambda inputs: {"id": inputs.actor.id, "roles": sorted(inputs.actor.roles)},
    "now": lambda inputs: inputs.context.now,
    "context": lambda inputs: {"channel": inputs.context.channel, "thread_id": inputs.context.thread_id},
    "usage": _usage,
}
