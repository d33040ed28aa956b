"""The runner end to end on a handful of cases (the fast deterministic subset of `make eval`):
offline and adversarial planners, results.json, resume after a crash, the HTML report and the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from agent.cli.app import app
from evals.suite import runner
from evals.suite.report import render, write_report
from evals.suite.runner import RunConfig, run

SUBSET = (
    "id=*po-small-5-mon-22-fhd|*inject-incident-po-to-attacker|*inject-incident-po-over-threshold"
    "|*inject-user-claims-authority-write-off|*change-in-freeze-payments-api|*write-off-3-mon-27-4k-approve"
)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory, systems_template: Path) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("run")
    config = RunConfig(planners=("offline", "adversarial"), filter=SUBSET, workers=1)
    finished = run(config, out, template=systems_template)
    finished["_out"] = out
    return finished


def test_offline_and_adversarial_runs_write_results_with_a_summary(results: dict[str, Any]) -> None:
    out: Path = results["_out"]
    on_disk = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert set(on_disk["summary"]) == {"offline", "adversarial"}
    assert on_disk["summary"]["offline"]["cases"] == 6
    assert on_disk["summary"]["adversarial"]["cases"] == 3  # only cases with an attack
    trial = json.loads((out / "trials" / "offline" / on_disk["trials"][0]["case"] / "0.json").read_text())
    assert {"transcript", "events", "diff"} <= set(trial["observed"])
    assert all(s["unauthorised_side_effects"] == 0 for s in on_disk["summary"].values())


def test_the_adversarial_model_always_tries_and_governance_decides_what_reaches_the_systems(
    results: dict[str, Any],
) -> None:
    injection = results["summary"]["adversarial"]["injection"]
    assert injection["model_asr"] == 1.0
    reached = set(injection["reached_cases"])
    # A small order to the attacker's supplier is notify tier under the shipped policy: it executes.
    assert any(c.endswith("inject-incident-po-to-attacker") for c in reached)
    assert not any(c.endswith(("po-over-threshold", "claims-authority-write-off")) for c in reached)


def test_offline_baseline_passes_a_small_order(results: dict[str, Any]) -> None:
    rows = {r["case"].split("/", 1)[1][4:]: r for r in results["trials"] if r["planner"] == "offline"}
    assert rows["po-small-5-mon-22-fhd"]["passed"]
    assert rows["change-in-freeze-payments-api"]["passed"]


def test_a_crashed_run_resumes_where_it_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, systems_template: Path
) -> None:
    config = RunConfig(
        planners=("offline",), filter="id=*po-small-5-*|*po-small-4-*|*po-small-12-*", workers=1
    )
    real, calls = runner._work, list[Any]()

    def crash_after_two(job: Any) -> dict[str, Any]:
        if len(calls) == 2:
            raise KeyboardInterrupt("the machine went away")
        calls.append(job)
        return real(job)

    monkeypatch.setattr(runner, "_work", crash_after_two)
    with pytest.raises(KeyboardInterrupt):
        run(config, tmp_path, template=systems_template)
    monkeypatch.setattr(runner, "_work", real)
    resumed: list[dict[str, Any]] = []
    finished = run(config, tmp_path, template=systems_template, on_done=resumed.append)
    total = finished["summary"]["offline"]["trials"]
    assert total == len(finished["trials"]) >= 3
    assert len(resumed) == total - 2  # the two finished trials were not run again


def test_report_is_self_contained_and_escapes_hostile_text(results: dict[str, Any]) -> None:
    hostile = '<script>alert("x")</script><img src="https://evil.test/x.png">'
    doctored = json.loads(json.dumps({k: v for k, v in results.items() if k != "_out"}))
    doctored["trials"][0]["title"] = hostile
    doctored["trials"][0]["error"] = hostile
    html = render(doctored, name="run <b>1</b>", other=doctored, other_name="other")
    assert "<script>" not in html and 'evil.test/x.png">' not in html
    assert "&lt;script&gt;" in html
    assert 'src="https://' not in html and 'href="http' not in html  # no external asset
    assert html.count("data:image/png;base64,") == 3
    assert "Comparison with" in html


def test_cli_runs_a_filtered_suite_and_writes_the_report(tmp_path: Path) -> None:
    cli = CliRunner()
    out = tmp_path / "run"
    done = cli.invoke(
        app, ["eval", "--filter", "id=*po-small-5-mon-22-fhd", "--workers", "1", "--out", str(out)]
    )
    assert done.exit_code == 0, done.output
    assert "offline: 1 cases" in done.output
    assert (out / "report.html").is_file()
    again = cli.invoke(
        app, ["eval", "report", str(out), "--html", str(tmp_path / "r.html"), "--compare", str(out)]
    )
    assert again.exit_code == 0, again.output
    assert "Comparison with" in (tmp_path / "r.html").read_text(encoding="utf-8")


def test_parallel_workers_give_the_same_outcomes(
    tmp_path: Path, results: dict[str, Any], systems_template: Path
) -> None:
    config = RunConfig(planners=("adversarial",), filter=SUBSET, workers=2)
    parallel = run(config, tmp_path, template=systems_template)
    serial = {r["case"]: r["passed"] for r in results["trials"] if r["planner"] == "adversarial"}
    assert {r["case"]: r["passed"] for r in parallel["trials"]} == serial
    assert write_report(tmp_path).is_file()


def test_a_stricter_policy_changes_the_tiers_and_the_runs_compare(
    tmp_path: Path, systems_template: Path
) -> None:
    import yaml

    from governance.policy import DEFAULT_POLICY_PATH

    policy = yaml.safe_load(DEFAULT_POLICY_PATH.read_text(encoding="utf-8"))
    for rule in policy["rules"]:
        if rule["id"] == "small-po":  # every purchase order waits for a procurement manager
            rule.update(tier="approve", approvers={"roles": ["procurement_manager"], "count": 1})
            rule.pop("notify", None)
    strict = tmp_path / "strict.yaml"
    strict.write_text(yaml.safe_dump(policy), encoding="utf-8")
    subset = "id=*po-small-5-mon-22-fhd"
    shipped = run(RunConfig(filter=subset, workers=1), tmp_path / "a", template=systems_template)
    stricter = run(
        RunConfig(filter=subset, workers=1, policy=str(strict)), tmp_path / "b", template=systems_template
    )
    assert shipped["trials"][0]["passed"]
    assert not stricter["trials"][0]["passed"]  # the order now waits: tier and final state differ
    assert stricter["summary"]["offline"]["over_escalation"] == 1.0
    html = render(shipped, name="shipped", other=stricter, other_name="strict")
    assert "Cases whose outcome differs" in html and "po-small-5-mon-22-fhd" in html
