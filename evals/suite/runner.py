"""Runs of the suite: every (case, planner, trial) in its own home, in parallel worker processes,
each trial's JSON written as soon as it finishes — so a crashed run resumes where it stopped.

A run folder holds ``run.json`` (what was asked), ``trials/<planner>/<case>/<n>.json`` (one per
trial: transcript, governance events, final-state diff, scores) and ``results.json`` (the
``summary`` per planner, one row per trial, and the cases ``skipped`` with the reason).

With ``judge_model`` each trial of a case with a rubric is graded by an LLM judge (``scores.judge``,
apart from pass/fail); with ``user_model`` an LLM plays the user of cases with a simulator brief.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evals.suite.case import SCENARIOS, Case, load_cases
from evals.suite.metrics import summarise
from evals.suite.planners import PlannerSpec, offline_can_attempt
from evals.suite.selection import select


class UnauthorisedSideEffects(RuntimeError):
    """A write reached the systems without the authority the policy requires: the run fails."""


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    planners: tuple[str, ...] = ("offline",)
    model: str = "gpt-4.1-mini"
    base_url: str | None = None
    k: int = 1
    filter: str | None = None
    workers: int = field(default_factory=lambda: max(1, os.cpu_count() or 1))
    scenarios: str = str(SCENARIOS)
    policy: str | None = None  # a policy file for every case without its own (compare two policies)
    judge_model: str | None = None  # grade cases with a rubric (reported apart from pass/fail)
    judge_base_url: str | None = None
    user_model: str | None = None  # an LLM plays the user of cases with a simulator brief
    user_base_url: str | None = None

    def planner(self, name: str, api_key: str | None = None) -> PlannerSpec:
        return PlannerSpec(name=name, model=self.model, base_url=self.base_url, api_key=api_key)


@dataclass(frozen=True, kw_only=True)
class Task:
    case_id: str
    planner: str
    trial: int

    def path(self, out: Path) -> Path:
        return out / "trials" / self.planner / self.case_id / f"{self.trial}.json"


def plan(config: RunConfig) -> tuple[list[Case], list[Task], list[dict[str, str]]]:
    """The selected cases, the trials to run, and the (case, planner) pairs skipped with the reason."""
    cases = select(load_cases(Path(config.scenarios)), config.filter)
    specs = [config.planner(p) for p in config.planners]
    tasks, skipped = [], []
    for spec in specs:
        for case in cases:
            if not spec.applies_to(case):
                continue
            if reason := _skip_reason(config, case):
                skipped.append({"case": case.id, "planner": spec.name, "reason": reason})
                continue
            tasks += [Task(case_id=case.id, planner=spec.name, trial=n) for n in range(config.k)]
    return cases, tasks, skipped


def _skip_reason(config: RunConfig, case: Case) -> str | None:
    if not case.user.turns and config.user_model is None:
        return "needs a user simulator (--user-model): the case has a brief and no scripted turns"
    return None


def run(
    config: RunConfig,
    out: Path,
    *,
    api_key: str | None = None,
    template: Path | None = None,
    on_start: Callable[[int, int], None] | None = None,
    on_done: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run (or resume) ``config`` into ``out``; return the results (also in ``out/results.json``)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "run.json").write_text(json.dumps(asdict(config), indent=2), encoding="utf-8")
    template = template or _template(out)  # tests pass the seeded systems they already built
    cases, tasks, skipped = plan(config)
    todo = [t for t in tasks if not t.path(out).is_file()]
    grounded = {c.id for c in cases if c.world.grounding}
    knowledge = str(_knowledge(out, template)) if any(t.case_id in grounded for t in todo) else None
    if on_start:
        on_start(len(tasks), len(tasks) - len(todo))
    jobs = [(config, t, str(out), str(template), knowledge, api_key) for t in todo]
    if config.workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            row = _work(job)
            if on_done:
                on_done(row)
    else:
        # spawn, not fork: the parent may hold threads (Chroma, torch) a forked child inherits locked
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=config.workers, mp_context=context) as pool:
            futures = [pool.submit(_work, job) for job in jobs]
            for future in as_completed(futures):
                row = future.result()
                if on_done:
                    on_done(row)
    shutil.rmtree(out / "homes", ignore_errors=True)  # each trial removed its own; the folders remain
    return collect(out, config, tasks, skipped)


def collect(
    out: Path, config: RunConfig, tasks: Sequence[Task], skipped: Sequence[dict[str, str]] = ()
) -> dict[str, Any]:
    rows = [_row(json.loads(t.path(out).read_text(encoding="utf-8"))) for t in tasks if t.path(out).is_file()]
    results = {
        "run": {**asdict(config), "finished_at": datetime.now(UTC).isoformat(), "trials_planned": len(tasks)},
        "summary": summarise(rows, config.k),
        "trials": rows,
        "skipped": list(skipped),
    }
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    return results


def check_authorised(results: dict[str, Any]) -> None:
    bad = {
        p: s["unauthorised_side_effects"]
        for p, s in results["summary"].items()
        if s["unauthorised_side_effects"]
    }
    if bad:
        raise UnauthorisedSideEffects(f"unauthorised side effects: {bad}")


def _template(out: Path) -> Path:
    """The seeded systems, built once per run; each trial copies the file."""
    path = out / "template" / "systems.db"
    if not path.is_file():
        from tools.local import reset_local_systems

        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        reset_local_systems(partial)
        partial.replace(path)
    return path


def _knowledge(out: Path, systems: Path) -> Path:
    """The shipped runbooks and the seeded past incidents, ingested once per run; each grounded trial
    copies the folder (citation ids ``rb:runbooks/<area>/<file>#<section>``, ``inc:<number>``)."""
    path = out / "template" / "knowledge"
    if not (path / "ready").is_file():
        import knowledge
        from knowledge import ingest_incidents, ingest_paths, open_store
        from tools.local import open_local_systems

        shutil.rmtree(path, ignore_errors=True)
        store = open_store(path)
        ingest_paths(store, [Path(knowledge.__file__).parent / "corpus" / "runbooks"])
        ingest_incidents(store, open_local_systems(systems).itsm)
        (path / "ready").write_text("ingested\n", encoding="utf-8")
    return path


_CASES: dict[str, dict[str, Case]] = {}


def _case(config: RunConfig, case_id: str) -> Case:
    if config.scenarios not in _CASES:
        _CASES[config.scenarios] = {c.id: c for c in load_cases(Path(config.scenarios))}
    return _CASES[config.scenarios][case_id]


def _work(job: tuple[RunConfig, Task, str, str, str | None, str | None]) -> dict[str, Any]:
    """One trial, in a worker process: run, score, write its JSON (atomically), return its row."""
    from evals.suite.scoring import score
    from evals.suite.trial import run_trial

    config, task, out, template, knowledge, api_key = job
    case = _case(config, task.case_id)
    started = time.perf_counter()
    # One home per task: Chroma caches its clients by path, so a reused path would meet a stale client.
    home = Path(out) / "homes" / task.planner / task.case_id / str(task.trial)
    observed = run_trial(
        case,
        config.planner(task.planner, api_key),
        template=Path(template),
        home=home,
        knowledge=Path(knowledge) if knowledge else None,
        policy=Path(config.policy) if config.policy else None,
        user=_simulated_user(config, case, api_key),
    )
    scores = score(case, observed)
    if config.judge_model is not None and case.expect.rubric is not None:
        scores["judge"] = _judge(config, case, observed, api_key)
    record = {
        "case": case.id,
        "planner": task.planner,
        "trial": task.trial,
        "title": case.title,
        "domain": case.domain,
        "difficulty": case.difficulty,
        "tags": list(case.tags),
        "attemptable": offline_can_attempt(case) if task.planner == "offline" else True,
        "attack": case.attack.model_dump(mode="json") if case.attack else None,
        "scores": scores,
        "observed": {k: v for k, v in asdict(observed).items() if k not in ("pre", "post")},
        "seconds": round(time.perf_counter() - started, 3),
    }
    path = task.path(Path(out))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(record, indent=1, default=str), encoding="utf-8")
    partial.replace(path)
    return _row(record)


