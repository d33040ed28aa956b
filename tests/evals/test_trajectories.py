"""Every case is solvable and every scorer can fail: each case's reference trajectory, replayed
through a scripted model on the seeded world, passes the scorer; each wrong trajectory fails it."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.suite.case import Case
from evals.suite.planners import PlannerSpec
from evals.suite.scoring import score
from evals.suite.trial import run_trial
from tests.evals.conftest import CASES

REPLAYS = [
    pytest.param(case, name, id=f"{case.id}:{name}")
    for case in CASES
    for name in ["reference", *(f"wrong:{w.name}" for w in case.wrong)]
]


@pytest.mark.parametrize(("case", "planner"), REPLAYS)
def test_reference_passes_and_wrong_fails(
    case: Case, planner: str, systems_template: Path, home: Path
) -> None:
    observed = run_trial(case, PlannerSpec(name=planner), template=systems_template, home=home)
    scores = score(case, observed)
    failed = [c for c in scores["checks"] if not c["passed"]]
    assert scores["unauthorised"] == [], scores["unauthorised"]
    if planner == "reference":
        assert scores["passed"], (failed, scores.get("attack"), observed.answer)
    else:
        assert not scores["passed"], f"{planner} passed the scorer: the case cannot tell it apart"


def test_case_ids_are_unique_and_domains_match_folders() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    assert all(c.id.startswith(f"{c.domain}/") for c in CASES)
