"""A policy prepared for fast decisions: CEL compiled once, rules indexed by tool name.

Tool patterns are resolved against the catalogue at compile time, so for each tool the compiled
policy already knows its candidate rules and limits (in policy order) and which variables (and keys
of ``args``, ``facts``, ...) their conditions read. Per call, :meth:`ToolPlan.select` drops the rules
whose ``during`` windows are all closed and the expressions whose guards (``has(args.key) && ...``)
fail, and ``decide`` builds one minimal CEL input for the rest — or none at all when nothing is
left. When every one of them has a flat variant (see :mod:`governance.expressions`), the selection
also says how to build the cheaper flat input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any

import cel

from governance.decision import ApprovalRequirement, Tier, VetoWindow
from governance.expressions import Expression, compile_expression, flat_name, merge_fields
from governance.loader import check_policy
from governance.policy import ApproverSpec, Limit, Policy, PolicyError, Rule, parse_duration
from tools.spec import SideEffect

Reads = tuple[tuple[str, tuple[str, ...] | None], ...]
"""Variables to hand CEL, each with the keys needed, sorted (None: the whole value)."""
Programs = tuple[tuple[int, cel.Program], ...]
"""Programs to run, each with the slot of its expression in the tool plan."""

# The fields decide gives the variables that depend only on who calls, where (not when).
_SHARED = {"actor": ("id", "roles"), "context": ("channel", "thread_id")}
# Selections are cached per pattern of present guard keys; past this many a plan stops caching
# (arguments shaped to defeat the cache then cost a recomputation, never unbounded memory).
_MAX_SELECTIONS = 512


@dataclass(frozen=True, kw_only=True, slots=True)
class CompiledRule:
    """A rule as ``decide`` uses it; ``reason`` is already prefixed with the rule id."""

    id: str
    tier: Tier
    rank: int
    condition: Expression | None
    slot: int | None = None
    """Position of ``condition`` in its tool plan's expressions."""
    windows: tuple[tuple[datetime, datetime], ...] | None
    window_slots: tuple[int, ...] | None = None
    """Positions of ``windows`` in its tool plan's windows."""
    approvals: tuple[ApprovalRequirement, ...]
    notify: tuple[str, ...]
    reason: str
    veto: VetoWindow | None = None
    """The veto window of a notify rule: the call waits it out unless vetoed."""


@dataclass(frozen=True, kw_only=True, slots=True)
class CompiledLimit:
    """A limit as ``decide`` uses it."""

    id: str
    condition: Expression | None
    amount: Expression | None
    """None for ``count: true`` (every call adds 1)."""
    condition_slot: int | None = None
    amount_slot: int | None = None
    per_actor: bool
    window: timedelta
    window_text: str
    max: float
    tier: Tier
    approvals: tuple[ApprovalRequirement, ...]
    notify: tuple[str, ...]
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class FlatInput:
    """How to build the flat CEL input of a selection's per-call expressions and what runs on it.

    ``keys`` are ``(variable, ((name, key), ...))``: each key of the variable must be present, and is
    handed to CEL as ``name``. ``wholes`` are the variables read whole, ``programs`` the flat programs
    of ``Selection.slots``.
    """

    keys: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]
    wholes: tuple[str, ...]
    programs: Programs


