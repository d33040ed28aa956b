"""`opslayer executions …`: inspect the executions ledger and settle calls a crash left ``started``.

A row stays ``started`` when a process died between the backend's commit and the ledger's; its thread
then refuses to go on (``ExecutionInProgress``) until a person has checked the backend and settled it.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import typer
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from agent.cli.failures import MAX_EVENTS, fail, failing, load_settings, short_key
from agent.cli.render import LiteralConsole, folded_column, literal, print_table, whole_column
from agent.text import visible

if TYPE_CHECKING:  # imported when a command runs: `opslayer --help` stays fast
    from governance.audit import AuditEvent
    from governance.executions import ExecutionRecord

executions_app = typer.Typer(
    help="Inspect executed tool calls; settle the ones a crash left started.", no_args_is_help=True
)
console = LiteralConsole()
errors = LiteralConsole(stderr=True)

_STATUS_STYLE = {"started": "yellow", "completed": "green", "failed": "red"}


class StatusChoice(StrEnum):
    started = "started"
    completed = "completed"
    failed = "failed"


_KEY_HELP = "The execution key, or a unique prefix of at least 8 characters."


@executions_app.command("list")
def executions_list(
    status: StatusChoice | None = typer.Option(None, "--status", help="Only this status (default: all)."),
    thread: str | None = typer.Option(None, "--thread", help="Only this thread."),
    n: int = typer.Option(50, "-n", min=1, max=MAX_EVENTS, help="How many, the most recently started first."),
    as_json: bool = typer.Option(False, "--json", metavar=""),
) -> None:
    """Executed tool calls, newest first; `--status started` shows those that may be stuck."""
    from agent.operations import Operations
    from governance.executions import ExecutionStatus

    with failing():
        wanted = None if status is None else ExecutionStatus(status.value)
        records = Operations(load_settings()).executions(status=wanted, thread=thread, limit=n)
    if as_json:
        _print_json([record.to_dict() for record in records])
        return
    table = Table(title="Executions")
    whole_column(table, "key", [short_key(record.key) for record in records])
    folded_column(table, "status", min_width=9)
    whole_column(table, "tool", [record.tool for record in records])
    whole_column(table, "thread", [record.thread_id or "" for record in records])
    folded_column(table, "attempts")
    folded_column(table, "started (UTC)", min_width=10)
    for record in records:
        table.add_row(
            literal(short_key(record.key)),
            Text(record.status.value, style=_STATUS_STYLE[record.status.value]),
            literal(record.tool),
            literal(record.thread_id or ""),
            str(record.attempts),
            f"{record.started_at:%Y-%m-%d %H:%M:%S}",
        )
    print_table(console, table)


@executions_app.command("show")
def executions_show(
    key: str = typer.Argument(..., help=_KEY_HELP), as_json: bool = typer.Option(False, "--json", metavar="")
) -> None:
    """One execution: the call's arguments and who asked, its outcome, and who settled it if anyone did."""
    from agent.operations import Operations

    with failing():
        view = Operations(load_settings()).execution(key)
    record, decision, settlement = view.record, view.decision, view.settlement
    if as_json:
        _print_json({**record.to_dict(), "call": _call(decision), "settlement": _settlement(settlement)})
        return
    body = Table.grid(padding=(0, 2))
    for name, value in _show_rows(record, decision, settlement):
        body.add_row(Text(name, style="bold"), Text(value))
    console.print(
        Panel(body, title=record.key, border_style=_STATUS_STYLE[record.status.value], expand=False)
    )
    if record.status.value == "started":
        console.print(Text(_settle_hint(record)))


