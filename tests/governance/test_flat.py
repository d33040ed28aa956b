"""Flat variants of CEL expressions: ``var.key`` read from a variable of its own gives the same value.

A flat program is only run when every key it reads is present, with ``flat_name(var, key)`` bound
to ``var[key]`` and the variables it reads whole bound as they are; it must then give exactly what
the original program gives on the input ``decide`` would hand it otherwise (maps narrowed to the
keys read) — the same value of the same type, or an error (``decide`` then falls back to the
original program on the whole input, as it does for the nested input).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import cel
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from governance.compiled import compile_policy
from governance.expressions import VARIABLES, Expression, compile_expression, flat_name
from governance.synthetic import generate_policy
from tests.governance.support import CATALOGUE, default_policy
from tests.governance.test_properties import CONDITIONS

_MAPS = ("args", "facts", "actor", "context", "usage")
_MOSTLY = st.sampled_from([True] * 9 + [False])


def _flat_source(source: str) -> str | None:
    flat = compile_expression(source).flat
    return None if flat is None else str(flat.program.source)


def _named(template: str) -> str:
    """``template`` with each ``{var.key}`` replaced by ``flat_name(var, key)``."""
    return re.sub(r"\{(\w+)\.([^}]*)\}", lambda match: flat_name(match[1], match[2]), template)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("has(args.q) && args.q > 1", "true && {args.q} > 1"),
        ("args.total_amount >= 2000.0", "{args.total_amount} >= 2000.0"),
        ("args['a b'] == 1 && args[\"c\"]>2", "{args.a b} == 1 && {args.c}>2"),
        ("has(args.q) ? args.q : 1.0", "true ? {args.q} : 1.0"),
        ("args.quantity > 50 || facts.value > 10000.0", "{args.quantity} > 50 || {facts.value} > 10000.0"),
        ("args.lines.exists(l, l.quantity > 5)", "{args.lines}.exists(l, l.quantity > 5)"),
        ("has(args.q.r) && true", "has({args.q}.r) && true"),
        ("type(args.x) == int", "type({args.x}) == int"),
        # String literals and comments are not code: only the real reference is rewritten.
        ("'args.x' == args.x // args.y\n", "'args.x' == {args.x} // args.y\n"),
        ('r"has(args.q)" == args . q', 'r"has(args.q)" == {args.q}'),
        (
            "'r' in actor.roles && now > timestamp('2026-01-01T00:00:00Z')",
            "'r' in {actor.roles} && now > timestamp('2026-01-01T00:00:00Z')",
        ),
        ("usage['po-daily-budget'] > 5.0", "{usage.po-daily-budget} > 5.0"),
        # Nothing read by keys: the expression is its own flat variant.
        ("size(args) > 1 && args.x == 1", "size(args) > 1 && args.x == 1"),
        ("now > timestamp('2026-01-01T00:00:00Z')", "now > timestamp('2026-01-01T00:00:00Z')"),
        # A macro binding a variable's name, or a name that looks like a flat one: no flat variant.
        ("[{'x': 1}].exists(args, args.x > 0) && facts.v == 1", None),
        ("[1].exists(__flat_args_78, __flat_args_78 > 0) && args.x == 1", None),
        ("args.__flat_x == 1", None),
    ],
)
def test_the_rewrite(source: str, expected: str | None) -> None:
    assert _flat_source(source) == (None if expected is None else _named(expected))


def test_what_a_flat_variant_needs() -> None:
    flat = compile_expression("has(args.q) && facts.v > 1 && now > now && size(context) > 0").flat
    assert flat is not None
    assert flat.keys == (("args", "q"), ("facts", "v"))
    assert flat.wholes == ("context", "now")


@given(
    first=st.tuples(st.sampled_from(VARIABLES), st.text(max_size=6)),
    second=st.tuples(st.sampled_from(VARIABLES), st.text(max_size=6)),
)
def test_flat_names_are_distinct_identifiers(first: tuple[str, str], second: tuple[str, str]) -> None:
    name = flat_name(*first)
    assert cel.compile(name).variables() == [name]
    assert (name == flat_name(*second)) == (first == second)


def _sources() -> list[str]:
    """Conditions and sums of the shipped policy, of a generated one, of the property tests, and more."""
    generated = compile_policy(generate_policy(200, CATALOGUE), CATALOGUE)
    plans = [*default_policy().plans.values(), *generated.plans.values()]
    shipped = {expression.source for plan in plans for expression in plan.expressions}
    extra = [
        "args['total_amount'] + 1.0 > facts['lines_total']",
        "has(args.q) ? args.q : 1.0",
        "has(args.q) && args.q.size() > 1",
        "args.q in [1, 2, 'x'] || args.r == null",
        "args.lines.exists(l, has(l.quantity) && l.quantity > 5)",
        "type(args.q) == double && args.q > 1.5",
        "string(args.q) == 'x' && has(facts.v)",
        "args.q.r.s == 1",
        "'k' in args.q && args.r",
        "'requester' in actor.roles && context.channel == 'slack' && has(args.q)",
        "actor.id.startsWith('a') && now >= timestamp('2026-12-01T00:00:00Z')",
        "usage.budget + args.q > 10.0",
        "!has(args.q) || args.q == facts.v",
        "size(args) > 1 && args.q == 1",
    ]
    return sorted(shipped | {c for c in CONDITIONS if c is not None} | set(extra))


EXPRESSIONS = [compile_expression(source) for source in _sources()]
KEYS = sorted({key for e in EXPRESSIONS for keys in e.fields.values() if keys for key in keys})
NUMBERS = st.one_of(
    st.integers(-3, 60_000), st.floats(-3, 60_000), st.floats(allow_nan=False, allow_infinity=False)
)
VALUES = st.recursive(
    st.one_of(
        NUMBERS,
        NUMBERS,
        st.sampled_from(["x", "y", "prod", "staging", "cycle_count", ""]),
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),  # beyond 64 bits: a double (or an error) in CEL
        st.just({1}),  # a set: CEL cannot take it
        st.text(max_size=3),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["quantity", "r", "s", "k"]), inner)
    ),
    max_leaves=4,
)
NOW = datetime(2026, 12, 10, tzinfo=UTC)


def _outcome(program: cel.Program, activation: dict[str, Any]) -> tuple[Any, ...]:
    try:
        value = program.execute(cel.Context(activation))
    except Exception:
        return ("error",)
    return ("value", type(value), value)


@settings(max_examples=300, deadline=None)
@given(expression=st.sampled_from(EXPRESSIONS), data=st.data())
def test_a_flat_variant_gives_what_the_original_gives(expression: Expression, data: st.DataObject) -> None:
    # Each map holds random other keys, and each key the expression reads, now and then missing.
    maps = {name: data.draw(st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=3)) for name in _MAPS}
    for variable, keys in expression.fields.items():
        if variable in maps and keys is not None:
            maps[variable] |= {key: data.draw(VALUES) for key in keys if data.draw(_MOSTLY)}
    roles = data.draw(st.lists(st.sampled_from(["requester", "x"]), max_size=2, unique=True))
    maps["actor"] |= {"id": "alice.requester", "roles": roles}
    maps["context"] |= {"channel": data.draw(st.sampled_from(["cli", "slack"])), "thread_id": "t"}
    whole: dict[str, Any] = {**maps, "now": NOW}
    flat = expression.flat
    assert flat is not None, expression.source
    if any(key not in whole[variable] for variable, key in flat.keys):
        return  # decide takes the nested input then
    activation = {name: whole[name] for name in flat.wholes}
    activation |= {flat_name(variable, key): whole[variable][key] for variable, key in flat.keys}
    # What decide hands the original program: maps narrowed to the keys it reads.
    narrowed = {
        name: whole[name] if keys is None else {key: whole[name][key] for key in keys}
        for name, keys in expression.fields.items()
    }
    assert _outcome(flat.program, activation) == _outcome(expression.program, narrowed)
