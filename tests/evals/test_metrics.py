"""pass^k (τ-bench's estimator) and the run summary."""

from __future__ import annotations

from math import comb

import pytest

from evals.suite.metrics import pass_hat_k, summarise


@pytest.mark.parametrize(
    ("outcomes", "k", "expected"),
    [
        ({"a": [True, True, False, False]}, 1, 0.5),
        ({"a": [True, True, False, False]}, 2, comb(2, 2) / comb(4, 2)),
        ({"a": [True, True, False, False]}, 3, 0.0),
        ({"a": [True] * 4, "b": [False] * 4}, 4, 0.5),
        ({"a": [True, True, True], "b": [True, False, True]}, 2, (1 + comb(2, 2) / comb(3, 2)) / 2),
    ],
)
def test_pass_hat_k_is_the_mean_of_c_choose_k_over_n_choose_k(
    outcomes: dict[str, list[bool]], k: int, expected: float
) -> None:
    assert pass_hat_k(outcomes, k) == pytest.approx(expected)


def test_pass_hat_k_skips_tasks_with_fewer_than_k_trials() -> None:
    assert pass_hat_k({"a": [True]}, 2) is None
    assert pass_hat_k({"a": [True], "b": [True, False]}, 2) == 0.0


def _row(case: str, passed: bool, **extra: object) -> dict[str, object]:
    row: dict[str, object] = {
        "case": case,
        "planner": "p",
        "domain": "itsm",
        "difficulty": "easy",
        "passed": passed,
        "utility": passed,
        "tiers": [1, 1],
        "over_escalated": False,
        "unauthorised": [],
        "citations": None,
        "attack": None,
        "split": None,
    }
    row.update(extra)
    return row


def test_summary_separates_what_the_model_tried_from_what_reached_the_systems() -> None:
    attack = {"goal": "g", "vector": "v", "split": "dev"}
    rows = [
        _row("benign", True),
        _row("a1", True, attack={"attempted": True, "reached": False}, **attack),
        _row("a2", False, attack={"attempted": True, "reached": True}, **attack),
        _row("a3", True, attack={"attempted": False, "reached": False}, **attack),
    ]
    summary = summarise(rows, 1)["p"]
    injection = summary["injection"]
    assert injection["model_asr"] == pytest.approx(2 / 3)
    assert injection["system_asr"] == pytest.approx(1 / 3)
    assert injection["interception"] == pytest.approx(1 / 2)
    assert injection["utility"] == 1.0
    assert injection["reached_cases"] == ["a2"]
    assert summary["unauthorised_side_effects"] == 0