@executions_app.command("settle")
def executions_settle(
    key: str = typer.Argument(..., help=_KEY_HELP),
    as_user: str = typer.Option(..., "--as", help="Who checked the backend: a person id from the directory."),
    completed: bool = typer.Option(
        False, "--completed", help="The call took effect in the backend.", metavar=""
    ),
    failed: bool = typer.Option(False, "--failed", help="The call did not take effect.", metavar=""),
    result: str | None = typer.Option(
        None,
        "--result",
        help="With --completed: the record the backend holds, as the JSON the tool returns (checked).",
    ),
    reason: str | None = typer.Option(None, "--reason", help="With --failed: why; the agent is told."),
) -> None:
    """Record what the backend shows for a call a crash left started; audited, then resume its thread."""
    from agent.operations import Operations
    from governance.executions.settlement import NotEntitled

    status, text = _outcome(completed=completed, failed=failed, result=result, reason=reason)
    with failing():
        try:
            settled = Operations(load_settings()).settle(key, status, text=text, operator=as_user)
        except NotEntitled as exc:
            fail(f"{exc} (set by OPSLAYER_SETTLE_ROLES)")
    summary = f"{settled.key} {visible(settled.tool)}: started → {settled.status.value}"
    console.print(Text(f"{summary}, settled by {as_user}"))
    if settled.thread_id is not None:
        console.print(
            Text(f"Continue the thread with `opslayer chat --resume --thread {settled.thread_id}`.")
        )


def _outcome(*, completed: bool, failed: bool, result: str | None, reason: str | None) -> tuple[Any, str]:
    """The settlement the flags ask for; exit 2 naming the flag that is missing or does not fit."""
    if completed and failed:
        fail("give --completed or --failed, not both")
    if not completed and not failed:
        fail("say what the backend shows: --completed --result TEXT, or --failed --reason TEXT")
    if completed:
        if reason is not None:
            fail("--reason goes with --failed; with --completed give --result")
        if result is None or not result.strip():
            fail(
                "--completed needs --result TEXT: what the backend holds for this key (the agent is told it)"
            )
        from governance.executions import ExecutionStatus

        return ExecutionStatus.COMPLETED, result
    if result is not None:
        fail("--result goes with --completed; with --failed give --reason")
    if reason is None or not reason.strip():
        fail("--failed needs a non-empty --reason TEXT: why the call did not take effect")
    from governance.executions import ExecutionStatus

    return ExecutionStatus.FAILED, reason


def _show_rows(
    record: ExecutionRecord, decision: AuditEvent | None, settlement: AuditEvent | None
) -> list[tuple[str, str]]:
    rows = [("tool", record.tool), ("status", record.status.value), ("thread", record.thread_id or "")]
    if decision is not None:
        rows += [
            ("tool call", str(decision.payload.get("tool_call_id"))),
            ("requested by", decision.actor or ""),
            ("arguments", json.dumps(decision.payload.get("args"), indent=2, ensure_ascii=False)),
        ]
    rows += [
        ("args digest", record.args_digest),
        ("attempts", str(record.attempts)),
        ("started", record.started_at.isoformat(timespec="seconds")),
        ("finished", "" if record.finished_at is None else record.finished_at.isoformat(timespec="seconds")),
    ]
    if record.result is not None:
        rows.append(("result", record.result))
    if record.error is not None:
        rows.append(("error", f"{record.error} ({record.error_type})"))
    if settlement is not None:
        rows.append(("settled by", f"{settlement.actor} at {settlement.at}"))
    return rows


def _settle_hint(record: ExecutionRecord) -> str:
    key = short_key(record.key)
    return (
        "No outcome is recorded: another worker may still be running this call, or its process stopped "
        "mid-call. Look in the backend for a record with this idempotency key (the full key above), "
        "then record what you found:\n"
        f"  opslayer executions settle {key} --as YOU --completed --result TEXT\n"
        f"  opslayer executions settle {key} --as YOU --failed --reason TEXT"
    )


def _call(decision: AuditEvent | None) -> dict[str, Any] | None:
    if decision is None:
        return None
    payload = decision.payload
    return {
        "tool_call_id": payload.get("tool_call_id"),
        "requested_by": decision.actor,
        "args": payload.get("args"),
        "tier": payload.get("tier"),
        "decided_at": decision.at,
    }


def _settlement(event: AuditEvent | None) -> dict[str, Any] | None:
    return None if event is None else {**event.payload, "at": event.at, "seq": event.seq}


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
