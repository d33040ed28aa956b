"""`opslayer eval`: run the scenario suite against a planner and write the results and report.

``opslayer eval`` runs (or, with ``--resume RUN``, continues) a run; ``opslayer eval report RUN``
writes the self-contained HTML report, optionally comparing it with another run. The work is in
:mod:`evals.suite`; this module only parses options and shows progress.
"""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from agent.cli.render import LiteralConsole

eval_app = typer.Typer(
    help="Run the eval suite (scenarios scored on the systems' final state) and write reports.",
    invoke_without_command=True,
)
console = LiteralConsole(highlight=False)


@eval_app.callback()
def run(
    ctx: typer.Context,
    planner: list[str] = typer.Option(
        ["offline"], "--planner", help="offline | adversarial | openai; repeat for several.", metavar="NAME"
    ),
    model: str = typer.Option("gpt-4.1-mini", "--model", help="Model name for --planner openai."),
    base_url: str | None = typer.Option(None, "--base-url", help="OpenAI-compatible endpoint URL."),
    k: int = typer.Option(1, "--k", min=1, help="Trials per case (pass^1 ... pass^k)."),
    filter_: str | None = typer.Option(None, "--filter", help="Which cases, e.g. 'domain=itsm !tag=freeze'."),
    workers: int = typer.Option(0, "--workers", min=0, help="Worker processes (0: one per CPU)."),
    policy: Path | None = typer.Option(
        None, "--policy", help="Policy YAML for every case without its own (default: the shipped policy)."
    ),
    judge_model: str | None = typer.Option(
        None, "--judge-model", help="Grade cases with a rubric by this LLM (reported apart from pass/fail)."
    ),
    judge_base_url: str | None = typer.Option(
        None, "--judge-base-url", help="OpenAI-compatible endpoint of the judge."
    ),
    user_model: str | None = typer.Option(
        None, "--user-model", help="An LLM plays the user of cases with a simulator brief."
    ),
    user_base_url: str | None = typer.Option(
        None, "--user-base-url", help="OpenAI-compatible endpoint of the user simulator."
    ),
    resume: Path | None = typer.Option(None, "--resume", help="Continue this run folder where it stopped."),
    out: Path | None = typer.Option(None, "--out", help="Run folder (default: .opslayer/evals/<time>)."),
    html: bool = typer.Option(True, "--report/--no-report", help="Write report.html into the run folder."),
) -> None:
    """Run the suite; exit 2 if any write reached the systems without the authority policy requires."""
    if ctx.invoked_subcommand is not None:
        return
    from evals.suite.runner import RunConfig, UnauthorisedSideEffects, check_authorised
    from evals.suite.runner import run as run_suite
    from evals.suite.selection import FilterError

    if resume is not None:
        config = RunConfig(**json.loads((resume / "run.json").read_text(encoding="utf-8")))
        if workers:
            config = dataclasses.replace(config, workers=workers)
        folder = resume
    else:
        config = RunConfig(
            planners=tuple(planner),
            model=model,
            base_url=base_url,
            k=k,
            filter=filter_,
            workers=workers or max(1, os.cpu_count() or 1),
            policy=str(policy.resolve()) if policy else None,
            judge_model=judge_model,
            judge_base_url=judge_base_url,
            user_model=user_model,
            user_base_url=user_base_url,
        )
        folder = out or Path(".opslayer/evals") / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        if (folder / "run.json").exists():
            raise typer.BadParameter(f"{folder} holds a run already: --resume it, or choose another --out")
    uses_llm = "openai" in config.planners or config.judge_model or config.user_model
    api_key = os.environ.get("OPENAI_API_KEY") if uses_llm else None
    try:
        results = _with_progress(lambda **hooks: run_suite(config, folder, api_key=api_key, **hooks))
    except FilterError as exc:
        raise typer.BadParameter(str(exc), param_hint="--filter") from exc
    _print_summary(results["summary"])
    if results["skipped"]:
        console.print(f"skipped: {len(results['skipped'])} (case, planner) pairs, reasons in results.json")
    if html:
        from evals.suite.report import write_report

        console.print(f"report: {write_report(folder)}")
    console.print(f"results: {folder / 'results.json'}")
    try:
        check_authorised(results)
    except UnauthorisedSideEffects as exc:
        console.print(f"FAILED: {exc}")
        raise typer.Exit(2) from exc


@eval_app.command("report")
def report(
    run_dir: Path = typer.Argument(..., metavar="RUN", help="A run folder (with results.json)."),
    html: Path | None = typer.Option(
        None, "--html", help="Where to write the HTML (default RUN/report.html)."
    ),
    compare: Path | None = typer.Option(None, "--compare", help="Another run to compare with."),
) -> None:
    """Write the self-contained HTML report of a run (charts inline), optionally against another run."""
    from evals.suite.report import write_report

    console.print(f"report: {write_report(run_dir, html=html, compare=compare)}")


def _with_progress(start: Any) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]eval"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[last]}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("trials", total=None, last="")

        def on_start(total: int, done: int) -> None:
            progress.update(task, total=total, completed=done)

        def on_done(row: dict[str, Any]) -> None:
            mark = "pass" if row["passed"] else "FAIL"
            progress.update(task, advance=1, last=f"{row['planner']} {row['case']} {mark}")

        return start(on_start=on_start, on_done=on_done)


def _print_summary(summary: dict[str, Any]) -> None:
    for planner, figures in summary.items():
        passes = ", ".join(f"pass^{n}={_pct(v)}" for n, v in figures["pass_hat"].items())
        domains = ", ".join(f"{d}={_pct(g['pass1'])}" for d, g in figures["by_domain"].items())
        console.print(f"{planner}: {figures['cases']} cases, {figures['trials']} trials; {passes}; {domains}")
        console.print(
            f"  tier accuracy {_pct(figures['tier_accuracy'])}, "
            f"over-escalation {_pct(figures['over_escalation'])}, "
            f"unauthorised side effects {figures['unauthorised_side_effects']}"
        )
        if figures["judged"] or figures["judge_errors"]:
            mean = "n/a" if figures["judge_mean"] is None else f"{figures['judge_mean']:.2f}"
            console.print(
                f"  LLM judge (not part of pass/fail): mean score {mean} over {figures['judged']} trials, "
                f"{figures['judge_errors']} judge errors"
            )
        injection = figures.get("injection")
        if injection:
            console.print(
                f"  injection: model-level ASR {_pct(injection['model_asr'])}, system-level ASR "
                f"{_pct(injection['system_asr'])}, interception {_pct(injection['interception'])}, "
                f"utility under attack {_pct(injection['utility_under_attack'])}"
            )


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"
