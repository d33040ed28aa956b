"""`opslayer autonomy …`, `opslayer monitors …` and `opslayer veto`: the people's side of oversight.

The kill switch (``autonomy pause``) makes matched calls need approval (``--deny``: refuses them) until
``autonomy resume``; a tripped monitor restricts until ``monitors clear``; ``veto`` stops a call waiting
out its veto window. Who may do each is the policy's ``autonomy`` section; every action is audited.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from agent.cli.failures import fail, failing, load_settings
from agent.cli.render import LiteralConsole, folded_column, literal, print_table, whole_column

if TYPE_CHECKING:
    from agent.operations import Operations
    from agent.run.governance import Governance
    from agent.settings import Settings
    from governance.oversight import Restriction

autonomy_app = typer.Typer(
    help="Pause and resume the agent's autonomy (the kill switch).", no_args_is_help=True
)
monitors_app = typer.Typer(help="Monitors of the policy and their trips; clear a trip.", no_args_is_help=True)
console = LiteralConsole()

_AS = "The person acting (from the directory); the policy's autonomy section says who may."


@contextmanager
def _acting() -> Iterator[Operations]:
    from agent.operations import Operations
    from agent.operations.oversight import OversightInvalid, OversightRefused
    from governance.restrictions import AlreadyCleared, UnknownRestriction

    with failing():
        try:
            yield Operations(load_settings())
        except (OversightRefused, OversightInvalid, AlreadyCleared, UnknownRestriction) as exc:
            fail(str(exc))


@autonomy_app.command("pause")
def pause(
    reason: str = typer.Option(..., "--reason", help="Why; recorded in the audit trail."),
    actor: str = typer.Option(..., "--as", help=_AS),
    tool: str | None = typer.Option(
        None, "--tool", help="Only tools matching this glob (e.g. 'inventory_*')."
    ),
    person: str | None = typer.Option(None, "--person", help="Only calls made for this person."),
    deny: bool = typer.Option(False, "--deny", help="Refuse matched calls instead of asking for approval."),
    as_json: bool = typer.Option(False, "--json", metavar=""),
) -> None:
    """Pause autonomy: matched calls need approval (or are refused) until `opslayer autonomy resume`."""
    with _acting() as ops:
        restriction = ops.oversight.pause(by=actor, reason=reason, tool=tool, person=person, deny=deny)
    if as_json:
        _print_json(restriction.to_dict())
        return
    console.print(literal(f"{restriction.id}: {restriction.describe()}"))
    console.print(
        literal(f"Resume with: opslayer autonomy resume {restriction.id} --reason ... --as {actor}")
    )


@autonomy_app.command("resume")
def resume(
    restriction_id: str = typer.Argument(..., help="The pause's id (RST-…, see `opslayer autonomy status`)."),
    reason: str = typer.Option(..., "--reason", help="Why; recorded in the audit trail."),
    actor: str = typer.Option(..., "--as", help=_AS),
) -> None:
    """End a pause."""
    with _acting() as ops:
        restriction = ops.oversight.resume(restriction_id, by=actor, reason=reason)
    console.print(literal(f"{restriction.id} resumed: autonomy is back for {', '.join(restriction.tools)}"))


@autonomy_app.command("status")
def status(as_json: bool = typer.Option(False, "--json", metavar="")) -> None:
    """Pauses in force."""
    with _acting() as ops:
        pauses = ops.oversight.pauses()
    if as_json:
        _print_json([p.to_dict() for p in pauses])
        return
    if not pauses:
        console.print("Autonomy is not paused.")
        return
    _restrictions_table(pauses, "Autonomy paused")


@monitors_app.command("list")
def monitors_list(as_json: bool = typer.Option(False, "--json", metavar="")) -> None:
    """Every monitor of the policy, and its trips not yet cleared."""
    with _acting() as ops:
        views = ops.oversight.monitors()
    if as_json:
        _print_json(
            [
                {"monitor": v.monitor.model_dump(mode="json"), "trips": [t.to_dict() for t in v.trips]}
                for v in views
            ]
        )
        return
    trips = [
        "\n".join(f"{t.id} ({t.scope} {t.subject or ''})".replace(" )", ")") for t in v.trips) for v in views
    ]
    table = Table(title="Monitors")
    whole_column(table, "monitor", [view.monitor.id for view in views])
    for name in ("kind", "per", "window", "threshold", "on trip"):
        folded_column(table, name)
    whole_column(table, "tripped (RST-…)", trips)  # one trip a line: its id is never folded
    for view, tripped in zip(views, trips, strict=True):
        monitor = view.monitor
        table.add_row(
            literal(monitor.id),
            monitor.kind,
            monitor.per,
            monitor.window,
            f"{monitor.threshold:g}",
            monitor.on_trip,
            literal(tripped or "-"),
        )
    print_table(console, table)


@monitors_app.command("clear")
def monitors_clear(
    restriction_id: str = typer.Argument(..., help="The trip's id (RST-…, see `opslayer monitors list`)."),
    reason: str = typer.Option(..., "--reason", help="Why; recorded in the audit trail."),
    actor: str = typer.Option(..., "--as", help=_AS),
) -> None:
    """Clear a tripped monitor: its restriction ends (it trips again if its figure is still over)."""
    with _acting() as ops:
        restriction = ops.oversight.clear(restriction_id, by=actor, reason=reason)
    console.print(literal(f"{restriction.id} cleared: monitor {restriction.name} no longer restricts"))


def veto(
    request_id: str = typer.Argument(..., help="The approval id of the call in its veto window (APR-…)."),
    reason: str = typer.Option(..., "--reason", help="Why; the agent and the requester are told."),
    actor: str = typer.Option(..., "--as", help="Who vetoes (must hold a role the rule's veto_by names)."),
) -> None:
    """Stop a call waiting out its veto window (a rejection with a reason); resumes the thread, so the
    agent is told why."""
    from agent.cli.chat import resume_when_ready

    with _acting() as ops:
        outcome = ops.oversight.veto(request_id, voter=actor, reason=reason, channel="cli")
        console.print(literal(f"{outcome.request.id}: {outcome.request.status_reason}"))
        resume_when_ready(ops, outcome)  # as `approvals reject` does: the agent is told the reason now


def with_oversight(settings: Settings, governance: Governance) -> Governance:
    """``governance`` deciding under the restrictions in force (pauses, tripped monitors), as the
    service does, so `opslayer policy explain` shows them."""
    from dataclasses import replace

    from agent.wiring import governance_engine, open_audit
    from governance.restrictions import RestrictionStore

    store = RestrictionStore(governance_engine(settings), audit=open_audit(settings), clock=_now)
    return replace(governance, oversight=store.oversight)


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def _restrictions_table(restrictions: list[Restriction], title: str) -> None:
    table = Table(title=title)
    whole_column(table, "id", [r.id for r in restrictions])
    whole_column(table, "by", [r.name for r in restrictions])
    folded_column(table, "scope")
    whole_column(table, "tools", [", ".join(r.tools) for r in restrictions])
    folded_column(table, "tier", min_width=7)
    folded_column(table, "since (UTC)", min_width=10)
    folded_column(table, "reason", min_width=12)
    for r in restrictions:
        where = r.scope if r.subject is None else f"{r.scope} {r.subject}"
        table.add_row(
            literal(r.id),
            literal(r.name),
            literal(where),
            literal(", ".join(r.tools)),
            r.tier.value,
            f"{r.created_at:%Y-%m-%d %H:%M:%S}",
            literal(r.reason),
        )
    print_table(console, table)


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
