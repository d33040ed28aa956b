"""The ``opslayer`` command line (typer + rich).

Each command imports what it needs when it runs, so ``opslayer --help`` and the light commands do not
pay for langgraph, the model or Chroma (``make bench`` reports the start-up times).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table
from rich.text import Text

from agent.cli.chat import approvals_app, chat
from agent.cli.evals import eval_app
from agent.cli.executions import executions_app
from agent.cli.failures import MAX_EVENTS, fail, failing, json_object, load_settings
from agent.cli.knowledge import ingest, search
from agent.cli.oversight import autonomy_app, monitors_app, veto, with_oversight
from agent.cli.render import (
    LiteralConsole,
    folded_column,
    literal,
    print_decision,
    print_table,
    tier_label,
    whole_column,
)
from agent.cli.report import report
from agent.cli.serve import serve, tokens_app
from agent.cli.slack import slack
from agent.cli.worker import worker
from agent.text import visible

if TYPE_CHECKING:
    from agent.settings import Settings
    from governance.audit import AuditLog, ChainHead

app = typer.Typer(
    help="opslayer: a governed AI execution layer for enterprise operations.", no_args_is_help=True
)
policy_app = typer.Typer(help="Check and explain policies.", no_args_is_help=True)
audit_app = typer.Typer(help="Inspect and verify the audit trail.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")
app.add_typer(audit_app, name="audit")
app.add_typer(approvals_app, name="approvals")
app.add_typer(executions_app, name="executions")
app.add_typer(tokens_app, name="tokens")
app.add_typer(eval_app, name="eval")
app.add_typer(autonomy_app, name="autonomy")
app.add_typer(monitors_app, name="monitors")
app.command()(veto)
app.command()(chat)
app.command()(ingest)
app.command()(search)
app.command()(serve)
app.command()(worker)
app.command()(slack)
app.command()(report)

console = LiteralConsole()


def main() -> None:
    app()


def _version(show: bool) -> None:
    if show:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"opslayer {version('opslayer')}")
        except PackageNotFoundError:  # running from a source tree that was never installed
            typer.echo("opslayer (not installed)")
        raise typer.Exit()


@app.callback()
def _options(
    show_version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit.", metavar=""
    ),
) -> None:
    """opslayer: a governed AI execution layer for enterprise operations."""


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@app.command()
def seed(
    reset: bool = typer.Option(
        False,
        "--reset",
        help="Start the home afresh: re-seed the reference systems and drop the governance state and "
        "conversations that refer to their records (audit trail, approvals, usage, executions, checkpoints).",
    ),
    force: bool = typer.Option(
        False, "--force", help="With --reset: even while approvals are pending.", metavar=""
    ),
) -> None:
    """Create (or with --reset re-create) the seeded local ITSM, inventory and procurement systems."""
    from tools.local import reset_local_systems

    settings = load_settings()
    with failing():
        if reset:
            _reset_home(settings, force=force)
        if reset or not settings.systems_db.exists():
            summary = reset_local_systems(settings.systems_db)
            table = Table("records", "count", title=f"Seeded {settings.systems_db}")
            for name, count in summary.model_dump().items():
                table.add_row(name, str(count))
            console.print(table)
            return
        from agent.wiring import open_systems

        open_systems(settings)
    console.print(literal(f"Reference systems already at {settings.systems_db} (use --reset to re-create)."))


def _reset_home(settings: Settings, *, force: bool) -> None:
    """Drop everything that names records of the reference systems, so no number is ever reused.

    Re-seeding restarts record numbers (PO-2026-0025 again): an audit trail, approval or checkpoint
    that mentioned the old PO-2026-0025 would then name a different order.
    """
    if settings.database_url is not None:
        fail(
            "--reset drops local SQLite files only: with OPSLAYER_DATABASE_URL set, the governance state "
            "and conversations live in PostgreSQL; drop and re-create that database instead"
        )
    if settings.governance_db.exists() and not force:
        from agent.wiring import open_stores

        waiting = [r.id for r in open_stores(settings).approvals.list(status="pending")]
        if waiting:
            fail(f"approvals are pending ({', '.join(waiting)}): decide them first, or pass --force")
    for database in (settings.governance_db, settings.checkpoints_db, settings.systems_db):
        for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
            path.unlink(missing_ok=True)
    console.print(literal(f"Removed the governance state and conversations under {settings.home}."))


@app.command("tools")
def list_tools(
    as_json: bool = typer.Option(False, "--json", help="Print JSON with each tool's schema.", metavar=""),
) -> None:
    """List every tool with its side-effect class (and JSON schema with --json)."""
    from agent.wiring import build_registry

    registry = build_registry()
    if as_json:
        _print_json(registry.describe())
        return
    table = Table(title=f"{len(registry)} tools")
    whole_column(table, "tool", [spec.name for spec in registry])
    folded_column(table, "side effect")
    folded_column(table, "description", min_width=20)
    for spec in registry:
        table.add_row(spec.name, spec.side_effect.value, spec.description.split("\n")[0])
    print_table(console, table)


@app.command()
def users(as_json: bool = typer.Option(False, "--json", metavar="")) -> None:
    """List the people directory: roles, Slack user ids and managers."""
    from agent.wiring import load_directory
    from governance.directory import DirectoryError

    settings = load_settings()
    with failing():
        try:
            directory = load_directory(settings)
        except DirectoryError as exc:
            fail(str(exc))
    people = [person.model_dump(mode="json") for person in directory]
    if as_json:
        _print_json(people)
        return
    table = Table(title="People")
    whole_column(table, "id", [p["id"] for p in people])
    folded_column(table, "name")
    folded_column(table, "roles", min_width=12)
    whole_column(table, "slack", [p["slack_user_id"] or "" for p in people])
    whole_column(table, "manager", [p["manager"] or "" for p in people])
    for person in people:
        table.add_row(
            literal(person["id"]),
            literal(person["display_name"]),
            literal(", ".join(sorted(person["roles"]))),
            literal(person["slack_user_id"] or ""),
            literal(person["manager"] or ""),
        )
    print_table(console, table)


@policy_app.command("check")
def policy_check(
    file: Path | None = typer.Argument(None, help="Policy YAML (default: the policy in force)."),
) -> None:
    """Validate a policy; exit 2 listing every problem with its rule id and field."""
    from agent.wiring import load_governance
    from governance.directory import DirectoryError
    from governance.policy import PolicyError

    settings = load_settings()
    with failing(file):
        try:
            governance = load_governance(settings, policy_file=file)
        except (PolicyError, DirectoryError) as exc:
            fail(str(exc))
    policy = governance.policy.policy
    counts = f"{len(policy.rules)} rules, {len(policy.limits)} limits, {len(policy.windows)} windows"
    console.print(Text.assemble(("ok", "green"), f" {governance.policy.version}: {counts}"))
    step_up = [rule.id for rule in policy.rules if rule.step_up]
    if step_up:  # approvals of these are given signed in on the review page, never by a click in chat
        console.print(literal(f"step-up (approved on the review page only): {', '.join(step_up)}"))


@policy_app.command("explain")
def policy_explain(
    tool: str = typer.Option(..., "--tool", help="Tool name."),
    args: str = typer.Option("{}", "--args", help="Arguments as a JSON object."),
    as_user: str = typer.Option(..., "--as", help="Person id from the directory."),
    policy: Path | None = typer.Option(None, "--policy", help="Policy YAML (default: the policy in force)."),
    at: str | None = typer.Option(None, "--at", help="ISO time of the decision (default: now, UTC)."),
    as_json: bool = typer.Option(False, "--json", metavar=""),
) -> None:
    """Show the decision the policy makes for one proposed tool call (nothing is executed)."""
    from agent.run.review import explain
    from agent.wiring import load_governance, open_systems, open_usage
    from governance.directory import DirectoryError, UnknownPerson
    from governance.policy import PolicyError
    from tools.errors import InvalidArguments

    settings = load_settings()
    with failing(policy):
        try:
            governance = with_oversight(settings, load_governance(settings, policy_file=policy))
            actor = governance.directory.actor(as_user)
            decision, notes = explain(
                governance,
                tool=tool,
                raw_args=_json_object(args),
                actor=actor,
                now=_parse_time(at),
                systems=open_systems(settings),
                usage=open_usage(settings),
            )
        except (PolicyError, DirectoryError, InvalidArguments, UnknownPerson) as exc:
            fail(str(exc))
    if as_json:
        _print_json({**decision.to_dict(), "notes": notes})
        return
    print_decision(console, decision, governance.directory)
    for note in notes:
        console.print(Text.assemble(("note: ", "yellow"), visible(note)))


@policy_app.command("replay")
def policy_replay(
    policy: Path = typer.Option(
        ..., "--policy", help="The policy to compare against the recorded decisions."
    ),
    as_json: bool = typer.Option(False, "--json", metavar=""),
    all_calls: bool = typer.Option(False, "--all", help="List unchanged calls too.", metavar=""),
) -> None:
    """Shadow mode: re-decide every tool call in the audit trail under another policy; show tier changes."""
    from agent.wiring import load_governance, open_audit
    from governance.directory import DirectoryError
    from governance.policy import PolicyError
    from governance.replay import replay

    settings = load_settings()
    with failing(policy):
        try:
            governance = load_governance(settings, policy_file=policy)
        except (PolicyError, DirectoryError) as exc:
            fail(str(exc))
        results = list(replay(open_audit(settings), governance.policy, governance.directory))
    changed = [r for r in results if r.changed]
    if as_json:
        _print_json(
            {
                "policy_version": governance.policy.version,
                "calls": len(results),
                "changed": len(changed),
                "changes": [
                    r.__dict__ | {"new_rules": list(r.new_rules)} for r in (results if all_calls else changed)
                ],
            }
        )
        return
    shown = results if all_calls else changed
    table = Table(title=f"Replay under {governance.policy.version}")
    whole_column(table, "seq", [r.seq for r in shown])
    whole_column(table, "thread", [r.thread_id or "" for r in shown])
    whole_column(table, "actor", [r.actor for r in shown])
    whole_column(table, "tool", [r.tool for r in shown])
    for header in ("recorded", "under new policy"):
        folded_column(table, header, min_width=7)
    folded_column(table, "rules", min_width=12)
    for r in shown:
        table.add_row(
            str(r.seq),
            r.thread_id or "",
            r.actor,
            r.tool,
            tier_label(r.old_tier),
            tier_label(r.new_tier),
            ", ".join(r.new_rules),
        )
    print_table(console, table)
    console.print(f"{len(changed)} of {len(results)} recorded tool calls would change tier.")


@audit_app.command("head")
def audit_head(as_json: bool = typer.Option(False, "--json", metavar="")) -> None:
    """Print the newest event's SEQ:HASH; keep it where the database's writers cannot change it."""

    head = _read_audit().head()
    if as_json:
        _print_json({"seq": head.seq, "hash": head.hash})
        return
    typer.echo(visible(head))


@audit_app.command("verify")
def audit_verify(
    head: str | None = typer.Option(
        None,
        "--head",
        help="A SEQ:HASH printed by `audit head` earlier, or the head file a worker publishes "
        "(OPSLAYER_HOME/audit-head.json): fail if the chain no longer holds it.",
    ),
) -> None:
    """Recompute the hash chain; exit 1 naming the first broken event, or the kept head it lacks."""
    from governance.audit import ChainHead, Problem

    kept = None
    if head is not None:
        try:
            kept = _published_head(Path(head)) if Path(head).is_file() else ChainHead.parse(head)
        except ValueError as exc:
            fail(f"--head: {exc}")
    result = _read_audit().verify(head=kept)
    if result.ok:
        against = f", including the kept head at seq {kept.seq}" if kept is not None else ""
        console.print(
            Text.assemble(
                ("audit chain intact", "green"),
                f": {result.checked} events verified{against}; head {visible(result.head)}",
            )
        )
        return
    event = f"seq={result.first_broken_seq}" + (f" id={result.event_id}" if result.event_id else "")
    if result.problem in (Problem.HEAD_MISSING, Problem.HEAD_CHANGED):
        fail(
            f"audit chain does not hold the kept head at {event}: {result.problem}; the chain now ends "
            f"at seq {result.head.seq} ({result.checked} events checked)",
            code=1,
        )
    fail(f"audit chain broken at event {event}: {result.problem} ({result.checked} events checked)", code=1)


@audit_app.command("tail")
def audit_tail(
    n: int = typer.Option(20, "-n", help="How many of the newest events (at least 1)."),
    thread: str | None = typer.Option(None, "--thread", help="Only this thread."),
    as_json: bool = typer.Option(False, "--json", metavar=""),
) -> None:
    """Show the newest audit events, oldest first."""

    if not 1 <= n <= MAX_EVENTS:
        fail(f"-n must be from 1 to {MAX_EVENTS:,}, got {n}")
    if thread is not None and not thread.strip():
        fail("--thread must not be blank")
    if thread is not None and len(thread) > _MAX_THREAD_ID:
        fail(f"--thread is {len(thread)} characters long; thread ids have at most {_MAX_THREAD_ID}")
    audit = _read_audit()
    try:
        events = audit.tail(n, thread_id=thread)
    except json.JSONDecodeError as exc:  # AuditLog cannot return a damaged event: name it instead
        fail(_unreadable(audit, exc))
    if as_json:
        _print_json([event.to_dict() for event in events])
        return
    table = Table(title="Audit trail")
    whole_column(table, "seq", [event.seq for event in events])
    folded_column(table, "at", min_width=10)
    whole_column(table, "kind", [event.kind for event in events])
    whole_column(table, "actor", [event.actor or "" for event in events])
    whole_column(table, "thread", [event.thread_id or "" for event in events])
    folded_column(table, "payload", min_width=20)
    for event in events:
        payload = json.dumps(event.payload, ensure_ascii=False)
        cells = (
            str(event.seq),
            event.at,
            event.kind,
            event.actor or "",
            event.thread_id or "",
            payload if len(payload) <= 80 else payload[:77] + "...",
        )
        # Text, never markup: the trail holds whatever users and backends wrote.
        table.add_row(*(literal(cell) for cell in cells))
    print_table(console, table)


def _unreadable(audit: AuditLog, exc: json.JSONDecodeError) -> str:
    result = audit.verify()
    event = f"event seq={result.first_broken_seq}" if not result.ok else "an event"
    return (
        f"the audit trail cannot be listed: the payload of {event} is not JSON ({exc.msg}); "
        "`opslayer audit verify` checks the whole chain"
    )


_MAX_THREAD_ID = 255  # the width of the thread_id columns in the approvals and executions tables


@app.command()
def demo() -> None:
    """A scripted walk-through on the embedded defaults (offline, local systems)."""
    from agent.cli.demo import run_demo

    run_demo(load_settings(), console)


def _json_object(text: str) -> dict[str, Any]:
    return json_object(text, option="--args", example='{"number": "INC0010001"}')


def _parse_time(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(f"--at {text!r} is not an ISO-8601 time, e.g. 2026-12-20T09:00:00Z")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _published_head(path: Path) -> ChainHead:
    from agent.worker import read_published_head

    return read_published_head(path)


def _read_audit() -> AuditLog:
    from agent.wiring import read_audit

    with failing():
        return read_audit(load_settings())
