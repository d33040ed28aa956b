"""The user simulator: an LLM (a scripted OpenAI-compatible endpoint, respx: no network) plays the
user of a case with a brief; its messages drive a multi-turn trial and ``###STOP###`` ends it. Without
``--user-model`` the scripted turns run, and a case with a brief only is skipped with the reason."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import respx
import yaml

from evals.suite.planners import PlannerSpec, chat_model
from evals.suite.report import render
from evals.suite.runner import RunConfig, run
from evals.suite.scoring import score
from evals.suite.trial import run_trial
from evals.suite.users import GREETING, STOP, SimulatedUser
from tests.evals.conftest import CASES
from tests.evals.endpoint import Endpoint

USER_URL = "https://user.test/v1"
DOCKS = next(c for c in CASES if c.id.endswith("conversation-docks-for-new-starters"))
ASK = "hi, two new engineers start Monday and each needs a DOCK-TB4-PRO. what would two cost?"
ORDER = "ok, go ahead and order them on CC-ENGINEERING"


def _user(max_turns: int = 4) -> SimulatedUser:
    model = chat_model("user-1", base_url=USER_URL, api_key="sk-test")
    assert DOCKS.user.simulator is not None
    return SimulatedUser(model, DOCKS.user.simulator, max_turns=max_turns)


def test_the_simulated_users_messages_drive_the_trial_and_stop_ends_it(
    systems_template: Path, home: Path
) -> None:
    with respx.mock(assert_all_mocked=True) as router:
        user = Endpoint(router, USER_URL, ASK, ORDER, f"Thanks! {STOP}")
        observed = run_trial(
            DOCKS, PlannerSpec(name="reference"), template=systems_template, home=home, user=_user()
        )
    assert [t["text"] for t in observed.transcript if t["role"] == "user"] == [ASK, ORDER]
    assert observed.user == "simulated"
    assert score(DOCKS, observed)["passed"]  # the order the simulated user asked for is on the systems
    assert len(user.requests) == 3 and not user.overrun  # the stop ended the conversation
    first = user.requests[0]["messages"]
    assert first[0]["role"] == "system" and "Two new engineers start on Monday" in first[0]["content"]
    assert first[1:] == [{"role": "user", "content": GREETING}]
    # roles flipped: its own message is the assistant's, the agent's quote comes back as the user's
    second = user.requests[1]["messages"]
    assert second[2] == {"role": "assistant", "content": ASK}
    assert second[3]["role"] == "user" and "SUP-" in second[3]["content"]


def test_a_user_that_never_stops_is_cut_at_the_cases_max_turns(systems_template: Path, home: Path) -> None:
    with respx.mock(assert_all_mocked=True) as router:
        user = Endpoint(router, USER_URL, then="and one more thing?")
        observed = run_trial(
            DOCKS,
            PlannerSpec(name="reference"),
            template=systems_template,
            home=home,
            user=_user(max_turns=3),
        )
    assert len([t for t in observed.transcript if t["role"] == "user"]) == 3
    assert len(user.requests) == 3


def test_the_runner_uses_the_user_model_only_when_asked(tmp_path: Path, systems_template: Path) -> None:
    subset = "id=*conversation-docks-for-new-starters"
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        user = Endpoint(router, USER_URL, ASK, STOP)
        scripted = run(RunConfig(filter=subset, workers=1), tmp_path / "a", template=systems_template)
        assert user.requests == []  # without --user-model the scripted turns run
        config = RunConfig(filter=subset, workers=1, user_model="user-1", user_base_url=USER_URL)
        simulated = run(config, tmp_path / "b", template=systems_template, api_key="sk-test")
    assert scripted["trials"][0]["user"] == "scripted"
    assert simulated["trials"][0]["user"] == "simulated"
    assert len(user.requests) == 2
    assert "played the user" in render(simulated, name="b")


def test_a_case_with_a_brief_only_is_skipped_with_the_reason_without_a_user_model(
    tmp_path: Path, systems_template: Path
) -> None:
    scenarios = tmp_path / "scenarios"
    shutil.copytree(DOCKS.folder, scenarios / "procurement" / "001-brief-only")
    shutil.copytree(DOCKS.folder, scenarios / "procurement" / "002-scripted")
    brief_only = scenarios / "procurement" / "001-brief-only" / "case.yaml"
    raw = yaml.safe_load(brief_only.read_text(encoding="utf-8"))
    del raw["user"]["turns"]
    brief_only.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with respx.mock(assert_all_mocked=True):  # any model call would fail the test
        results = run(
            RunConfig(planners=("reference",), workers=1, scenarios=str(scenarios)),
            tmp_path / "run",
            template=systems_template,
        )
    assert [t["case"] for t in results["trials"]] == ["procurement/002-scripted"]
    assert results["summary"]["reference"]["pass_hat"]["1"] == 1.0  # the skipped case is no failure
    [skipped] = results["skipped"]
    assert skipped["case"] == "procurement/001-brief-only" and "--user-model" in skipped["reason"]
    assert "needs a user simulator" in render(results, name="run")


def test_a_user_needs_turns_or_a_brief(tmp_path: Path) -> None:
    from evals.suite.case import CaseError, load_case

    folder = tmp_path / "itsm" / "001-silent"
    folder.mkdir(parents=True)
    (folder / "case.yaml").write_text(
        "title: t\ndomain: itsm\ndifficulty: easy\nuser: {actor: carol.desk}\n"
        "reference: [{answer: ok}]\nwrong: [{name: w, steps: [{answer: no}]}]\n",
        encoding="utf-8",
    )
    with pytest.raises(CaseError, match=r"itsm/001-silent: user: .*turns.*simulator"):
        load_case(folder, tmp_path)


def test_a_failing_simulator_is_the_trials_named_error(systems_template: Path, home: Path) -> None:
    with respx.mock(assert_all_mocked=True) as router:
        Endpoint(router, USER_URL)  # nothing scripted: the endpoint answers 400
        observed = run_trial(
            DOCKS, PlannerSpec(name="reference"), template=systems_template, home=home, user=_user()
        )
    assert observed.error is not None and observed.error.startswith("UserSimulatorError:")
    assert observed.transcript == []
