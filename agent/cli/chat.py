"""`opslayer chat` and `opslayer approvals …`: talking to the agent and reviewing what it proposes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from agent import wiring as services
from agent.cli.executions import stuck_hint
from agent.cli.render import TIER_STYLE, tier_label
from agent.run.errors import PlannerUnavailable, ThreadError
from agent.run.review import lookup_facts
from agent.run.session import AgentSession, TurnResult
from agent.settings import Settings
from governance.approvals import ApprovalError, ApprovalRequest
from governance.decide import decide
from governance.decision import Decision, DecisionContext, Tier, ToolCall
from governance.directory import UnknownPerson
from governance.executions import ExecutionInProgress
from tools.errors import InvalidArguments
from tools.spec import canonical_args

approvals_app = typer.Typer(help="Review actions waiting for approval.", no_args_is_help=True)
console = Console()
errors = Console(stderr=True)


def _fail(message: str, code: int = 2) -> NoReturn:
    errors.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def chat(
    message: str | None = typer.Argument(None, help="One message; without it, an interactive session."),
    as_user: str = typer.Option("carol.desk", "--as", help="Person id from the directory."),
    thread: str | None = typer.Option(None, "--thread", help="Continue this conversation thread."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Decide and show, execute no writes."),
    resume: bool = typer.Option(False, "--resume", help="Continue --thread where its run stopped."),
) -> None:
    """Ask the agent for operational work; every tool call it makes is governed."""
    session = _session(Settings(), dry_run=dry_run)
    _check_person(session, as_user)
    if resume:
        if thread is None:
            _fail("--resume needs --thread ID")
        print_turn(console, _resume(session, thread))
        return
    if message is not None:
        print_turn(console, _send(session, message, as_user, thread))
        return
    console.print(f"opslayer chat as [bold]{as_user}[/] — empty line or Ctrl-D to leave.")
    while True:
        try:
            line = console.input("[bold cyan]you>[/] ").strip()
        except EOFError:
            break
        if not line:
            break
        result = _send(session, line, as_user, thread)
        thread = result.thread_id
        print_turn(console, result)


def print_turn(out: Console, result: TurnResult) -> None:
    """The decisions taken in the turn, with their tiers, then the answer or what waits for approval."""
    for event in result.events:
        if event.kind == "decision" and event.payload.get("stage") in ("plan", "validation"):
            tier = Tier(event.payload.get("tier", "deny"))
            why = "; ".join(event.payload.get("reasons", []))[:160]
            out.print(f"  {tier_label(tier)} {event.payload.get('tool')} [dim]{why}[/]")
        elif event.kind == "notification":
            out.print(f"  [cyan]notified[/] {', '.join(event.payload.get('recipients', []))}")
        elif event.kind == "execution":
            replay = " (recorded result, not run again)" if event.payload.get("replayed") else ""
            out.print(
                f"  [green]executed[/] {event.payload.get('tool')} → {event.payload.get('status')}{replay}"
            )
    for request in result.pending:
        out.print(f"  [yellow]waiting for approval[/] {request.id}: {request.tool} — needs {_needs(request)}")
    if result.answer is not None:
        answer = Text(result.answer or "(no answer)")  # plain text: [citation ids] are not markup
        out.print(Panel(answer, title="opslayer", border_style="blue", expand=False))
    else:
        out.print(f"[yellow]Thread {result.thread_id} is paused until the approvals above are decided.[/]")
    out.print(f"[dim]thread {result.thread_id}[/]")


@approvals_app.command("list")
def approvals_list(
    status: str | None = typer.Option("pending", "--status", help="pending|approved|rejected|expired|all"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The approval queue."""
    store = services.build_agent_deps(Settings()).approvals
    requests = store.list(status=None if status == "all" else status)
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in requests], indent=2, default=str))
        return
    table = Table("id", "status", "tool", "requester", "needs", "expires", title="Approvals")
    for request in requests:
        table.add_row(
            request.id,
            request.status.value,
            request.tool,
            request.requester,
            _needs(request),
            request.expires_at.isoformat(timespec="minutes"),
        )
    console.print(table)


