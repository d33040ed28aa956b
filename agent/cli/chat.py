"""`opslayer chat` and `opslayer approvals …`: talking to the agent and reviewing what it proposes.

Thin over :class:`agent.operations.Operations`: these commands parse options, call it, and render what
comes back. Text that came from a person, a model or a backend is printed literally (no markup is read
from it, control and invisible characters are shown), so an approver sees exactly what will run.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from agent.cli.failures import fail, failing, json_object, load_settings
from agent.cli.render import (
    TIER_STYLE,
    LiteralConsole,
    folded_column,
    literal,
    print_table,
    tier_label,
    whole_column,
)
from agent.text import visible

if TYPE_CHECKING:  # the commands import what they use when they run: `opslayer --help` stays fast
    from agent.operations import Operations, VoteOutcome
    from agent.run.session import TurnResult
    from governance.approvals import ApprovalRequest

approvals_app = typer.Typer(help="Review actions waiting for approval.", no_args_is_help=True)
console = LiteralConsole()
_STATUSES = ("pending", "approved", "rejected", "expired", "all")


def chat(
    message: str | None = typer.Argument(None, help="One message; without it, an interactive session."),
    as_user: str = typer.Option("carol.desk", "--as", help="Person id from the directory."),
    thread: str | None = typer.Option(None, "--thread", help="Continue this conversation thread."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Decide and show; execute no writes.", metavar=""),
    resume: bool = typer.Option(
        False, "--resume", help="Continue --thread where its run stopped.", metavar=""
    ),
) -> None:
    """Ask the agent for operational work; every tool call it makes is governed."""
    from agent.operations import Operations
    from agent.run.errors import ThreadBusy

    text = _message(message) if message is not None and not resume else None
    with failing():
        ops = Operations(load_settings(), dry_run=dry_run)
        ops.person(as_user)
        if note := ops.grounding_note():
            console.print(literal(f"note: {note}", "yellow"))
        if resume:
            if thread is None:
                fail("--resume needs --thread ID")
            _resume(ops, thread)
        elif text is not None:
            try:
                result = ops.send(text, actor=as_user, thread=thread)
            except ThreadBusy as busy:
                fail(_busy(thread, busy))
            print_turn(console, result)
        else:
            _repl(ops, as_user, thread)


def _repl(ops: Operations, as_user: str, thread: str | None) -> None:
    from agent.run.errors import ThreadBusy

    console.print(Text.assemble("opslayer chat as ", (as_user, "bold"), " — empty line or Ctrl-D to leave."))
    while True:
        try:
            line = console.input(Text("you> ", style="bold cyan")).strip()
        except EOFError:
            break
        if not line:
            break
        if len(line) > MAX_MESSAGE:
            console.print(literal(_too_long(line), style="yellow"))
            continue
        try:
            result = ops.send(line, actor=as_user, thread=thread)
        except ThreadBusy as busy:  # waiting for approval: stay, say so, offer a new thread
            console.print(literal(_busy(thread, busy), style="yellow"))
            if console.input(Text("Start a new thread with this message? [y/N] ")).strip().lower() != "y":
                continue
            result = ops.send(line, actor=as_user)
        thread = result.thread_id
        print_turn(console, result)


MAX_MESSAGE = 20_000  # characters: the API's MessageIn accepts no more


def _message(text: str) -> str:
    """The message to send; exit 2 when it is blank or longer than the API accepts."""
    if not text.strip():
        fail('empty message: say what you need, e.g. opslayer chat "summarise INC0010032"')
    if len(text) > MAX_MESSAGE:
        fail(_too_long(text))
    return text


def _too_long(text: str) -> str:
    return f"message is {len(text):,} characters long; at most {MAX_MESSAGE:,} are accepted"


def _busy(thread: str | None, busy: Exception) -> str:
    """Why the thread takes no new message, in the service's words; for a thread whose approvals are
    decided but that nobody resumed yet (no worker runs beside the CLI), the command that resumes it."""
    from agent.run.errors import ThreadWaiting

    if isinstance(busy, ThreadWaiting) and not busy.approval_ids and thread is not None:
        return f"{busy}; or resume it now: opslayer chat --resume --thread {thread}"
    return str(busy)


def print_turn(out: Console, result: TurnResult) -> None:
    """The decisions taken in the turn, with their tiers, then the answer or what waits for approval."""
    for event in result.events:
        if event.kind == "decision" and event.payload.get("stage") in ("plan", "validation"):
            line = Text.assemble("  ", tier_label(str(event.payload.get("tier", "deny"))), " ")
            line.append(visible(event.payload.get("tool")))
            line.append(" " + visible("; ".join(event.payload.get("reasons", []))), style="dim")
            out.print(line)
        elif event.kind == "notification":
            out.print(
                Text.assemble(
                    "  ", ("notified", "cyan"), " ", visible(", ".join(event.payload["recipients"]))
                )
            )
        elif event.kind == "execution":
            replay = " (recorded result, not run again)" if event.payload.get("replayed") else ""
            done = f" {visible(event.payload.get('tool'))} → {event.payload.get('status')}{replay}"
            out.print(Text.assemble("  ", ("executed", "green"), done))
    for request in result.pending:
        label, verb = ("veto window", "") if request.veto_window else ("waiting for approval", "needs ")
        waiting = f" {request.id}: {visible(request.tool)} — {verb}{_needs(request)}"
        out.print(Text.assemble("  ", (label, "yellow"), waiting))
    if result.answer is not None:
        out.print(
            Panel(
                literal(result.answer or "(no answer)"), title="opslayer", border_style="blue", expand=False
            )
        )
    else:
        out.print(
            literal(f"Thread {result.thread_id} is paused until the approvals above are decided.", "yellow")
        )
    out.print(literal(f"thread {result.thread_id}", "dim"))


@approvals_app.command("list")
def approvals_list(
    status: str = typer.Option("pending", "--status", help="pending | approved | rejected | expired | all"),
    mine: str | None = typer.Option(None, "--actionable-by", help="Only what this person may vote on."),
    requester: str | None = typer.Option(None, "--requester", help="Only requests of this person."),
    tool: str | None = typer.Option(None, "--tool", help="Only calls of this tool."),
    as_json: bool = typer.Option(False, "--json", metavar=""),
) -> None:
    """The approval queue (ids are printed whole: copy them into `approvals show`)."""
    if status not in _STATUSES:
        fail(f"--status must be one of {', '.join(_STATUSES)}, not {status!r}")
    from agent.operations import Operations

    with failing():
        requests = Operations(load_settings()).approvals(
            status=None if status == "all" else status, actionable_by=mine, requester=requester, tool=tool
        )
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in requests], indent=2, ensure_ascii=False, default=str))
        return
    table = Table(title="Approvals")
    whole_column(table, "id", [r.id for r in requests])  # copied into `approvals show`: never cut
    folded_column(table, "status", min_width=9)
    whole_column(table, "tool", [r.tool for r in requests])
    whole_column(table, "requester", [r.requester for r in requests])
    folded_column(table, "expires (UTC)", min_width=10)
    folded_column(table, "needs", min_width=20)
    for request in requests:
        table.add_row(
            request.id,
            request.status.value,
            literal(request.tool),
            literal(request.requester),
            request.expires_at.strftime("%Y-%m-%d %H:%M"),
            literal(_needs(request)),
        )
    print_table(console, table)


@approvals_app.command("show")
def approvals_show(request_id: str, as_json: bool = typer.Option(False, "--json", metavar="")) -> None:
    """One request: the exact arguments that will run, why it needs approval, the votes so far."""
    from agent.operations import Operations

    with failing():
        view = Operations(load_settings()).approval(request_id)
    request = view.request
    if as_json:
        document = {**request.to_dict(), "request_text": view.request_text, "citations": list(view.citations)}
        typer.echo(json.dumps(document, indent=2, ensure_ascii=False, default=str))
        return
    body = Table.grid(padding=(0, 2))
    body.add_column(style="bold", no_wrap=True)
    body.add_column(overflow="fold")
    for key, value in (
        ("tool", request.tool),
        ("status", _status(request)),
        ("requested by", request.requester),
        ("request", view.request_text or "(not recorded)"),
        ("thread", request.thread_id),
        ("arguments", json.dumps(dict(request.args), indent=2, ensure_ascii=False)),
        ("args digest", request.args_digest),
        ("runs" if request.veto_window else "needs", _needs(request)),
        ("why", "\n".join(request.reasons)),
        ("grounded in", ", ".join(str(c.get("id", c)) for c in view.citations) or "(nothing cited)"),
        ("expires", request.expires_at.isoformat(timespec="minutes")),
        ("policy", request.policy_version),
    ):
        body.add_row(key, literal(value))
    for vote in request.votes:
        verdict = "approved" if vote.approve else f"rejected: {vote.reason}"
        body.add_row(
            "vote", literal(f"{vote.approver} {verdict} via {vote.channel} at {vote.at:%Y-%m-%d %H:%M}")
        )
    console.print(Panel(body, title=request.id, border_style=TIER_STYLE["approve"], expand=False))


@approvals_app.command("approve")
def approvals_approve(
    request_id: str,
    as_user: str = typer.Option(..., "--as", help="The approver's person id."),
    comment: str | None = typer.Option(None, "--comment"),
    edit_args: str | None = typer.Option(
        None, "--edit-args", help="Approve these arguments instead: the whole argument object, as JSON."
    ),
) -> None:
    """Approve (optionally with edited arguments); resumes the thread once every approval is final."""
    edited = _edited(edit_args) if edit_args is not None else None
    _vote(request_id, as_user, approve=True, comment=comment, reason=None, edited=edited)


@approvals_app.command("reject")
def approvals_reject(
    request_id: str,
    as_user: str = typer.Option(..., "--as", help="The approver's person id."),
    reason: str = typer.Option(..., "--reason", help="Why; the agent tells the requester."),
) -> None:
    """Reject with a reason; the agent is told and the thread resumes once every approval is final."""
    _vote(request_id, as_user, approve=False, comment=None, reason=reason, edited=None)


def _vote(
    request_id: str,
    as_user: str,
    *,
    approve: bool,
    comment: str | None,
    reason: str | None,
    edited: dict[str, Any] | None,
) -> None:
    from agent.operations import Operations

    with failing():
        ops = Operations(load_settings())
        outcome = ops.vote(
            request_id,
            voter=as_user,
            approve=approve,
            channel="cli",
            comment=comment,
            reason=reason,
            edited_args=edited,
        )
        console.print(literal(f"{outcome.request.id}: {_status(outcome.request)}"))
        resume_when_ready(ops, outcome)


def _edited(text: str) -> dict[str, Any]:
    """The approver's arguments: the whole argument object, not the fields that change."""
    return json_object(text, option="--edit-args", example='{"supplier_id": "SUP-001", "lines": [...], ...}')


