"""The scenario format: one folder per case, ``evals/scenarios/<domain>/<NNN-slug>/case.yaml``.

The vocabulary is documented in ``evals/scenarios/README.md``. Loading validates every case with
pydantic; a bad case fails with its folder and the field named (``CaseError``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
DEFAULT_CLOCK = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built with it: 10x faster

Domain = Literal["itsm", "inventory", "procurement"]
Difficulty = Literal["easy", "medium", "hard"]
Tier = Literal["auto", "notify", "approve", "deny"]


class CaseError(ValueError):
    """A case that cannot be loaded; the message names its folder and the field."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RecordChange(_Model):
    """A change to the seeded systems before the trial: insert a row, or set columns of one."""

    table: str
    key: dict[str, Any] | None = None  # the row to alter (its primary key columns)
    set: dict[str, Any] | None = None  # columns to set on that row
    insert: dict[str, Any] | None = None  # a whole new row

    @model_validator(mode="after")
    def _one_kind(self) -> RecordChange:
        if (self.insert is None) == (self.key is None or self.set is None):
            raise ValueError("give either `insert`, or both `key` and `set`")
        return self


class ToolFailure(_Model):
    """Make a backend method (``itsm.get_incident``) fail with this message, as a tool error the model
    reads (a hostile error text, for instance)."""

    method: str = Field(pattern=r"^(itsm|inventory|procurement)\.[a-z_]+$")
    message: str


class World(_Model):
    clock: datetime = DEFAULT_CLOCK
    policy: str | None = None  # a file in the case folder; the shipped policy if unset
    directory: str | None = None  # a file in the case folder; the shipped directory if unset
    grounding: bool = False  # retrieve from the shipped knowledge corpus
    knowledge: tuple[str, ...] = ()  # extra runbooks (files in the case folder) added to the corpus
    records: tuple[RecordChange, ...] = ()
    tool_failures: tuple[ToolFailure, ...] = ()

    @field_validator("clock")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("the clock needs a time zone (end it with Z)")
        return value


class User(_Model):
    """Who asks, where, and what: scripted ``turns``, a ``simulator`` brief for an LLM user, or both
    (the turns are then what runs without ``--user-model``)."""

    actor: str = "alice.requester"
    channel: str = "cli"
    turns: tuple[str, ...] = ()
    simulator: str | None = None  # a brief for an LLM user (runs with a user simulator only)
    max_turns: int = Field(default=4, ge=1)  # user messages the simulator may write

    @model_validator(mode="after")
    def _something_to_say(self) -> User:
        if not self.turns and not self.simulator:
            raise ValueError("give `turns`, a `simulator` brief, or both")
        return self


class ApprovalStep(_Model):
    """What the approvers do when the agent waits for a call of ``tool`` (whose args match ``match``)."""

    tool: str
    match: dict[str, Any] = Field(default_factory=dict)
    by: tuple[str, ...] = Field(min_length=1)
    decision: Literal["approve", "reject", "edit"] = "approve"
    reason: str | None = None
    args: dict[str, Any] | None = None  # the edited arguments (decision: edit)

    @model_validator(mode="after")
    def _complete(self) -> ApprovalStep:
        if self.decision == "reject" and not self.reason:
            raise ValueError("a rejection needs a `reason`")
        if self.decision == "edit" and self.args is None:
            raise ValueError("an edit needs the edited `args`")
        return self

    @field_validator("by", mode="before")
    @classmethod
    def _listed(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class StateChange(_Model):
    """One expected entry of the final-state diff; ``key``/``row`` match as subsets."""

    table: str
    op: Literal["added", "changed", "removed"]
    key: dict[str, Any] = Field(default_factory=dict)
    row: dict[str, Any] = Field(default_factory=dict)  # the row after (before, for `removed`)


class ExpectedCall(_Model):
    """A write the agent must make, and how governance must treat it."""

    tool: str
    tier: Tier
    args: dict[str, Any] = Field(default_factory=dict)  # subset of the call's arguments
    approvers: tuple[str, ...] | None = None  # who voted on it (approved, edited or rejected)
    status: str | None = None  # completed | refused | waiting | failed | rejected


class Forbidden(_Model):
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    when: Literal["proposed", "executed"] = "executed"


class Expect(_Model):
    state: tuple[StateChange, ...] = ()
    calls: tuple[ExpectedCall, ...] = ()
    forbidden: tuple[Forbidden, ...] = ()
    answer_contains: tuple[str | tuple[str, ...], ...] = ()  # each: a phrase, or alternatives
    citations: tuple[str, ...] = ()
    rubric: str | None = None  # for an LLM judge: reported apart, never part of pass/fail


class ToolCallSpec(_Model):
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)


class Step(_Model):
    """One model message: tool calls (in parallel), or a final answer."""

    calls: tuple[ToolCallSpec, ...] = ()
    answer: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Step:
        if bool(self.calls) == (self.answer is not None):
            raise ValueError("a step has either `calls` or an `answer`")
        return self


class WrongTrajectory(_Model):
    name: str
    steps: tuple[Step, ...] = Field(min_length=1)


class Security(_Model):
    predicate: str
    params: dict[str, Any] = Field(default_factory=dict)


class Attack(_Model):
    goal: str  # po_to_attacker, po_over_threshold, ...
    vector: str  # where the text sits: runbook, incident, work_note, ci, item, catalogue, tool_error, user
    template: str  # the attack template it was made from
    split: Literal["dev", "heldout"] = "dev"
    security: Security
    calls: tuple[ToolCallSpec, ...] = Field(min_length=1)  # what the attacker wants proposed


class Case(_Model):
    id: str  # <domain>/<folder>, set by the loader
    folder: Path
    title: str
    domain: Domain
    difficulty: Difficulty
    tags: tuple[str, ...] = ()
    world: World = World()
    user: User
    approvals: tuple[ApprovalStep, ...] = ()
    expect: Expect = Expect()
    reference: tuple[Step, ...] = Field(min_length=1)
    wrong: tuple[WrongTrajectory, ...] = Field(min_length=1)
    attack: Attack | None = None

    @property
    def injection(self) -> bool:
        return self.attack is not None

    def file(self, name: str) -> Path:
        return self.folder / name


def load_case(folder: Path, root: Path = SCENARIOS) -> Case:
    path = folder / "case.yaml"
    name = folder.relative_to(root).as_posix() if folder.is_relative_to(root) else folder.name
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
    except (OSError, yaml.YAMLError) as exc:
        raise CaseError(f"{name}: cannot read case.yaml: {exc}") from exc
    if not isinstance(raw, dict):
        raise CaseError(f"{name}: case.yaml must be a mapping")
    try:
        case = Case.model_validate({**raw, "id": name, "folder": folder})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise CaseError(f"{name}: {problems}") from exc
    for extra in (case.world.policy, case.world.directory, *case.world.knowledge):
        if extra is not None and not case.file(extra).is_file():
            raise CaseError(f"{name}: world: file {extra!r} not found in the case folder")
    if case.domain != name.split("/")[0] and "/" in name:
        raise CaseError(f"{name}: domain: {case.domain!r} but the case sits under {name.split('/')[0]!r}")
    return case


def load_cases(root: Path = SCENARIOS) -> list[Case]:
    """Every case under ``root``, sorted by id (parsed once per process and folder set)."""
    folders = tuple(sorted(p.parent for p in root.glob("*/*/case.yaml")))
    return list(_load_all(root, folders))


@cache
def _load_all(root: Path, folders: tuple[Path, ...]) -> tuple[Case, ...]:
    return tuple(load_case(folder, root) for folder in folders)
