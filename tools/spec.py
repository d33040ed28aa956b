"""Tool specs: plain data describing one governed tool.

A spec is what governance sees (name, side-effect class, argument schema) and what the agent
executes (handler). Arguments are validated against ``args_model`` before anything else happens;
the acting user always comes from :class:`CallContext`, never from the model's arguments.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ValidationError

from tools.errors import InvalidArguments
from tools.protocols import InventoryBackend, ITSMBackend, KnowledgeBackend, ProcurementBackend

TOOL_NAME = re.compile(r"^(itsm|inventory|procurement|knowledge)_[a-z0-9_]{1,50}$")


class SideEffect(StrEnum):
    READ = "read"
    WRITE = "write"
    FINANCIAL = "financial"


@dataclass(frozen=True, kw_only=True)
class Systems:
    """The backends tools act on."""

    itsm: ITSMBackend
    inventory: InventoryBackend
    procurement: ProcurementBackend
    knowledge: KnowledgeBackend | None = None


@dataclass(frozen=True, kw_only=True)
class CallContext:
    """Who is acting and under which idempotency key; handlers get this, never globals."""

    systems: Systems
    actor_id: str
    idempotency_key: str | None = None


Handler = Callable[[Any, CallContext], Any]
FactsFn = Callable[[Any, Systems], Mapping[str, Any]]


@dataclass(frozen=True, kw_only=True)
class ToolSpec:
    """One tool.

    ``facts`` (optional) looks up read-only facts that policy conditions need but the arguments
    do not carry, e.g. the environment of a CI or the value of a stock transfer. They are computed
    before the decision and passed to it, so ``decide`` itself stays pure.
    """

    name: str
    description: str
    args_model: type[BaseModel]
    side_effect: SideEffect
    handler: Handler = field(repr=False, compare=False)
    facts: FactsFn | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not TOOL_NAME.match(self.name):
            raise ValueError(f"tool name {self.name!r} must match {TOOL_NAME.pattern}")

    def parse_args(self, raw: Mapping[str, Any] | str | None) -> BaseModel:
        """Validate raw arguments (a mapping or JSON text); raise ``InvalidArguments`` naming each field."""
        if raw is None:
            raw = {}
        if isinstance(raw, str):
            try:
                raw = json.loads(raw) if raw.strip() else {}
            except json.JSONDecodeError as exc:
                raise InvalidArguments(self.name, [f"arguments are not valid JSON: {exc.msg}"]) from exc
        if not isinstance(raw, Mapping):
            raise InvalidArguments(self.name, ["arguments must be a JSON object"])
        try:
            return self.args_model.model_validate(dict(raw))
        except ValidationError as exc:
            raise InvalidArguments(self.name, _describe(exc)) from exc

    def json_schema(self) -> dict[str, Any]:
        return self.args_model.model_json_schema()


def _describe(exc: ValidationError) -> list[str]:
    problems = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "(arguments)"
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "not an argument of this tool (the acting user always comes from the session)"
        problems.append(f"{where}: {message}")
    return problems


def canonical_args(parsed: BaseModel) -> dict[str, Any]:
    """The JSON form of validated arguments that decisions, digests and approvals are bound to."""
    return parsed.model_dump(mode="json", exclude_none=True)