def resume_when_ready(ops: Operations, outcome: VoteOutcome) -> None:
    """After a vote or a veto: resume the thread here once every approval it waits for is final."""
    from governance.approvals import ApprovalStatus

    thread_id = outcome.request.thread_id
    if not outcome.request.final:
        return
    if not outcome.can_resume:
        still = [r.id for r in ops.approvals(status=ApprovalStatus.PENDING) if r.thread_id == thread_id]
        console.print(literal(f"Thread {thread_id} still waits for {', '.join(still)}."))
        return
    if not ops.waiting_for(thread_id):
        return
    console.print(literal(f"All approvals of thread {thread_id} are final; resuming it."))
    _resume(ops, thread_id)


def _resume(ops: Operations, thread_id: str) -> None:
    """Resume the thread here, under its work lease: a worker already resuming it is left to it."""
    from agent.worker import Worker

    result = Worker(ops.settings, operations=ops).resume_now(thread_id)
    if result is None:
        console.print(
            literal(
                f"A worker is resuming thread {thread_id} now: follow it with "
                f"`opslayer audit tail --thread {thread_id}`.",
                "yellow",
            )
        )
        return
    print_turn(console, result)


def _status(request: ApprovalRequest) -> str:
    """``approved by …`` rather than ``approved approved by …``."""
    reason = request.status_reason
    if reason.startswith(request.status.value) or not reason:
        return reason or request.status.value
    return f"{request.status.value}: {reason}"


def _needs(request: ApprovalRequest) -> str:
    """Who must approve; for a call in its veto window, when it runs and who may stop it."""
    if request.veto_window:  # its requirements count 0: nobody need approve, a role holder may veto
        roles = " or ".join(sorted({role for r in request.requirements for role in r.roles}))
        ends = request.expires_at.strftime("%Y-%m-%d %H:%M UTC")
        return f"runs at {ends} unless someone holding {roles} vetoes it"
    return " and ".join(f"{r.count} × {' or '.join(r.roles)}" for r in request.requirements)
