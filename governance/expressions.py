"""CEL expressions of a policy, compiled once, with what each one reads.

Converting Python values into CEL values costs far more than running a compiled program, so
``decide`` hands CEL only the variables (and, for maps such as ``args``, only the keys) that the
candidate expressions mention. This module works that out from the source text: a map variable
used only as ``var.field`` or ``var['field']`` needs just those keys; any other use needs all of it.

It also finds each expression's *guards*: keys of ``args`` / ``facts`` without which the expression
is false whatever else it says, so ``decide`` can skip it in plain Python when one is absent.

Even narrowed, a map costs CEL about three times a plain value, so where it is clearly safe an
expression also gets a *flat* variant (:class:`Flat`): the source with every ``var.key`` /
``var['key']`` of a map read by keys replaced by an identifier of its own (:func:`flat_name`), and
every ``has(var.key)`` by ``true``; variables read whole stay as they are. Run with
``flat_name(var, key) = var[key]``, and only when all those keys are present (so each ``has`` is
indeed true), it gives what the original gives. The rewrite replaces source spans of the tokens
below, so string literals and comments are never touched; anything it cannot account for (a
flattened variable still referenced afterwards, a macro binding a variable's name, a source using
the flat prefix) leaves the expression without a flat variant.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cel

VARIABLES = ("args", "facts", "actor", "now", "context", "usage")
"""Names a condition may read (see ``decide`` for what each holds)."""

# Type names CEL reports as variables, e.g. in ``type(x) == int``.
_TYPE_NAMES = frozenset(
    {"int", "uint", "double", "bool", "string", "bytes", "list", "map", "null_type", "type", "dyn"}
)
_MAPS = frozenset({"args", "facts", "actor", "context", "usage"})
_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})
_GUARDED = frozenset({"args", "facts"})
_OPEN, _CLOSE = frozenset("([{"), frozenset(")]}")

_TOKEN = re.compile(
    r"""
    (?P<string>
        (?:[rR][bB]?|[bB][rR])(?:\"\"\"[\s\S]*?\"\"\"|'''[\s\S]*?'''|"[^"\n]*"|'[^'\n]*')
      | [bB]?(?:\"\"\"(?:\\[\s\S]|[^\\])*?\"\"\"|'''(?:\\[\s\S]|[^\\])*?'''
               |"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')
    )
    | (?P<comment>//[^\n]*)
    | (?P<space>\s+)
    | (?P<number>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?[uU]?|0[xX][0-9a-fA-F]+[uU]?)
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<other>.)
    """,
    re.VERBOSE,
)
_PLAIN_STRING = re.compile(r"""^(?:"([^"\\]*)"|'([^'\\]*)')$""")
_FLAT_PREFIX = "__flat_"


class ExpressionError(ValueError):
    """A CEL source that does not compile or reads an unknown variable; the message says which."""


class Failure(str):
    """Why an expression could not be evaluated: a message that stands in for its value."""

    @classmethod
    def of(cls, exc: Exception) -> Failure:
        if isinstance(exc, KeyError):
            return cls(f"missing field {exc.args[0]!r}" if exc.args else "missing field")
        return cls(f"{type(exc).__name__}: {str(exc).split('. ')[0].strip()}")