@dataclass(frozen=True, kw_only=True, slots=True)
class Selection:
    """What of a plan can still apply to a call once failed guards and open windows are known.

    ``rules`` drop those outside their windows; ``rules`` and ``limits`` drop those whose condition is
    guarded out (false without CEL). The expressions they still need are split (each as its slot and
    program): ``shared_slots`` read only ``actor`` / ``context``, so their CEL input depends on
    nothing but the ``shared_key`` fields (``(variable, field)``) and can be reused between calls
    (``decide`` keeps them in ``activations``); ``slots`` read the call itself. ``flat`` is set when
    every one of ``slots`` has a flat variant.
    """

    rules: tuple[CompiledRule, ...]
    limits: tuple[CompiledLimit, ...]
    slots: Programs
    reads: Reads
    flat: FlatInput | None = None
    shared_slots: Programs
    shared_reads: Reads
    shared_key: tuple[tuple[str, str], ...]
    activations: dict[tuple[Any, ...], cel.Context] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolPlan:
    """What applies to one tool: candidate rules and limits, in policy order, and what their CEL reads.

    ``guards`` are the distinct ``(variable, key)`` guards of the ``expressions``, and
    ``guarded[slot]`` indexes those of ``expressions[slot]``; ``windows`` are the distinct ``during``
    windows of the rules; ``reads_usage`` says whether any expression reads ``usage``.
    """

    rules: tuple[CompiledRule, ...]
    limits: tuple[CompiledLimit, ...]
    expressions: tuple[Expression, ...]
    reads: Reads
    reads_usage: bool = False
    guards: tuple[tuple[str, str], ...] = ()
    guarded: tuple[tuple[int, ...], ...] = ()
    windows: tuple[tuple[datetime, datetime], ...] = ()
    selections: dict[tuple[bool, ...], Selection] = field(default_factory=dict, compare=False, repr=False)
    """Cache of :meth:`select` by which guarded keys are present and which windows open; a dict write
    is atomic under the GIL."""

    def select(self, args: Mapping[str, Any], facts: Mapping[str, Any], now: datetime) -> Selection:
        """What is not ruled out by a guarded key missing from ``args`` / ``facts`` or a closed window."""
        checks = [key in (args if var == "args" else facts) for var, key in self.guards]
        for start, end in self.windows:
            checks.append(start <= now < end)
        present = tuple(checks)
        selection = self.selections.get(present)
        if selection is None:
            selection = self._selection(present)
            if len(self.selections) < _MAX_SELECTIONS:
                self.selections[present] = selection
        return selection

    def _selection(self, present: tuple[bool, ...]) -> Selection:
        alive = {slot for slot, indexes in enumerate(self.guarded) if all(present[i] for i in indexes)}
        opened = present[len(self.guards) :]
        rules = tuple(
            rule
            for rule in self.rules
            if (rule.slot is None or rule.slot in alive)
            and (rule.window_slots is None or any(opened[i] for i in rule.window_slots))
        )
        limits = tuple(
            limit for limit in self.limits if limit.condition_slot is None or limit.condition_slot in alive
        )
        needed = {rule.slot for rule in rules} | {
            slot for limit in limits for slot in (limit.condition_slot, limit.amount_slot)
        }
        slots = sorted(alive & needed)
        shared = [slot for slot in slots if self.expressions[slot].fields.keys() <= _SHARED.keys()]
        fresh = [slot for slot in slots if slot not in shared]
        shared_reads = _reads([self.expressions[slot] for slot in shared])
        return Selection(
            rules=rules,
            limits=limits,
            slots=tuple((slot, self.expressions[slot].program) for slot in fresh),
            reads=_reads([self.expressions[slot] for slot in fresh]),
            flat=_flat_input({slot: self.expressions[slot] for slot in fresh}),
            shared_slots=tuple((slot, self.expressions[slot].program) for slot in shared),
            shared_reads=shared_reads,
            shared_key=tuple(
                (name, key)
                for name, keys in shared_reads
                for key in _SHARED[name]
                if keys is None or key in keys
            ),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Fallback:
    """``defaults.unmatched_tool`` with the approvers / notify targets it needs."""

    tier: Tier
    approvals: tuple[ApprovalRequirement, ...]
    notify: tuple[str, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class CompiledPolicy:
    """A checked policy ready for :func:`governance.decide.decide`. Share it between threads: it is
    immutable but for caches that ``decide`` fills as it goes (plain dict reads and writes, atomic
    under the GIL; a shared CEL input is only ever read)."""

    policy: Policy
    version: str
    digest: str
    unmatched: Fallback
    plans: Mapping[str, ToolPlan]


def compile_policy(policy: Policy, catalogue: Mapping[str, SideEffect]) -> CompiledPolicy:
    """Compile ``policy`` for ``catalogue``; raise :class:`PolicyError` if it does not fit the catalogue.

    Directory checks (roles, people) belong to :func:`governance.loader.load_policy`.
    """
    problems = check_policy(policy, catalogue=catalogue)
    if problems:
        raise PolicyError(problems, source=policy.version)
    windows = {window.id: (window.start, window.end) for window in policy.windows}
    rules = [(rule, _compile_rule(rule, windows)) for rule in policy.rules]
    limits = [(limit, _compile_limit(limit)) for limit in policy.limits]
    plans = {name: _plan(name, catalogue, rules, limits) for name in sorted(catalogue)}
    defaults = policy.defaults
    unmatched = Fallback(
        tier=defaults.unmatched_tool,
        approvals=_requirements(defaults.approvers, "defaults"),
        notify=defaults.notify,
    )
    return CompiledPolicy(
        policy=policy, version=policy.version, digest=policy.digest, unmatched=unmatched, plans=plans
    )


def _compile_rule(rule: Rule, windows: Mapping[str, tuple[datetime, datetime]]) -> CompiledRule:
    return CompiledRule(
        id=rule.id,
        tier=rule.tier,
        rank=rule.tier.rank,
        condition=_maybe(rule.when),
        windows=tuple(windows[name] for name in rule.during) or None,
        approvals=_requirements(rule.approvers, rule.id),
        notify=rule.notify,
        reason=f"{rule.id}: {rule.reason or f'rule {rule.id!r} ({rule.tier.value}) matched'}",
        veto=_veto(rule),
    )


def _veto(rule: Rule) -> VetoWindow | None:
    if rule.veto_window is None or rule.veto_by is None:
        return None
    seconds = int(parse_duration(rule.veto_window).total_seconds())
    return VetoWindow(seconds=seconds, roles=tuple(sorted(set(rule.veto_by.roles))), rule_id=rule.id)


def _compile_limit(limit: Limit) -> CompiledLimit:
    return CompiledLimit(
        id=limit.id,
        condition=_maybe(limit.when),
        amount=_maybe(limit.sum),
        per_actor=limit.per == "actor",
        window=limit.window_length,
        window_text=limit.window,
        max=limit.max,
        tier=limit.exceeded_tier,
        approvals=_requirements(limit.approvers, limit.id),
        notify=limit.notify,
        reason=limit.reason,
    )


def _maybe(source: str | None) -> Expression | None:
    return None if source is None else compile_expression(source)


def _requirements(approvers: tuple[ApproverSpec, ...], rule_id: str) -> tuple[ApprovalRequirement, ...]:
    return tuple(
        ApprovalRequirement(roles=spec.roles, count=spec.count, rule_id=rule_id) for spec in approvers
    )


def _applies(item: Rule | Limit, name: str, catalogue: Mapping[str, SideEffect]) -> bool:
    if item.side_effects is not None and catalogue[name] not in item.side_effects:
        return False
    return any(fnmatchcase(name, pattern) for pattern in item.tools)


def _plan(
    name: str,
    catalogue: Mapping[str, SideEffect],
    rules: list[tuple[Rule, CompiledRule]],
    limits: list[tuple[Limit, CompiledLimit]],
) -> ToolPlan:
    slots: dict[str, int] = {}
    expressions: list[Expression] = []

    def slot(expression: Expression | None) -> int | None:
        """Where ``expression`` sits in this plan's batch; the same source shares one slot."""
        if expression is None:
            return None
        if expression.source not in slots:
            slots[expression.source] = len(expressions)
            expressions.append(expression)
        return slots[expression.source]

    windows: dict[tuple[datetime, datetime], int] = {}
    chosen_rules = tuple(
        replace(
            compiled,
            slot=slot(compiled.condition),
            window_slots=None
            if compiled.windows is None
            else tuple(windows.setdefault(window, len(windows)) for window in compiled.windows),
        )
        for rule, compiled in rules
        if _applies(rule, name, catalogue)
    )
    chosen_limits = tuple(
        replace(compiled, condition_slot=slot(compiled.condition), amount_slot=slot(compiled.amount))
        for limit, compiled in limits
        if _applies(limit, name, catalogue)
    )
    guards = tuple(dict.fromkeys(guard for expression in expressions for guard in expression.guards))
    reads = _reads(expressions)
    return ToolPlan(
        rules=chosen_rules,
        limits=chosen_limits,
        expressions=tuple(expressions),
        reads=reads,
        reads_usage=any(name == "usage" for name, _ in reads),
        guards=guards,
        guarded=tuple(tuple(guards.index(guard) for guard in e.guards) for e in expressions),
        windows=tuple(windows),
    )


def _reads(expressions: list[Expression]) -> Reads:
    merged = merge_fields(expressions)
    return tuple((var, None if keys is None else tuple(sorted(keys))) for var, keys in sorted(merged.items()))


def _flat_input(expressions: Mapping[int, Expression]) -> FlatInput | None:
    """The flat input of the expressions by slot, if there are some and all have a flat variant."""
    flats = {slot: e.flat for slot, e in expressions.items() if e.flat is not None}
    if not flats or len(flats) < len(expressions):
        return None
    keys: dict[str, list[tuple[str, str]]] = {}
    for variable, key in sorted({pair for flat in flats.values() for pair in flat.keys}):
        keys.setdefault(variable, []).append((flat_name(variable, key), key))
    return FlatInput(
        keys=tuple((variable, tuple(pairs)) for variable, pairs in keys.items()),
        wholes=tuple(sorted({name for flat in flats.values() for name in flat.wholes})),
        programs=tuple((slot, flat.program) for slot, flat in flats.items()),
    )
