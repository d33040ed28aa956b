"""Loading a policy: YAML in, a checked :class:`~governance.policy.Policy` out, or every problem at once.

Each problem names the rule (limit, window) id and the field, e.g.
``rule 'big-po': field 'tier': 'approv' is not one of auto, notify, approve, deny``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from governance.decision import Tier
from governance.expressions import ExpressionError, compile_expression
from governance.policy import (
    ApproverSpec,
    Autonomy,
    Defaults,
    Limit,
    Monitor,
    Policy,
    PolicyError,
    Rule,
    Window,
    tools_matching,
)
from tools.spec import SideEffect

_CHANNEL = re.compile(r"^#[a-z0-9][a-z0-9._-]{0,79}$")


def load_policy(
    path: Path,
    *,
    catalogue: Mapping[str, SideEffect],
    roles: AbstractSet[str],
    people: AbstractSet[str],
) -> Policy:
    """Read, validate and check a policy file against the tool catalogue and the people directory."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError([f"cannot read policy: {exc.strerror}"], source=str(path)) from exc
    return parse_policy(text, catalogue=catalogue, roles=roles, people=people, source=str(path))


def parse_policy(
    text: str,
    *,
    catalogue: Mapping[str, SideEffect],
    roles: AbstractSet[str],
    people: AbstractSet[str],
    source: str = "<policy>",
) -> Policy:
    """Like :func:`load_policy`, from YAML text; ``source`` names it in error messages."""
    document = _read_yaml(text, source)
    policy, problems = validate_document(document)
    windows = _declared_ids(document.get("windows"))
    problems += check_policy(policy, catalogue=catalogue, roles=roles, people=people, window_ids=windows)
    if problems:
        raise PolicyError(problems, source=source)
    return policy


def _declared_ids(items: Any) -> set[str]:
    # Windows that failed validation still count as declared, so rules naming them get no extra problem.
    items = items if isinstance(items, list) else []
    return {item["id"] for item in items if isinstance(item, Mapping) and isinstance(item.get("id"), str)}


def _read_yaml(text: str, source: str) -> dict[str, Any]:
    try:
        document = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.YAMLError as exc:
        raise PolicyError([_yaml_problem(exc)], source=source) from exc
    if not isinstance(document, dict):
        kind = "an empty document" if document is None else f"a {type(document).__name__}"
        raise PolicyError([f"a policy must be a YAML mapping, got {kind}"], source=source)
    return document


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    return f"{where}YAML syntax error: {problem}" + (f" ({context})" if context else "")


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses duplicate keys: a second ``tier:`` must not silently win."""


def _construct_unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def validate_document(document: Mapping[str, Any]) -> tuple[Policy, list[str]]:
    """Validate the document's shape; on errors also return the valid parts so they can be checked too."""
    try:
        return Policy.model_validate(document), []
    except ValidationError as exc:
        problems = [_describe(error, document) for error in exc.errors(include_url=False)]
    return _valid_parts(document), problems


def check_policy(
    policy: Policy,
    *,
    catalogue: Mapping[str, SideEffect],
    roles: AbstractSet[str] | None = None,
    people: AbstractSet[str] | None = None,
    window_ids: AbstractSet[str] | None = None,
) -> list[str]:
    """Problems a well-shaped policy can still have; directory checks are skipped if roles/people are None."""
    checker = _Checker(catalogue=catalogue, roles=roles, people=people)
    windows = {window.id for window in policy.windows} if window_ids is None else window_ids
    checker.defaults(policy.defaults)
    checker.unique_ids(policy)
    for window in policy.windows:
        checker.window(window)
    for rule in policy.rules:
        checker.rule(rule, windows, {limit.id for limit in policy.limits})
    for limit in policy.limits:
        checker.limit(limit, {limit.id for limit in policy.limits})
    for rule in policy.rules:
        checker.oversight(rule)
    for monitor in policy.monitors:
        checker.monitor(monitor, {limit.id for limit in policy.limits}, policy.autonomy)
    checker.autonomy(policy.autonomy)
    checker.problems += [
        f"effort_minutes: field {tool!r}: not a tool of the catalogue"
        for tool in policy.effort_minutes
        if tool not in catalogue
    ]
    return checker.problems


