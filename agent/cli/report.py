"""`opslayer report`: what the execution layer did, per period, system and tool (the CIO/COO view).

Counted from the audit trail by the operations service; printed as a table, written as one
self-contained HTML file (``--html``), or printed as JSON (``--json``, the same figures).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from agent.cli.failures import fail, failing, load_settings
from agent.cli.render import LiteralConsole, folded_column, literal, print_table, whole_column

if TYPE_CHECKING:
    from governance.impact import Impact

console = LiteralConsole()
progress = LiteralConsole(stderr=True)


class PeriodChoice(StrEnum):
    day = "day"
    week = "week"


def report(
    since: str | None = typer.Option(
        None,
        "--since",
        help="From this date or time (ISO 8601, UTC unless it says otherwise); default 30 days ago.",
    ),
    until: str | None = typer.Option(None, "--until", help="Up to (not including) this date or time."),
    period: PeriodChoice = typer.Option(
        PeriodChoice.day, "--period", help="Slice the figures by day or week."
    ),
    html: Path | None = typer.Option(None, "--html", help="Write the self-contained HTML report to FILE."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
) -> None:
    """Requests, calls by tier, approvals and time to decide, escalations, vetoes, denials, monitors,
    failures and the human minutes saved."""
    from agent.operations import Operations
    from agent.operations.impact import impact
    from agent.operations.report import report_data, write_html

    start, end = _moment(since, "--since"), _moment(until, "--until")
    with failing(), progress.status("Counting the audit trail…") as status:
        ops = Operations(load_settings())
        try:
            figures = impact(ops, since=start, until=end, period=period.value)
        except ValueError as exc:
            fail(str(exc))
        version, generated = ops.policy().version, datetime.now(UTC)
        if html is not None:
            status.update("Drawing the charts…")
            written = write_html(figures, html, generated_at=generated, policy_version=version)
    if as_json:
        data = report_data(figures, generated_at=generated, policy_version=version)
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
    elif html is None:
        _print_summary(figures)
    if html is not None:
        (progress if as_json else console).print(
            f"report written to {written}", highlight=False, markup=False
        )


def _moment(text: str | None, option: str) -> datetime | None:
    """A date or date-time from the command line; no offset means UTC."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        fail(f"{option} {text!r} is not a date or time like 2026-12-01 or 2026-12-01T09:00:00+01:00")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _print_summary(figures: Impact) -> None:
    from agent.operations.report import duration, percent

    totals = figures.totals
    table = Table("figure", "value", title="Impact", show_header=False)
    rows = [
        ("requests", str(totals.requests)),
        ("tool calls decided", str(totals.calls)),
        ("by tier", ", ".join(f"{tier} {count}" for tier, count in totals.by_tier.items())),
        ("completed without a human decision", percent(totals.without_human_share)),
        (
            "approvals asked / approved / rejected / expired",
            f"{totals.approvals_requested} / {totals.approved} / {totals.rejected} / {totals.expired}",
        ),
        (
            "time to decision p50 / p95",
            f"{duration(totals.decision_p50_seconds)} / {duration(totals.decision_p95_seconds)}",
        ),
        (
            "reminders / escalations / veto windows / vetoes",
            f"{totals.reminders} / {totals.escalations} / {totals.veto_windows} / {totals.vetoes}",
        ),
        (
            "denials / monitors tripped / failed executions",
            f"{totals.denials} / {totals.monitors_tripped} / {totals.failed_executions}",
        ),
        ("human minutes saved (estimate)", f"{totals.minutes_saved:,.0f}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    tools = Table(title="By tool")
    whole_column(tools, "tool", [name for name, _ in figures.tools])
    for header in ("calls", "without a human", "approvals", "denials", "failed", "saved min"):
        folded_column(tools, header)
    for name, tool in figures.tools:
        tools.add_row(
            literal(name),  # a tool name from the trail: shown exactly, markup not read
            str(tool.calls),
            percent(tool.without_human_share),
            str(tool.approvals_requested),
            str(tool.denials),
            str(tool.failed_executions),
            f"{tool.minutes_saved:,.0f}",
        )
    print_table(console, tools)
