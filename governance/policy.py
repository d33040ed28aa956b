"""The policy document as pydantic models: rules, limits, time windows, defaults.

Models check shape only; :mod:`governance.loader` checks a document against the tool catalogue and
the people directory, so a policy that loads is sound: every CEL condition compiles, every pattern
names a tool, every role and person exists, every ``approve`` says who approves.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from governance.canonical import digest
from governance.decision import Tier
from tools.spec import SideEffect

DEFAULT_POLICY_PATH = Path(__file__).with_name("policies") / "default.yaml"
"""The policy shipped with opslayer, written for the seeded directory and the fixed tool catalogue."""

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
_DURATION = re.compile(r"^([1-9][0-9]*)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_MAX_EFFORT_MINUTES = 10080.0  # a week of someone's time for one call is already implausible


class PolicyError(ValueError):
    """A policy that cannot be used; ``problems`` lists each one with the rule id and field."""

    def __init__(self, problems: list[str], *, source: str = "policy") -> None:
        self.problems = tuple(problems)
        self.source = source
        listing = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"{source}: {len(problems)} problem(s):\n{listing}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApproverSpec(_Model):
    """``count`` distinct people holding any of ``roles`` must approve."""

    roles: tuple[str, ...] = Field(min_length=1)
    count: int = Field(default=1, ge=1)

    @field_validator("roles")
    @classmethod
    def _sorted(cls, roles: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted(set(roles)))


def parse_duration(text: str) -> timedelta:
    """``30s``, ``30m``, ``24h``, ``7d`` as a timedelta."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration like 30m, 24h or 7d")
    amount, unit = match.groups()
    return timedelta(**{_UNITS[unit]: int(amount)})


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, Mapping) else value


class _Matching(_Model):
    id: str = Field(pattern=_ID)
    description: str = ""
    tools: tuple[str, ...] = Field(min_length=1)
    side_effects: tuple[SideEffect, ...] | None = None
    when: str | None = None
    approvers: tuple[ApproverSpec, ...] = ()
    notify: tuple[str, ...] = ()
    reason: str = ""

    _listify = field_validator("approvers", mode="before")(_as_list)


class VetoBy(_Model):
    """Who may stop a call during its veto window (any one person holding one of ``roles``)."""

    roles: tuple[str, ...] = Field(min_length=1)


class Rule(_Matching):
    """Calls to ``tools`` (fnmatch globs) where ``when`` holds, within ``during`` if given, get ``tier``.

    Oversight over time: a notify rule may hold the call for ``veto_window`` during which ``veto_by``
    may stop it; an approve rule may remind and then escalate (``escalate_after``, ``escalate_to``:
    ``manager``, ``role:x``, ``user:y`` or ``#channel``) an undecided request.
    """

    veto_window: str | None = Field(default=None, pattern=_DURATION.pattern)
    veto_by: VetoBy | None = None
    escalate_after: str | None = Field(default=None, pattern=_DURATION.pattern)
    escalate_to: tuple[str, ...] = ()
    escalation_may_approve: bool = False

    @field_validator("escalate_to", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    during: tuple[str, ...] = ()
    tier: Tier
    # Approvers must decide on the review page (signed in), never with one click in chat.
    step_up: bool = False


class Limit(_Matching):
    """A budget per actor (or global) over a sliding ``window``; going past ``max`` escalates the call."""

    sum: str | None = None
    count: bool = False
    per: Literal["actor", "global"] = "actor"
    window: str = Field(pattern=_DURATION.pattern)
    max: float = Field(ge=0)
    exceeded_tier: Tier

    @property
    def window_length(self) -> timedelta:
        return parse_duration(self.window)


class Window(_Model):
    """A named half-open time window ``[start, end)``, e.g. a change freeze."""

    id: str = Field(pattern=_ID)
    start: AwareDatetime
    end: AwareDatetime
    description: str = ""

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, moment: datetime) -> datetime:
        return moment.astimezone(UTC)


class Defaults(_Model):
    """What happens when the policy has nothing more specific to say.

    ``unknown_tool`` must be ``deny``. ``unmatched_tool`` (no rule matched cleanly) defaults to
    ``deny`` and may not be ``auto``; when it is ``approve`` the policy must name ``approvers``, when
    ``notify``, ``notify`` targets.
    """

    unknown_tool: Tier = Tier.DENY
    unmatched_tool: Tier = Tier.DENY
    approvers: tuple[ApproverSpec, ...] = ()
    notify: tuple[str, ...] = ()

    _listify = field_validator("approvers", mode="before")(_as_list)


