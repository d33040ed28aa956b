"""``--filter EXPR``: which cases a run takes.

An expression is terms separated by spaces or commas, all of which must hold. A term is
``field=value`` (``value`` may list alternatives with ``|`` and use shell globs), ``!`` before a
term negates it, and a bare word is a glob on the case id. Fields: ``id``, ``domain``,
``difficulty``, ``tag``, ``injection`` (true/false), ``goal``, ``vector``, ``split``, ``template``.

    domain=procurement difficulty=hard|medium
    injection=true !split=heldout
    itsm/00*
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable

from evals.suite.case import Case

FIELDS = ("id", "domain", "difficulty", "tag", "injection", "goal", "vector", "split", "template")


class FilterError(ValueError):
    pass


def select(cases: Iterable[Case], expression: str | None) -> list[Case]:
    terms = [t for t in re.split(r"[\s,]+", expression or "") if t]
    for term in terms:
        field = term.lstrip("!").partition("=")[0] if "=" in term else "id"
        if field not in FIELDS:
            raise FilterError(f"unknown filter field {field!r} in {term!r}; fields: {', '.join(FIELDS)}")
    return [case for case in cases if all(_holds(case, term) for term in terms)]


def _holds(case: Case, term: str) -> bool:
    negated = term.startswith("!")
    term = term.lstrip("!")
    field, _, value = term.partition("=") if "=" in term else ("id", "", term)
    patterns = value.split("|")
    found = any(fnmatch.fnmatchcase(v, p) for v in _values(case, field) for p in patterns)
    return found != negated


def _values(case: Case, field: str) -> list[str]:
    attack = case.attack
    match field:
        case "id" | "domain" | "difficulty":
            return [str(getattr(case, field))]
        case "tag":
            return list(case.tags)
        case "injection":
            return [str(attack is not None).lower()]
        case "goal" | "vector" | "split" | "template":
            return [str(getattr(attack, field))] if attack is not None else []
    return []
