"""The LLM judge: each trial of a case with a rubric is graded by an OpenAI-compatible model (respx:
no network); the score lands in the trial, the summary and the report, apart from pass/fail, which
does not change. A reply that is not the JSON asked for is recorded as the judge's error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import respx
from typer.testing import CliRunner

from agent.cli.app import app
from evals.suite.judge import parse
from evals.suite.report import render
from evals.suite.runner import RunConfig, run
from tests.evals.endpoint import Endpoint

JUDGE_URL = "https://judge.test/v1"
# Sorted by id, so the judge is asked in this order: two cases with a rubric, one without.
SUBSET = "id=*043-move-without-quantity|*summarise-inc0010037|*po-small-5-mon-22-fhd"
CLARIFY, SUMMARY, ORDER = (
    "inventory/043-move-without-quantity",
    "itsm/001-summarise-inc0010037",
    "procurement/001-po-small-5-mon-22-fhd",
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, systems_template: Path) -> dict[str, Any]:
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        judge = Endpoint(
            router, JUDGE_URL, "Looks fine to me!", '```json\n{"score": 0.75, "reason": "Clear."}\n```'
        )
        plain = run(
            RunConfig(filter=SUBSET, workers=1), tmp_path_factory.mktemp("plain"), template=systems_template
        )
        assert judge.requests == []  # without a judge model nothing is called
        out = tmp_path_factory.mktemp("judged")
        config = RunConfig(filter=SUBSET, workers=1, judge_model="judge-1", judge_base_url=JUDGE_URL)
        judged = run(config, out, template=systems_template, api_key="sk-test")
    assert not judge.overrun
    return {"plain": plain, "judged": judged, "judge": judge, "out": out}


def _trials(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["case"]: t for t in results["trials"]}


def test_the_judge_grades_each_case_with_a_rubric_and_its_score_lands_in_trial_and_summary(
    runs: dict[str, Any],
) -> None:
    judge, trials = runs["judge"], _trials(runs["judged"])
    assert len(judge.requests) == 2  # the order case has no rubric: not judged
    assert judge.requests[1]["model"] == "judge-1" and judge.requests[1]["temperature"] == 0
    assert "summarises INC0010037 only" in judge.prompt(1)  # its rubric
    assert "USER: summarise INC0010037" in judge.prompt(1)  # and the transcript
    assert trials[SUMMARY]["judge"] == {"score": 0.75, "reason": "Clear."}
    on_disk = json.loads(
        (runs["out"] / "trials" / "offline" / SUMMARY / "0.json").read_text(encoding="utf-8")
    )
    assert on_disk["scores"]["judge"] == {"score": 0.75, "reason": "Clear."}
    assert trials[ORDER]["judge"] is None
    summary = runs["judged"]["summary"]["offline"]
    assert (summary["judge_mean"], summary["judged"], summary["judge_errors"]) == (0.75, 1, 1)


def test_a_reply_that_is_not_the_json_asked_for_is_recorded_as_the_judges_error(runs: dict[str, Any]) -> None:
    verdict = _trials(runs["judged"])[CLARIFY]["judge"]
    assert set(verdict) == {"error"} and "Looks fine to me!" in verdict["error"]


def test_pass_fail_is_the_same_with_and_without_the_judge(runs: dict[str, Any]) -> None:
    def outcome(results: dict[str, Any]) -> dict[str, Any]:
        return {c: (t["passed"], t["failed_checks"]) for c, t in _trials(results).items()}

    assert outcome(runs["judged"]) == outcome(runs["plain"])
    plain, judged = runs["plain"]["summary"]["offline"], runs["judged"]["summary"]["offline"]
    assert judged["pass_hat"] == plain["pass_hat"]
    assert (plain["judge_mean"], plain["judged"]) == (None, 0)
    assert all(t["judge"] is None for t in runs["plain"]["trials"])


def test_the_report_shows_the_judge_apart_or_says_it_was_not_run(runs: dict[str, Any]) -> None:
    judged = render(runs["judged"], name="judged")
    assert "LLM judge — not part of pass/fail" in judged
    assert "judge-1" in judged and "0.75: Clear." in judged and "judge error: unparseable" in judged
    plain = render(runs["plain"], name="plain")
    assert "The LLM judge was not run" in plain


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        ('{"score": 1, "reason": "ok"}', {"score": 1.0, "reason": "ok"}),
        (
            'Verdict: {"score": 0.2, "reason": "missed the state"} done',
            {"score": 0.2, "reason": "missed the state"},
        ),
        ('{"score": 1.5, "reason": "great"}', None),
        ('{"score": true, "reason": "yes"}', None),
        ('{"score": "0.5"}', None),
        ("{not json}", None),
        ("", None),
    ],
)
def test_only_a_score_between_0_and_1_is_a_verdict(reply: str, verdict: dict[str, Any] | None) -> None:
    parsed = parse(reply)
    assert parsed == verdict if verdict is not None else set(parsed) == {"error"}


def test_cli_passes_the_judge_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    out = tmp_path / "run"
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        judge = Endpoint(router, JUDGE_URL, '{"score": 0.5, "reason": "Half right."}')
        done = CliRunner().invoke(
            app,
            ["eval", "--filter", "id=*summarise-inc0010037", "--workers", "1", "--out", str(out),
             "--judge-model", "judge-1", "--judge-base-url", JUDGE_URL],
        )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert len(judge.requests) == 1
    assert "LLM judge (not part of pass/fail): mean score 0.50 over 1 trials" in done.output
    assert "0.50: Half right." in (out / "report.html").read_text(encoding="utf-8")
