"""`opslayer executions …`: inspect the executions ledger and settle calls a crash left ``started``.

A row stays ``started`` when a process died between the backend's commit and the ledger's; its thread
then refuses to go on (``ExecutionInProgress``) until a person has checked the backend and settled it.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from agent import wiring as services
from agent.cli.render import visible
from agent.settings import Settings
from governance.audit import AuditEvent
from governance.directory import DirectoryError, UnknownPerson
from governance.executions import (
    ExecutionError,
    ExecutionInProgress,
    ExecutionLedger,
    ExecutionRecord,
    ExecutionStatus,
)
from governance.executions.settlement import NotEntitled, call_decision, settle_execution, settlement_of

executions_app = typer.Typer(
    help="Inspect executed tool calls; settle the ones a crash left started.", no_args_is_help=True
)
console = Console()
errors = Console(stderr=True)

_STATUS_STYLE = {
    ExecutionStatus.STARTED: "yellow",
    ExecutionStatus.COMPLETED: "green",
    ExecutionStatus.FAILED: "red",
}
_KEY_HELP = "The execution key, or a unique prefix of at least 8 characters."


def _fail(message: str, code: int = 2) -> NoReturn:
    # The message may quote what an operator typed or a backend held: printed literally, never obeyed.
    line = Text("error: ", style="bold red")
    line.append(visible(message))
    errors.print(line, highlight=False)
    raise typer.Exit(code)


def stuck_hint(exc: ExecutionInProgress) -> str:
    """The error for a thread blocked by a ``started`` row: what happened and the commands that unblock it."""
    record = exc.record
    key = _short(record.key)
    resume = f" with `opslayer chat --resume --thread {record.thread_id}`" if record.thread_id else ""
    return (
        f"{exc}. See it with `opslayer executions show {key}`; once the backend shows whether it took "
        f"effect, record that with `opslayer executions settle {key} --as YOU --completed --result TEXT` "
        f"(or --failed --reason TEXT), then resume the thread{resume}."
    )


@executions_app.command("list")
def executions_list(
    status: ExecutionStatus | None = typer.Option(None, "--status", help="Only this status (default: all)."),
    thread: str | None = typer.Option(None, "--thread", help="Only this thread."),
    n: int = typer.Option(50, "-n", min=1, help="How many, the most recently started first."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Executed tool calls, newest first; `--status started` shows those that may be stuck."""
    records = services.open_executions(Settings()).list(status=status, thread_id=thread, limit=n)
    if as_json:
        _print_json([record.to_dict() for record in records])
        return
    table = Table("key", "status", "tool", "thread", "attempts", "started (UTC)", title="Executions")
    for record in records:
        table.add_row(
            _short(record.key),
            Text(record.status.value, style=_STATUS_STYLE[record.status]),
            record.tool,
            record.thread_id or "",
            str(record.attempts),
            f"{record.started_at:%Y-%m-%d %H:%M:%S}",
        )
    console.print(table)


@executions_app.command("show")
def executions_show(
    key: str = typer.Argument(..., help=_KEY_HELP), as_json: bool = typer.Option(False, "--json")
) -> None:
    """One execution: the call's arguments and who asked, its outcome, and who settled it if anyone did."""
    settings = Settings()
    record = _resolve(services.open_executions(settings), key)
    audit = services.open_audit(settings)
    decision, settlement = call_decision(audit, record), settlement_of(audit, record)
    if as_json:
        _print_json({**record.to_dict(), "call": _call(decision), "settlement": _settlement(settlement)})
        return
    body = Table.grid(padding=(0, 2))
    for name, value in _show_rows(record, decision, settlement):
        body.add_row(Text(name, style="bold"), Text(value))
    console.print(Panel(body, title=record.key, border_style=_STATUS_STYLE[record.status], expand=False))
    if record.status is ExecutionStatus.STARTED:
        console.print(Text(_settle_hint(record)))


@executions_app.command("settle")
def executions_settle(
    key: str = typer.Argument(..., help=_KEY_HELP),
    as_user: str = typer.Option(..., "--as", help="Who checked the backend: a person id from the directory."),
    completed: bool = typer.Option(False, "--completed", help="The call took effect in the backend."),
    failed: bool = typer.Option(False, "--failed", help="The call did not take effect."),
    result: str | None = typer.Option(
        None,
        "--result",
        help="With --completed: the record the backend holds, as the JSON the tool returns (checked).",
    ),
    reason: str | None = typer.Option(None, "--reason", help="With --failed: why; the agent is told."),
) -> None:
    """Record what the backend shows for a call a crash left started; audited, then resume its thread."""
    status, text = _outcome(completed=completed, failed=failed, result=result, reason=reason)
    settings = Settings()
    ledger = services.open_executions(settings)
    record = _resolve(ledger, key)
    try:
        operator = services.load_directory(settings).actor(as_user)
        settled = settle_execution(
            ledger,
            services.open_audit(settings),
            services.open_usage(settings),
            record.key,
            status,
            text=text,
            operator=operator,
            tools=services.build_registry(),
            entitled_roles=settings.settle_roles,
        )
    except NotEntitled as exc:
        _fail(f"{exc} (set by OPSLAYER_SETTLE_ROLES)")
    except (ExecutionError, UnknownPerson, DirectoryError) as exc:
        _fail(str(exc))
    console.print(
        f"{settled.key[:12]}… {settled.tool}: started → {settled.status.value}, settled by {operator.id}"
    )
    if settled.thread_id is not None:
        console.print(f"Continue the thread with `opslayer chat --resume --thread {settled.thread_id}`.")


def _outcome(
    *, completed: bool, failed: bool, result: str | None, reason: str | None
) -> tuple[ExecutionStatus, str]:
    """The settlement the flags ask for; exit 2 naming the flag that is missing or does not fit."""
    if completed and failed:
        _fail("give --completed or --failed, not both")
    if not completed and not failed:
        _fail("say what the backend shows: --completed --result TEXT, or --failed --reason TEXT")
    if completed:
        if reason is not None:
            _fail("--reason goes with --failed; with --completed give --result")
        if result is None or not result.strip():
            _fail(
                "--completed needs --result TEXT: what the backend holds for this key (the agent is told it)"
            )
        return ExecutionStatus.COMPLETED, result
    if result is not None:
        _fail("--result goes with --completed; with --failed give --reason")
    if reason is None or not reason.strip():
        _fail("--failed needs a non-empty --reason TEXT: why the call did not take effect")
    return ExecutionStatus.FAILED, reason


def _resolve(ledger: ExecutionLedger, key: str) -> ExecutionRecord:
    try:
        return ledger.resolve(key)
    except ExecutionError as exc:
        _fail(f"{exc}; see `opslayer executions list`")


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
    key = _short(record.key)
    return (
        "No outcome is recorded: another worker may still be running this call, or its process stopped "
        "mid-call. Look in the backend for a record with this idempotency key (the full key above), "
        "then record what you found:\n"
        f"  opslayer executions settle {key} --as YOU --completed --result TEXT\n"
        f"  opslayer executions settle {key} --as YOU --failed --reason TEXT"
    )


def _short(key: str) -> str:
    """A prefix long enough to be unique in practice; an ambiguous one is refused, never guessed."""
    return key[:16]


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
