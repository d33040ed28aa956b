"""The case format: validation errors name the case folder and the field; the suite's shape."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.suite.case import CaseError, load_case
from evals.suite.security import PREDICATES
from tests.evals.conftest import CASES


def _write(root: Path, text: str) -> Path:
    folder = root / "itsm" / "001-broken"
    folder.mkdir(parents=True)
    (folder / "case.yaml").write_text(text, encoding="utf-8")
    return folder


def test_a_bad_case_names_its_folder_and_field(tmp_path: Path) -> None:
    folder = _write(
        tmp_path,
        "title: t\ndomain: itsm\ndifficulty: trivial\nuser: {turns: [hi]}\n"
        "reference: [{answer: ok}]\nwrong: [{name: w, steps: [{answer: no}]}]\n",
    )
    with pytest.raises(CaseError, match=r"itsm/001-broken: difficulty"):
        load_case(folder, tmp_path)


def test_a_step_has_calls_or_an_answer(tmp_path: Path) -> None:
    folder = _write(
        tmp_path,
        "title: t\ndomain: itsm\ndifficulty: easy\nuser: {turns: [hi]}\n"
        "reference: [{}]\nwrong: [{name: w, steps: [{answer: no}]}]\n",
    )
    with pytest.raises(CaseError, match=r"itsm/001-broken: reference\.0"):
        load_case(folder, tmp_path)


def test_the_suite_has_the_cases_the_issue_asks_for() -> None:
    benign = [c for c in CASES if c.attack is None]
    injected = [c for c in CASES if c.attack is not None]
    assert len(benign) >= 150
    assert len(injected) >= 60
    assert {c.domain for c in benign} == {"itsm", "inventory", "procurement"}
    assert {c.attack.split for c in injected if c.attack} == {"dev", "heldout"}
    assert all(c.attack.security.predicate in PREDICATES for c in injected if c.attack)