@dataclass(frozen=True, kw_only=True, slots=True)
class Flat:
    """An expression rewritten to read each ``var.key`` from a variable ``flat_name(var, key)``.

    Valid only when every ``(var, key)`` of ``keys`` is present, and each is handed to CEL (also those
    that only appeared in ``has``: a value CEL cannot take must fail as in the original);
    ``wholes`` are the variables it reads whole.
    """

    program: cel.Program
    keys: tuple[tuple[str, str], ...]
    wholes: tuple[str, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class Expression:
    """A compiled CEL expression and the variables it reads.

    ``fields`` maps each variable read to the keys it uses, or ``None`` when it needs the whole value.
    ``guards`` lists ``(variable, key)`` pairs of ``args`` / ``facts`` the expression is false without.
    ``flat`` is its flat variant (see the module docstring), None where the rewrite is not clearly safe.
    """

    source: str
    program: cel.Program
    fields: Mapping[str, frozenset[str] | None]
    guards: tuple[tuple[str, str], ...] = ()
    flat: Flat | None = None

    def execute(self, activation: cel.Context) -> Any:
        return self.program.execute(activation)


def compile_expression(source: str) -> Expression:
    """Compile ``source``; raise :class:`ExpressionError` with CEL's message or naming an unknown variable."""
    try:
        program = cel.compile(source)
    except ValueError as exc:
        raise ExpressionError(str(exc)) from exc
    matches = _lex(source)
    tokens = _tokens(matches)
    bound = _bound_names(tokens)
    names = set(program.variables()) - _TYPE_NAMES - bound
    unknown = sorted(names - set(VARIABLES))
    if unknown:
        raise ExpressionError(f"unknown variable {unknown[0]!r} (known: {', '.join(VARIABLES)})")
    fields = {name: _fields(name, tokens) if name in _MAPS else None for name in names}
    flat = None if bound & set(VARIABLES) else _flatten(source, matches, fields)
    return Expression(source=source, program=program, fields=fields, guards=_guards(tokens), flat=flat)


def flat_name(variable: str, key: str) -> str:
    """The identifier a :class:`Flat` program reads in place of ``variable.key``: one per pair."""
    return f"{_FLAT_PREFIX}{variable}_{key.encode('utf-8', 'surrogatepass').hex()}"


def merge_fields(expressions: list[Expression]) -> dict[str, frozenset[str] | None]:
    """The union of what several expressions read, in the same shape as :attr:`Expression.fields`."""
    merged: dict[str, frozenset[str] | None] = {}
    for expression in expressions:
        for name, keys in expression.fields.items():
            if keys is None or (name in merged and merged[name] is None):
                merged[name] = None
            else:
                merged[name] = (merged.get(name) or frozenset()) | keys
    return merged


def _lex(source: str) -> list[re.Match[str]]:
    return [match for match in _TOKEN.finditer(source) if match.lastgroup not in ("space", "comment")]


def _tokens(matches: list[re.Match[str]]) -> list[tuple[str, str]]:
    return [(match.lastgroup or "other", match.group()) for match in matches]


def _bound_names(tokens: list[tuple[str, str]]) -> set[str]:
    """Names bound by comprehension macros, e.g. ``l`` in ``args.lines.exists(l, l.quantity > 5)``."""
    bound = set()
    for index in range(len(tokens) - 3):
        macro, paren, name, comma = tokens[index : index + 4]
        if macro[1] in _MACROS and paren[1] == "(" and name[0] == "ident" and comma[1] == ",":
            bound.add(name[1])
    return bound


def _fields(name: str, tokens: list[tuple[str, str]]) -> frozenset[str] | None:
    """Keys of ``name`` read as ``name.key`` or ``name['key']``; None if it is used any other way."""
    keys: set[str] = set()
    for index, (kind, text) in enumerate(tokens):
        if kind != "ident" or text != name or (index > 0 and tokens[index - 1][1] == "."):
            continue
        key = _field_access(tokens[index + 1 : index + 4])
        if key is None:
            return None
        keys.add(key)
    return frozenset(keys) if keys else None


def _flatten(
    source: str, matches: list[re.Match[str]], fields: Mapping[str, frozenset[str] | None]
) -> Flat | None:
    """The flat variant of ``source`` (see the module docstring), or None where it is not clearly safe."""
    tokens = _tokens(matches)
    flattened = {name for name, keys in fields.items() if keys is not None}
    if any(kind == "ident" and text.startswith(_FLAT_PREFIX) for kind, text in tokens):
        return None
    edits: list[tuple[int, int, str]] = []
    for index, (kind, text) in enumerate(tokens):
        if kind != "ident" or text not in flattened or (index > 0 and tokens[index - 1][1] == "."):
            continue
        # `_fields` found a key set, so this is `var.key` (3 tokens) or `var['key']` (4 tokens).
        key = _field_access(tokens[index + 1 : index + 4])
        if key is None:
            return None
        last = index + (2 if tokens[index + 1][1] == "." else 3)
        if _in_has(tokens, index, last):
            edits.append((matches[index - 2].start(), matches[last + 1].end(), "true"))
        else:
            edits.append((matches[index].start(), matches[last].end(), flat_name(text, key)))
    try:
        program = cel.compile(_replace(source, edits))
    except ValueError:
        return None
    if flattened & set(program.variables()):
        return None
    return Flat(
        program=program,
        keys=tuple(sorted((name, key) for name in flattened for key in fields[name] or ())),
        wholes=tuple(sorted(name for name, keys in fields.items() if keys is None)),
    )


def _in_has(tokens: list[tuple[str, str]], first: int, last: int) -> bool:
    """Whether ``tokens[first : last + 1]`` is the whole argument of a ``has(...)`` macro."""
    return (
        first >= 2
        and tokens[first - 2] == ("ident", "has")
        and tokens[first - 1][1] == "("
        and tokens[last + 1 : last + 2] == [("other", ")")]
        and (first < 3 or tokens[first - 3][1] != ".")
    )


def _replace(source: str, edits: list[tuple[int, int, str]]) -> str:
    """``source`` with each ``(start, end)`` span replaced; the spans are in order and disjoint."""
    parts, position = [], 0
    for start, end, text in edits:
        parts += [source[position:start], text]
        position = end
    return "".join([*parts, source[position:]])


def _field_access(following: list[tuple[str, str]]) -> str | None:
    texts = [text for _, text in following] + ["", "", ""]
    if texts[0] == "." and following[1:2] and following[1][0] == "ident" and texts[2] != "(":
        return texts[1]
    if texts[0] == "[" and texts[2] == "]" and following[1][0] == "string":
        plain = _PLAIN_STRING.match(texts[1])
        if plain:
            return plain.group(1) if plain.group(1) is not None else plain.group(2)
    return None


def _guards(tokens: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """``(variable, key)`` of every top-level conjunct ``has(args.key)`` or ``has(facts.key)``.

    When such a key is absent the expression is ``false``, whatever the rest says: CEL's ``&&`` is
    false as soon as one operand is false, even if another one is an error. Only plain conjunctions
    count; an ``||`` or a ``?`` (conditional, optional selection) anywhere outside string literals
    means no guards, which is always safe.
    """
    if any(kind == "other" and text in ("|", "?") for kind, text in tokens):
        return ()
    found: dict[tuple[str, str], None] = {}
    for conjunct in _conjuncts(tokens):
        texts = [text for _, text in conjunct]
        if (
            len(texts) == 6
            and texts[:2] == ["has", "("]
            and texts[2] in _GUARDED
            and texts[3] == "."
            and conjunct[4][0] == "ident"
            and texts[5] == ")"
        ):
            found[(texts[2], texts[4])] = None
    return tuple(found)


def _conjuncts(tokens: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """The operands of the top-level ``&&`` chain, each without enclosing parentheses."""
    tokens = _unwrap(tokens)
    parts: list[list[tuple[str, str]]] = [[]]
    depth = 0
    for index, (kind, text) in enumerate(tokens):
        if kind == "other":
            depth += (text in _OPEN) - (text in _CLOSE)
            # A compiled source has `&` only in `&&`; split before the first, drop the second.
            if text == "&" and depth == 0:
                if tokens[index + 1 : index + 2] == [("other", "&")]:
                    parts.append([])
                continue
        parts[-1].append((kind, text))
    if len(parts) == 1:
        return parts
    return [conjunct for part in parts for conjunct in _conjuncts(part)]


def _unwrap(tokens: list[tuple[str, str]]) -> list[tuple[str, str]]:
    while tokens and tokens[0] == ("other", "(") and _closing(tokens) == len(tokens) - 1:
        tokens = tokens[1:-1]
    return tokens


def _closing(tokens: list[tuple[str, str]]) -> int:
    """Index of the bracket closing ``tokens[0]``."""
    depth = 0
    for index, (kind, text) in enumerate(tokens):
        if kind == "other":
            depth += (text in _OPEN) - (text in _CLOSE)
            if depth == 0:
                return index
    return -1
