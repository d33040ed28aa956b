"""The registry of tool specs, and how tools are presented to models and run.

Governance gets plain data from here (names, side-effect classes); models get descriptions and
JSON schemas (OpenAI function format or LangChain tools). LangChain tools built here never run a
handler: they hand the raw arguments to the ``invoke`` callable they are given, which is where the
agent puts governance.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from pydantic_core import to_jsonable_python

from tools.errors import NotFound
from tools.spec import CallContext, SideEffect, ToolSpec

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

Invoke = Callable[[ToolSpec, dict[str, Any]], str]


class ToolRegistry:
    """An immutable set of tools, looked up by name, in the order given."""

    def __init__(self, specs: Iterable[ToolSpec]) -> None:
        self._specs: dict[str, ToolSpec] = {}
        for spec in specs:
            if spec.name in self._specs:
                raise ValueError(f"duplicate tool name {spec.name!r}")
            self._specs[spec.name] = spec
        self._openai_tools: list[dict[str, Any]] | None = None

    def get(self, name: str) -> ToolSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise NotFound("tool", name) from None

    def names(self) -> tuple[str, ...]:
        return tuple(self._specs)

    def side_effects(self) -> dict[str, SideEffect]:
        return {name: spec.side_effect for name, spec in self._specs.items()}

    def __iter__(self) -> Iterator[ToolSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def describe(self) -> list[dict[str, Any]]:
        """One JSON-ready entry per tool: name, side_effect, description, json_schema."""
        return [
            {
                "name": spec.name,
                "side_effect": spec.side_effect.value,
                "description": spec.description,
                "json_schema": spec.json_schema(),
            }
            for spec in self
        ]

    def openai_tools(self) -> list[dict[str, Any]]:
        """The tools in OpenAI's function-tool format; parameters have no ``$ref`` and no titles.

        Built once per registry (schemas are costly to generate and the registry never changes), so
        the same list is returned every time: treat it as read-only.
        """
        if self._openai_tools is None:
            self._openai_tools = self._build_openai_tools()
        return self._openai_tools

    def _build_openai_tools(self) -> list[dict[str, Any]]:
        return [
            {
                "type": "function",
                "function": {
                    "name": spec.name,
                    "description": spec.description,
                    "parameters": parameters_schema(spec),
                },
            }
            for spec in self
        ]

    def langchain_tools(self, invoke: Invoke) -> list[BaseTool]:
        """LangChain tools whose only action is ``invoke(spec, raw_args)``.

        Their schema is a JSON schema, not the pydantic model, so LangChain passes the model's
        arguments through unvalidated: validation happens in ``invoke`` (via ``spec.parse_args``),
        where a bad call is recorded and answered like any other, instead of LangChain raising
        before governance sees it.
        """
        return [_langchain_tool(spec, invoke) for spec in self]


def run(spec: ToolSpec, raw_args: Mapping[str, Any] | str | None, ctx: CallContext) -> Any:
    """Validate ``raw_args`` (``InvalidArguments`` before any backend is touched), then run the handler."""
    return spec.handler(spec.parse_args(raw_args), ctx)


def result_to_json(result: Any) -> str:
    """A handler's result (a record, a list of records, plain data) as JSON text for a ToolMessage."""
    return json.dumps(to_jsonable_python(result), ensure_ascii=False)


def parameters_schema(spec: ToolSpec) -> dict[str, Any]:
    """The args JSON schema with definitions inlined and titles dropped, as function-calling APIs like it."""
    schema = spec.json_schema()
    return _plain_object(schema, schema.get("$defs", {}))


def _plain_object(node: Mapping[str, Any], defs: Mapping[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        return _plain_object({**target, **{k: v for k, v in node.items() if k != "$ref"}}, defs)
    plain: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            plain[key] = {name: _plain_object(field, defs) for name, field in value.items()}
        elif key not in ("$defs", "title"):
            plain[key] = _plain(value, defs)
    return plain


def _plain(node: Any, defs: Mapping[str, Any]) -> Any:
    if isinstance(node, Mapping):
        return _plain_object(node, defs)
    if isinstance(node, list):
        return [_plain(item, defs) for item in node]
    return node


def _langchain_tool(spec: ToolSpec, invoke: Invoke) -> BaseTool:
    from langchain_core.tools import StructuredTool

    def call(**raw_args: Any) -> str:
        return invoke(spec, raw_args)

    return StructuredTool.from_function(
        func=call,
        name=spec.name,
        description=spec.description,
        args_schema=parameters_schema(spec),
        infer_schema=False,
        handle_tool_error=False,
    )
