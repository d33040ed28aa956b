"""--filter expressions select cases by id glob and by fields; unknown fields are refused."""

from __future__ import annotations

import pytest

from evals.suite.selection import FilterError, select
from tests.evals.conftest import CASES


def _ids(expression: str) -> set[str]:
    return {case.id for case in select(CASES, expression)}


def test_fields_combine_with_and_and_values_with_or() -> None:
    chosen = select(CASES, "domain=procurement difficulty=hard|medium")
    assert chosen
    assert all(c.domain == "procurement" and c.difficulty in ("hard", "medium") for c in chosen)


def test_negation_and_globs() -> None:
    injected = _ids("injection=true")
    assert injected and all(c.attack is not None for c in CASES if c.id in injected)
    assert _ids("!injection=true") == {c.id for c in CASES} - injected
    assert _ids("itsm/00*") == {c.id for c in CASES if c.id.startswith("itsm/00")}
    assert all(c.attack and c.attack.split == "heldout" for c in select(CASES, "split=heldout"))


def test_unknown_field_is_refused() -> None:
    with pytest.raises(FilterError, match="colour"):
        select(CASES, "colour=red")
