"""Tool specs: plain data describing one governed tool.

A spec is what governance sees (name, side-effect class, argument schema) and what the agent
executes (handler). Arguments are validated against ``args_model`` before anything else happens;
the acting user always comes from :class:`CallContext`, never from the model's arguments. A NUL
character (U+0000) anywhere in them is refused for every tool: PostgreSQL text cannot hold one and
real systems (ServiceNow) fail on it or cut the text there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ValidationError

from tools.errors import InvalidArguments
from tools.protocols import InventoryBackend, ITSMBackend, KnowledgeBackend, ProcurementBackend

TOOL_NAME = re.compile(r"^(itsm|inventory|procurement|knowledge)_[a-z0-9_]{1,50}$")
NUL_REFUSED = "a NUL character (U+0000) is not accepted"

Loc = tuple[str | int, ...]


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
        """Validate raw arguments (a mapping or JSON text); raise ``InvalidArguments`` naming each field.

        A string holding a NUL, at any depth (a line's SKU, a list item, a key), is refused first, naming
        each such field: what else is wrong would follow from it (a pattern, an emptied list) or be told
        on the next try.
        """
        if raw is None:
            raw = {}
        if isinstance(raw, str):
            try:
                raw = json.loads(raw) if raw.strip() else {}
            except json.JSONDecodeError as exc:
                raise InvalidArguments(self.name, [f"arguments are not valid JSON: {exc.msg}"]) from exc
        if not isinstance(raw, Mapping):
            raise InvalidArguments(self.name, ["arguments must be a JSON object"])
        nul = [f"{_where(loc)}: {NUL_REFUSED}" for loc in _nul_locations(raw)]
        if nul:
            raise InvalidArguments(self.name, nul)
        try:
            return self.args_model.model_validate(dict(raw))
        except ValidationError as exc:
            raise InvalidArguments(self.name, _describe(exc)) from exc

    def json_schema(self) -> dict[str, Any]:
        return self.args_model.model_json_schema()


def _describe(exc: ValidationError) -> list[str]:
    problems = []
    for error in exc.errors(include_url=False):
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "not an argument of this tool (the acting user always comes from the session)"
        problems.append(f"{_where(error['loc'])}: {message}")
    return problems


def _nul_locations(value: Any, loc: Loc = ()) -> Iterator[Loc]:
    """Where raw (JSON) arguments hold a NUL: strings and keys at any depth, located as pydantic does."""
    if isinstance(value, str):
        if "\x00" in value:
            yield loc
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and "\x00" in key:
                yield (*loc, key)  # not an argument of any tool: what it holds is not looked at
            else:
                yield from _nul_locations(item, (*loc, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _nul_locations(item, (*loc, index))


def _where(loc: Loc) -> str:
    """A field path as problems name it (``lines.0.sku``); a NUL in a key shows as ``<U+0000>``, so
    the message itself can be stored and shown."""
    return ".".join(str(part) for part in loc).replace("\x00", "<U+0000>") or "(arguments)"


def canonical_args(parsed: BaseModel) -> dict[str, Any]:
    """The JSON form of validated arguments that decisions, digests and approvals are bound to."""
    return parsed.model_dump(mode="json", exclude_none=True)