# -- shape errors -------------------------------------------------------------------------------------

_KINDS = {"rules": "rule", "limits": "limit", "windows": "window", "monitors": "monitor"}
_SECTIONS: dict[str, type[BaseModel]] = {
    "rules": Rule,
    "limits": Limit,
    "windows": Window,
    "monitors": Monitor,
}


def _describe(error: Mapping[str, Any], document: Mapping[str, Any]) -> str:
    location = tuple(error["loc"])
    owner, path = _owner(location, document)
    field = _path(path)
    where = f"{owner}: " if owner else ""
    return f"{where}field {field!r}: {_message(error)}" if field else f"{where}{_message(error)}"


def _owner(location: tuple[Any, ...], document: Mapping[str, Any]) -> tuple[str, tuple[Any, ...]]:
    section = location[0] if location else None
    if section == "defaults":
        return "defaults", location[1:]
    if section in _KINDS and len(location) > 1 and isinstance(location[1], int):
        items = document.get(section)
        item = items[location[1]] if isinstance(items, list) else None
        name = item.get("id") if isinstance(item, Mapping) else None
        label = f"{_KINDS[section]} {name!r}" if isinstance(name, str) else f"{section}[{location[1]}]"
        return label, location[2:]
    return "", location


def _path(parts: tuple[Any, ...]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _message(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    if kind in ("enum", "literal_error"):
        options = re.findall(r"'([^']*)'", str(error.get("ctx", {}).get("expected", "")))
        return f"{error['input']!r} is not one of {', '.join(options)}"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required"
    if kind == "string_pattern_mismatch" and error["loc"][-1] == "window":
        return f"{error['input']!r} is not a duration like 30m, 24h or 7d"
    return str(error["msg"])


def _valid_parts(document: Mapping[str, Any]) -> Policy:
    """The parts of an invalid document that are valid on their own, so they get checked as well."""
    parts: dict[str, Any] = {"label": str(document.get("label") or "?"), "defaults": Defaults()}
    with contextlib.suppress(ValidationError):
        parts["defaults"] = Defaults.model_validate(document.get("defaults", {}))
    for section, model in _SECTIONS.items():
        items = document.get(section)
        parts[section] = tuple(_valid_items(model, items if isinstance(items, list) else []))
    return Policy.model_construct(**parts)


def _valid_items(model: type[BaseModel], items: list[Any]) -> list[Any]:
    valid = []
    for item in items:
        try:
            valid.append(model.model_validate(item))
        except ValidationError:
            continue
    return valid


# -- semantic checks ----------------------------------------------------------------------------------


class _Checker:
    """Collects problems, each naming the owner (rule, limit, window, defaults) and the field."""

    def __init__(
        self,
        *,
        catalogue: Mapping[str, SideEffect],
        roles: AbstractSet[str] | None,
        people: AbstractSet[str] | None,
    ) -> None:
        self.problems: list[str] = []
        self._catalogue = catalogue
        self._roles = roles
        self._people = people

    def _add(self, owner: str, field: str, message: str) -> None:
        self.problems.append(f"{owner}: field {field!r}: {message}")

    def defaults(self, defaults: Defaults) -> None:
        if defaults.unknown_tool is not Tier.DENY:
            self._add("defaults", "unknown_tool", "must be deny: a tool outside the catalogue cannot run")
        if defaults.unmatched_tool is Tier.AUTO:
            # Also the floor for conditions that fail: auto here would let a failed condition run the call.
            self._add(
                "defaults",
                "unmatched_tool",
                "auto would run every call no rule covers; use notify, approve or deny",
            )
        self._outcome(
            "defaults", defaults.unmatched_tool, defaults.approvers, defaults.notify, "unmatched_tool"
        )

    def unique_ids(self, policy: Policy) -> None:
        seen: dict[str, str] = {}
        for kind, items in (("window", policy.windows), ("rule", policy.rules), ("limit", policy.limits)):
            for item in items:
                owner = f"{kind} {item.id!r}"
                if item.id in seen:
                    self._add(owner, "id", f"duplicate id (also used by {seen[item.id]})")
                seen.setdefault(item.id, owner)

    def window(self, window: Window) -> None:
        if window.end <= window.start:
            self._add(f"window {window.id!r}", "end", "must be after start")

    def rule(self, rule: Rule, windows: AbstractSet[str], limits: AbstractSet[str]) -> None:
        owner = f"rule {rule.id!r}"
        self._matching(owner, rule, limits)
        for window in rule.during:
            if window not in windows:
                self._add(owner, "during", f"unknown window {window!r}")
        self._outcome(owner, rule.tier, rule.approvers, rule.notify, "tier")

    def limit(self, limit: Limit, limits: AbstractSet[str]) -> None:
        owner = f"limit {limit.id!r}"
        self._matching(owner, limit, limits)
        if (limit.sum is None) == (not limit.count):
            self._add(owner, "sum", "give exactly one of `sum` (a CEL number) and `count: true`")
        if limit.sum is not None:
            self._expression(owner, "sum", limit.sum, limits)
        if limit.exceeded_tier is Tier.AUTO:
            self._add(owner, "exceeded_tier", "auto would never stop anything; use notify, approve or deny")
        self._outcome(owner, limit.exceeded_tier, limit.approvers, limit.notify, "exceeded_tier")

    def _matching(self, owner: str, item: Rule | Limit, limits: AbstractSet[str]) -> None:
        matched: set[str] = set()
        for pattern in item.tools:
            names = tools_matching(pattern, self._catalogue)
            if not names:
                self._add(owner, "tools", f"pattern {pattern!r} matches no tool in the catalogue")
            matched |= set(names)
        side_effects = item.side_effects
        if (
            matched
            and side_effects is not None
            and not any(self._catalogue[n] in side_effects for n in matched)
        ):
            self._add(owner, "side_effects", "no tool matched by `tools` has these side effects")
        if item.when is not None:
            self._expression(owner, "when", item.when, limits)

    def _expression(self, owner: str, field: str, source: str, limits: AbstractSet[str]) -> None:
        try:
            expression = compile_expression(source)
        except ExpressionError as exc:
            self._add(owner, field, f"CEL does not compile: {exc}")
            return
        for limit_id in sorted(expression.fields.get("usage") or ()):
            if limit_id not in limits:
                self._add(owner, field, f"usage[{limit_id!r}] names no limit")

    def _outcome(
        self,
        owner: str,
        tier: Tier,
        approvers: tuple[ApproverSpec, ...],
        notify: tuple[str, ...],
        field: str,
    ) -> None:
        if tier is Tier.APPROVE and not approvers:
            self._add(owner, "approvers", f"required when {field} is approve")
        if tier is not Tier.APPROVE and approvers:
            self._add(owner, "approvers", f"only used when {field} is approve, not {tier.value}")
        if tier is Tier.NOTIFY and not notify:
            self._add(owner, "notify", f"required when {field} is notify")
        if tier in (Tier.AUTO, Tier.DENY) and notify:
            self._add(owner, "notify", f"only used when {field} is notify or approve, not {tier.value}")
        for index, requirement in enumerate(approvers):
            for role in requirement.roles:
                self._role(owner, f"approvers[{index}].roles", role)
        for target in notify:
            self._target(owner, target)

    def oversight(self, rule: Rule) -> None:
        """Veto windows belong to notify rules, escalation and step-up to approve rules; every name must
        exist."""
        owner = f"rule {rule.id!r}"
        if rule.veto_window is not None and rule.tier is not Tier.NOTIFY:
            self._add(owner, "veto_window", f"only used when tier is notify, not {rule.tier.value}")
        if (rule.veto_window is None) != (rule.veto_by is None):
            self._add(owner, "veto_by", "veto_window and veto_by go together: how long, and who may veto")
        for role in rule.veto_by.roles if rule.veto_by is not None else ():
            self._role(owner, "veto_by.roles", role)
        if rule.step_up and rule.tier is not Tier.APPROVE:  # step-up is how an approval is given
            self._add(owner, "step_up", f"only used when tier is approve, not {rule.tier.value}")
        escalates = rule.escalate_after is not None or rule.escalate_to or rule.escalation_may_approve
        if escalates and rule.tier is not Tier.APPROVE:
            self._add(owner, "escalate_after", f"only used when tier is approve, not {rule.tier.value}")
        if (rule.escalate_after is None) != (not rule.escalate_to):
            self._add(owner, "escalate_to", "escalate_after and escalate_to go together: when, and to whom")
        for target in rule.escalate_to:
            if target != "manager":
                self._target(owner, target, field="escalate_to")

    def monitor(self, monitor: Monitor, limits: AbstractSet[str], autonomy: Autonomy) -> None:
        owner = f"monitor {monitor.id!r}"
        if (monitor.kind == "limit_near") != (monitor.limit is not None):
            self._add(owner, "limit", "a limit_near monitor names one limit; other kinds name none")
        elif monitor.limit is not None and monitor.limit not in limits:
            self._add(owner, "limit", f"unknown limit {monitor.limit!r}")
        if monitor.kind in ("limit_near", "llm_errors") and monitor.threshold > 100:
            self._add(owner, "threshold", "a percent: at most 100")
        for pattern in monitor.tools:
            if not tools_matching(pattern, self._catalogue):
                self._add(owner, "tools", f"pattern {pattern!r} matches no tool in the catalogue")
        for target in monitor.notify:
            self._target(owner, target)
        self._restriction(owner, monitor, autonomy)

    def _restriction(self, owner: str, monitor: Monitor, autonomy: Autonomy) -> None:
        restrict = monitor.restrict
        if (monitor.on_trip == "restrict") != (restrict is not None):
            self._add(owner, "restrict", "on_trip: restrict and a restrict section go together")
        if restrict is None:
            return
        if restrict.tier not in (Tier.APPROVE, Tier.DENY):
            self._add(owner, "restrict.tier", "a restriction makes calls approve or deny")
        if restrict.tier is Tier.APPROVE and not (monitor.approvers or autonomy.approvers):
            needed = "required (here or in autonomy.approvers) when restrict.tier is approve"
            self._add(owner, "approvers", needed)
        for pattern in restrict.tools:
            if not tools_matching(pattern, self._catalogue):
                self._add(owner, "restrict.tools", f"pattern {pattern!r} matches no tool in the catalogue")
        for index, requirement in enumerate(monitor.approvers):
            for role in requirement.roles:
                self._role(owner, f"approvers[{index}].roles", role)

    def autonomy(self, autonomy: Autonomy) -> None:
        for field in ("pause_roles", "clear_roles"):
            for role in getattr(autonomy, field):
                self._role("autonomy", field, role)
        if autonomy.pause_roles and not autonomy.approvers:
            self._add("autonomy", "approvers", "required when pause_roles is set: who approves paused calls")
        for index, requirement in enumerate(autonomy.approvers):
            for role in requirement.roles:
                self._role("autonomy", f"approvers[{index}].roles", role)

    def _role(self, owner: str, field: str, role: str) -> None:
        if self._roles is not None and role not in self._roles:
            self._add(owner, field, f"unknown role {role!r} (not in the people directory)")

    def _target(self, owner: str, target: str, *, field: str = "notify") -> None:
        kind, _, name = target.partition(":")
        if kind == "role" and name:
            self._role(owner, field, name)
        elif kind == "user" and name:
            if self._people is not None and name not in self._people:
                self._add(owner, field, f"unknown user {name!r} (not in the people directory)")
        elif not _CHANNEL.match(target):
            self._add(owner, field, f"target {target!r} must be role:<role>, user:<id> or #channel")
