"""Edit-and-approve forms, generated from a tool's argument schema (its pydantic model's JSON schema).

Each leaf of the arguments is one input named by its path (``lines.0.quantity``). What comes back is
turned into the nested arguments again with the schema's types; the tool's own model then validates
them inside the operations service, exactly as for an edit over the API, so the page adds no rule of
its own. Lists keep the items the request has (an approver edits an order's lines, not its shape).

A field comes back exactly as it was unless the approver changed it: its text is shown with hidden
characters marked (:func:`agent.text.visible`), and text that still reads as shown keeps the request's
own value, byte for byte. Strings that are long or hold line breaks get a ``textarea`` (an ``input``
drops line breaks); optional choices and booleans offer "not set", so an absent argument stays absent.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agent.text import visible

Schema = Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class FormField:
    """One input: ``name`` is the argument's path, ``kind`` the HTML input it needs."""

    name: str
    label: str
    kind: str  # "text", "textarea", "integer", "number", "checkbox", "select"
    value: str  # as shown: hidden characters marked
    required: bool
    help: str
    options: tuple[str, ...] = ()  # a select's choices as shown ("" first when it may be left unset)
    choices: tuple[Any, ...] = ()  # the values they stand for
    original: Any = None  # the request's own value (None when absent)
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
        elif _unchanged(field, raw):
            if field.original is not None:
                _put(built, field.name, field.original)
        else:
            _take(built, field, _lines(raw or ""), problems)
    if problems:
        raise FormError(problems)
    return built


def _unchanged(field: FormField, raw: str | None) -> bool:
    """Whether the submitted text still reads as shown (browsers send a textarea's line breaks as CRLF)."""
    return raw is not None and _lines(raw) == _lines(field.value)


def _lines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _take(built: dict[str, Any], field: FormField, raw: str, problems: list[str]) -> None:
    """Put the value the approver typed or chose; empty leaves an optional argument out."""
    text = raw if field.kind in ("text", "textarea") else raw.strip()
    if not text:
        if field.required:
            problems.append(f"{field.name}: a value is required")
        return
    try:
        _put(built, field.name, _convert(field, text))
    except ValueError:
        problems.append(f"{field.name}: {_expected(field.kind)}, not {text[:40]!r}")


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
    choices = _choices(schema, required)
    kind = "select" if choices else _KINDS.get(str(schema.get("type")), "text")
    shown = _shown(value)
    if kind == "text" and ("\n" in shown or "\r" in shown or (schema.get("maxLength") or 0) > _ONE_LINE):
        kind = "textarea"
    return FormField(
        name=".".join(path),
        label=" ".join(str(int(p) + 1) if p.isdigit() else p.replace("_", " ") for p in path),
        kind=kind,
        value=shown,
        required=required and kind != "checkbox",
        help=str(schema.get("description", "")),
        options=tuple(_shown(choice) for choice in choices),
        choices=choices,
        original=value,
        minimum=schema.get("minimum", schema.get("exclusiveMinimum")),
        maximum=schema.get("maximum", schema.get("exclusiveMaximum")),
        max_length=schema.get("maxLength"),
    )


_KINDS = {"integer": "integer", "number": "number", "boolean": "checkbox", "string": "text"}
_ONE_LINE = 200  # longer strings are free text: a textarea


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return visible(value)


def _choices(schema: Schema, required: bool) -> tuple[Any, ...]:
    """A select's values: the enum's (or, for an optional boolean, true and false), with None first
    ("not set") when the argument may be absent."""
    if "enum" in schema:
        values: tuple[Any, ...] = tuple(schema["enum"])
    elif schema.get("type") == "boolean" and not required:
        values = (True, False)
    else:
        return ()
    return values if required else (None, *values)


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


def _convert(field: FormField, text: str) -> Any:
    kind = field.kind
    if kind == "select":
        return field.choices[field.options.index(text)]
    if kind == "integer":
        return int(text)
    if kind == "number":
        number = float(text)
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError(text)
        return number
    return text


def _expected(kind: str) -> str:
    expected = {
        "integer": "a whole number is needed",
        "number": "a number is needed",
        "select": "not a choice",
    }
    return expected.get(kind, "invalid")


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