MonitorKind = Literal[
    "refused_calls",
    "denials",
    "limit_near",
    "stuck_executions",
    "approval_backlog",
    "approval_age",
    "llm_errors",
    "tool_surge",
]
Scope = Literal["thread", "person", "tool", "all"]


class Restrict(_Model):
    """What a tripped monitor does to later calls: ``tools`` need ``tier`` (approve or deny) for the
    thread, person or tool the monitor tripped for (``scope: all``: for everyone) until a person clears it."""

    tools: tuple[str, ...] = ("*",)
    tier: Tier = Tier.APPROVE
    scope: Literal["all"] | None = None
    """``all`` widens the restriction to everyone; by default it holds what the monitor tripped for."""


class Monitor(_Model):
    """A check the worker runs over the audit trail and ledgers in a sliding ``window``.

    ``threshold`` is a count (refused_calls, denials, stuck_executions, approval_backlog,
    approval_age), a percent of the limit's ``max`` (limit_near), an error rate in percent
    (llm_errors) or a multiple of the tool's trailing ``baseline`` rate (tool_surge).
    """

    id: str = Field(pattern=_ID)
    description: str = ""
    kind: MonitorKind
    per: Scope = "all"
    window: str = Field(default="1h", pattern=_DURATION.pattern)
    threshold: float = Field(gt=0)
    tools: tuple[str, ...] = ("*",)
    limit: str | None = None
    baseline: str = Field(default="7d", pattern=_DURATION.pattern)
    min_count: int = Field(default=10, ge=1)
    notify: tuple[str, ...] = ()
    on_trip: Literal["notify", "restrict"] = "notify"
    restrict: Restrict | None = None
    approvers: tuple[ApproverSpec, ...] = ()
    reason: str = ""

    _listify = field_validator("approvers", mode="before")(_as_list)

    @property
    def window_length(self) -> timedelta:
        return parse_duration(self.window)


class Autonomy(_Model):
    """Who may pause autonomy (``opslayer autonomy pause``) and clear tripped monitors, and who
    approves calls held by a pause or a restriction that names no approvers of its own."""

    pause_roles: tuple[str, ...] = ()
    clear_roles: tuple[str, ...] = ()
    approvers: tuple[ApproverSpec, ...] = ()

    _listify = field_validator("approvers", mode="before")(_as_list)


class Policy(_Model):
    """A policy document of valid shape; :func:`governance.loader.load_policy` also checks its references."""

    label: str = Field(min_length=1)
    defaults: Defaults = Defaults()
    windows: tuple[Window, ...] = ()
    rules: tuple[Rule, ...] = ()
    limits: tuple[Limit, ...] = ()
    monitors: tuple[Monitor, ...] = ()
    autonomy: Autonomy = Autonomy()
    # What a person would spend doing one call of a tool by hand: the impact report's minutes saved.
    effort_minutes: dict[str, float] = Field(default_factory=dict)

    @field_validator("effort_minutes")
    @classmethod
    def _effort_in_range(cls, effort: dict[str, float]) -> dict[str, float]:
        for tool, minutes in effort.items():
            if not 0 <= minutes <= _MAX_EFFORT_MINUTES:
                raise ValueError(f"{tool}: {minutes} is not between 0 and {_MAX_EFFORT_MINUTES} minutes")
        return effort

    @property
    def digest(self) -> str:
        """sha256 hex of the canonical JSON of the validated document.

        YAML formatting and key order do not change it; any change of content does, except
        ``effort_minutes``: an estimate for reports, which must not void approvals bound to the version.
        """
        return digest(self.model_dump(mode="json", exclude={"effort_minutes"}))

    @property
    def version(self) -> str:
        return f"{self.label}@sha256:{self.digest[:16]}"


def tools_matching(pattern: str, catalogue: Mapping[str, SideEffect]) -> list[str]:
    """Catalogue tool names matched by an fnmatch glob (case-sensitive), in sorted order."""
    return sorted(name for name in catalogue if fnmatchcase(name, pattern))