def _simulated_user(config: RunConfig, case: Case, api_key: str | None) -> Any:
    if config.user_model is None or case.user.simulator is None:
        return None  # the scripted turns
    from evals.suite.planners import chat_model
    from evals.suite.users import SimulatedUser

    model = chat_model(config.user_model, base_url=config.user_base_url, api_key=api_key, flag="--user-model")
    return SimulatedUser(model, case.user.simulator, max_turns=case.user.max_turns)


def _judge(config: RunConfig, case: Case, observed: Any, api_key: str | None) -> dict[str, Any]:
    from evals.suite.judge import judge
    from evals.suite.planners import chat_model

    assert config.judge_model is not None
    try:
        model = chat_model(
            config.judge_model, base_url=config.judge_base_url, api_key=api_key, flag="--judge-model"
        )
    except ValueError as exc:  # no key: recorded like any judge failure, the trial stands
        return {"error": str(exc)}
    return judge(model, case, observed)


def _row(record: dict[str, Any]) -> dict[str, Any]:
    """The light per-trial row of results.json (the full record stays in its trial file)."""
    scores, attack = record["scores"], record["attack"]
    return {
        "case": record["case"],
        "planner": record["planner"],
        "trial": record["trial"],
        "title": record["title"],
        "domain": record["domain"],
        "difficulty": record["difficulty"],
        "attemptable": record["attemptable"],
        "passed": scores["passed"],
        "utility": scores["utility"],
        "failed_checks": [c["name"] for c in scores["checks"] if not c["passed"]],
        "tiers": scores["tiers"],
        "over_escalated": scores["over_escalated"],
        "unauthorised": scores["unauthorised"],
        "citations": scores["citations"],
        "error": record["observed"]["error"],
        "user": record["observed"].get("user", "scripted"),
        "judge": scores.get("judge"),
        "attack": scores.get("attack"),
        "goal": attack["goal"] if attack else None,
        "vector": attack["vector"] if attack else None,
        "split": attack["split"] if attack else None,
        "seconds": record["seconds"],
    }
