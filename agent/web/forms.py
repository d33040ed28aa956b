"""Edit-and-approve forms, generated from a tool's argument schema (its pydantic model's JSON schema).

Each leaf of the arguments is one input named by its path (``lines.0.quantity``). What comes back is
turned into the nested arguments again with the schema's types; the tool's own model then validates
them inside the operations service, exactly as for an edit over the API, so the page adds no rule of
its own. Lists keep the items the request has (an approver edits an order's lines, not its shape).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Schema = Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class FormField:
    """One input: ``name`` is the argument's path, ``kind`` the HTML input it needs."""

    name: str
    label: str
    kind: str  # "text", "integer", "number", "checkbox", "select"
    value: str
    required: bool
    help: str
    options: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None


class FormError(ValueError):
    """Submitted text that is not even of the field's type (the model checks everything else)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def fields(schema: Schema, args: Mapping[str, Any]) -> list[FormField]:
    """The inputs for ``args`` (the current arguments) under ``schema``, in the schema's order."""
    return list(_object_fields(schema, _resolve(schema, schema), args, ()))


def parse(schema: Schema, form: Mapping[str, str], args: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments a submitted form describes (shaped like ``args``); ``FormError`` names each field
    whose text is not of its type. Empty optional fields are left out."""
    problems: list[str] = []
    built: dict[str, Any] = {}
    for field in fields(schema, args):
        raw = form.get(field.name)
        if field.kind == "checkbox":
            _put(built, field.name, raw is not None)
            continue
        text = (raw or "").strip()
        if not text:
            if field.required:
                problems.append(f"{field.name}: a value is required")
            continue
        try:
            _put(built, field.name, _convert(field.kind, text))
        except ValueError:
            problems.append(f"{field.name}: {_expected(field.kind)}, not {text[:40]!r}")
    if problems:
        raise FormError(problems)
    return built


def _object_fields(root: Schema, schema: Schema, value: Any, path: tuple[str, ...]) -> Any:
    given = value if isinstance(value, Mapping) else {}
    required = set(schema.get("required", ()))
    for name, prop in schema.get("properties", {}).items():
        yield from _value_fields(root, _resolve(root, prop), given.get(name), (*path, name), name in required)


def _value_fields(root: Schema, schema: Schema, value: Any, path: tuple[str, ...], required: bool) -> Any:
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        yield from _object_fields(root, schema, value, path)
    elif kind == "array" and isinstance(schema.get("items"), Mapping):
        items = _resolve(root, schema["items"])
        for index, item in enumerate(value if isinstance(value, list) else []):
            yield from _value_fields(root, items, item, (*path, str(index)), True)
    else:
        yield _leaf(schema, value, path, required)


def _leaf(schema: Schema, value: Any, path: tuple[str, ...], required: bool) -> FormField:
    options = tuple(str(option) for option in schema.get("enum", ()))
    kind = "select" if options else _KINDS.get(str(schema.get("type")), "text")
    shown = "" if value is None else ("true" if value is True else str(value))
    return FormField(
        name=".".join(path),
        label=" ".join(str(int(p) + 1) if p.isdigit() else p.replace("_", " ") for p in path),
        kind=kind,
        value=shown,
        required=required and kind != "checkbox",
        help=str(schema.get("description", "")),
        options=options,
        minimum=schema.get("minimum", schema.get("exclusiveMinimum")),
        maximum=schema.get("maximum", schema.get("exclusiveMaximum")),
        max_length=schema.get("maxLength"),
    )


_KINDS = {"integer": "integer", "number": "number", "boolean": "checkbox", "string": "text"}


def _resolve(root: Schema, schema: Schema) -> Schema:
    """Follow ``$ref`` into ``$defs``; of ``anyOf`` (an optional field), the first that is not null."""
    if "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        return _resolve(root, {**root.get("$defs", {}).get(name, {}), **_without(schema, "$ref")})
    if "anyOf" in schema:
        chosen: Schema = next((s for s in schema["anyOf"] if s.get("type") != "null"), {})
        return _resolve(root, {**_without(schema, "anyOf"), **chosen})
    return schema


def _without(schema: Schema, key: str) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k != key}


def _convert(kind: str, text: str) -> Any:
    if kind == "integer":
        return int(text)
    if kind == "number":
        number = float(text)
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError(text)
        return number
    return text


def _expected(kind: str) -> str:
    return {"integer": "a whole number is needed", "number": "a number is needed"}.get(kind, "invalid")


def _put(target: dict[str, Any], path: str, value: Any) -> None:
    """Set ``value`` at a dotted path, making dicts and lists (numeric parts) on the way."""
    parts = path.split(".")
    node: Any = target
    for part, following in itertools.pairwise(parts):
        child = _get(node, part)
        if child is None:
            child = [] if following.isdigit() else {}
            _set(node, part, child)
        node = child
    _set(node, parts[-1], value)


def _get(node: Any, key: str) -> Any:
    if isinstance(node, list):
        index = int(key)
        return node[index] if index < len(node) else None
    return node.get(key)


def _set(node: Any, key: str, value: Any) -> None:
    if isinstance(node, list):
        index = int(key)
        node.extend([None] * (index + 1 - len(node)))
        node[index] = value
    else:
        node[key] = value