@approvals_app.command("show")
def approvals_show(request_id: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """One request: the exact arguments, why it needs approval, votes so far."""
    request = _request(services.build_agent_deps(Settings()).approvals, request_id)
    if as_json:
        typer.echo(json.dumps(request.to_dict(), indent=2, default=str))
        return
    body = Table.grid(padding=(0, 2))
    for key, value in (
        ("tool", request.tool),
        ("status", f"{request.status.value} {request.status_reason}"),
        ("requested by", request.requester),
        ("thread", request.thread_id),
        ("arguments", json.dumps(dict(request.args), indent=2, ensure_ascii=False)),
        ("needs", _needs(request)),
        ("why", "\n".join(request.reasons)),
        ("expires", request.expires_at.isoformat(timespec="minutes")),
        ("policy", request.policy_version),
    ):
        body.add_row(f"[bold]{key}[/]", value)
    for vote in request.votes:
        verdict = "approved" if vote.approve else f"rejected: {vote.reason}"
        body.add_row(
            "[bold]vote[/]", f"{vote.approver} {verdict} via {vote.channel} at {vote.at:%Y-%m-%d %H:%M}"
        )
    console.print(Panel(body, title=request.id, border_style=TIER_STYLE[Tier.APPROVE], expand=False))


@approvals_app.command("approve")
def approvals_approve(
    request_id: str,
    as_user: str = typer.Option(..., "--as", help="The approver's person id."),
    comment: str | None = typer.Option(None, "--comment"),
    edit_args: str | None = typer.Option(None, "--edit-args", help="Approve these arguments instead (JSON)."),
) -> None:
    """Approve (optionally with edited arguments); resumes the thread once every approval is final."""
    _vote(request_id, as_user, approve=True, comment=comment, reason=None, edit_args=edit_args)


@approvals_app.command("reject")
def approvals_reject(
    request_id: str,
    as_user: str = typer.Option(..., "--as", help="The approver's person id."),
    reason: str = typer.Option(..., "--reason", help="Why; the agent tells the requester."),
) -> None:
    """Reject with a reason; the agent is told and the thread resumes once every approval is final."""
    _vote(request_id, as_user, approve=False, comment=None, reason=reason, edit_args=None)


def _vote(
    request_id: str,
    as_user: str,
    *,
    approve: bool,
    comment: str | None,
    reason: str | None,
    edit_args: str | None,
) -> None:
    session = _session(Settings())
    deps = session.deps
    request = _request(deps.approvals, request_id)
    try:
        approver = deps.governance.directory.actor(as_user)
        edited = _canonical_edit(session, request, edit_args) if edit_args is not None else None
        after = deps.approvals.vote(
            request.id,
            approver=approver,
            approve=approve,
            comment=comment,
            reason=reason,
            channel="cli",
            edited_args=edited,
            redecide=(lambda args: redecide(session, request, args)) if edited else None,
        )
    except (ApprovalError, UnknownPerson, InvalidArguments) as exc:
        _fail(str(exc))
    console.print(f"{after.id}: {after.status.value} {after.status_reason}".rstrip())
    if after.final:
        _resume_when_ready(session, after.thread_id)


def redecide(session: AgentSession, request: ApprovalRequest, args: Mapping[str, Any]) -> Decision:
    """The decision on edited arguments, as the requester's call (edit-and-approve)."""
    deps = session.deps
    spec = deps.governance.registry.get(request.tool)
    parsed = spec.parse_args(dict(args))
    facts, _ = lookup_facts(spec, parsed, deps.systems)
    call = ToolCall(tool=request.tool, args=canonical_args(parsed), facts=facts)
    context = DecisionContext(now=deps.clock(), channel=request.channel, thread_id=request.thread_id)
    actor = deps.governance.directory.actor(request.requester)
    return decide(deps.governance.policy, call, actor, context, deps.usage)


def _canonical_edit(session: AgentSession, request: ApprovalRequest, text: str) -> dict[str, Any]:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        _fail(f"--edit-args is not valid JSON: {exc.msg}")
    spec = session.deps.governance.registry.get(request.tool)
    return canonical_args(spec.parse_args(raw))


def _resume_when_ready(session: AgentSession, thread_id: str) -> None:
    waiting = session.pending_approvals(thread_id)
    if not waiting:
        return
    still = [i for i in waiting if not session.deps.approvals.outcome(i).final]
    if still:
        console.print(f"Thread {thread_id} still waits for {', '.join(still)}.")
        return
    console.print(f"All approvals of thread {thread_id} are final; resuming it.")
    print_turn(console, _resume(session, thread_id))


def _resume(session: AgentSession, thread_id: str) -> TurnResult:
    try:
        return session.resume(thread_id)
    except (ThreadError, PlannerUnavailable) as exc:
        _fail(str(exc))
    except ExecutionInProgress as exc:
        _fail(stuck_hint(exc))


def _send(session: AgentSession, message: str, as_user: str, thread: str | None) -> TurnResult:
    try:
        return session.send(message, actor_id=as_user, thread_id=thread)
    except (ThreadError, PlannerUnavailable) as exc:
        _fail(f"{exc}. The thread is kept; send another message to continue.")
    except ExecutionInProgress as exc:
        _fail(stuck_hint(exc))


def _session(settings: Settings, *, dry_run: bool = False) -> AgentSession:
    session: AgentSession = services.open_session(settings, dry_run=dry_run)
    return session


def _check_person(session: AgentSession, person_id: str) -> None:
    try:
        session.deps.governance.directory.get(person_id)
    except UnknownPerson as exc:
        _fail(str(exc))


def _request(store: Any, request_id: str) -> ApprovalRequest:
    request: ApprovalRequest | None = store.get(request_id)
    if request is None:
        _fail(f"no approval request {request_id!r}; see `opslayer approvals list`")
    return request


def _needs(request: ApprovalRequest) -> str:
    return " and ".join(f"{r.count} × {' or '.join(r.roles)}" for r in request.requirements)
