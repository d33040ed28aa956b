"""`opslayer serve` (the HTTP API, with one worker in-process) and `opslayer tokens …` (personal API
tokens: create, list, revoke)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import typer
from rich.table import Table

from agent.cli.failures import fail, failing, load_settings
from agent.cli.render import LiteralConsole, literal

tokens_app = typer.Typer(help="Personal API tokens for the HTTP API.", no_args_is_help=True)
console = LiteralConsole()
_MAX_DAYS = 36_500


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8080, "--port", min=0, max=65535, help="Port to listen on."),
    processes: int = typer.Option(
        1, "--workers", min=1, max=64, help="Server processes sharing the port (each with its own worker)."
    ),
    access_log: bool = typer.Option(True, "--access-log/--no-access-log", help="Log every request."),
) -> None:
    """Serve the HTTP API (/v1, OpenAPI at /docs) and, unless OPSLAYER_SERVE_WORKER=false, one worker."""
    import uvicorn

    from agent.api import create_app

    with failing():
        settings = load_settings()
        app = create_app(settings, service_process=True)
    # proxy_headers off: the peer address must be the real one, or anyone could pass as the trusted proxy.
    options: dict[str, Any] = {"host": host, "port": port, "proxy_headers": False, "access_log": access_log}
    if processes == 1:
        uvicorn.run(app, log_level="info", **options)
        return
    # Several processes: each builds the app from the same environment (the settings were checked above).
    from agent.api.serving import run_processes

    run_processes("agent.api:app_from_environment", processes=processes, log_level="info", **options)


@tokens_app.command("create")
def tokens_create(
    as_user: str = typer.Option(..., "--as", help="The person the token speaks for."),
    expires: str | None = typer.Option(
        None, "--expires", help="Lifetime: 90d, 12h, 30m or 2w (default: OPSLAYER_TOKEN_EXPIRY_DAYS)."
    ),
    label: str | None = typer.Option(None, "--label", help="A note to recognise it by."),
) -> None:
    """Create a token and print it once, alone on the last line (only its hash is stored)."""
    from agent.operations import Operations
    from governance.tokens import parse_lifetime

    settings = load_settings()
    lifetime = timedelta(days=min(settings.token_expiry_days, _MAX_DAYS + 1))
    option = "OPSLAYER_TOKEN_EXPIRY_DAYS"
    if expires is not None:
        option = "--expires"
        try:
            lifetime = parse_lifetime(expires)
        except ValueError as exc:
            fail(f"--expires: {exc}")
    if lifetime > timedelta(days=_MAX_DAYS):  # and a date past the year 9999 cannot be stored at all
        fail(f"{option}: a token lives at most {_MAX_DAYS}d (100 years); ask for a shorter lifetime")
    with failing():
        issued = Operations(settings).create_token(as_user, expires_in=lifetime, label=label)
    record = issued.record
    console.print(
        literal(
            f"Token {record.id} for {record.person}, expires {record.to_dict()['expires_at']}. "
            "It is shown only now: keep it secret, send it as Authorization: Bearer TOKEN."
        ),
        soft_wrap=True,
    )
    typer.echo(issued.token)


@tokens_app.command("list")
def tokens_list(
    as_user: str | None = typer.Option(None, "--as", help="Only this person's tokens."),
    as_json: bool = typer.Option(False, "--json", metavar=""),
) -> None:
    """Tokens (never their secrets): who, when made, when they expire, whether revoked."""
    from agent.operations import Operations

    with failing():
        records = Operations(load_settings()).tokens(person=as_user)
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in records], indent=2, ensure_ascii=False))
        return
    table = Table(title="API tokens")
    for name in ("id", "person"):  # never cut: ids are copied into `tokens revoke`
        table.add_column(
            name, no_wrap=True, min_width=max((len(getattr(r, name)) for r in records), default=4)
        )
    for name in ("created (UTC)", "expires (UTC)", "revoked (UTC)"):
        table.add_column(name, no_wrap=True)
    table.add_column("label", overflow="fold")
    for r in records:
        times = (r.created_at, r.expires_at, r.revoked_at)
        cells = (r.id, r.person, *(t.strftime("%Y-%m-%d %H:%M") if t else "" for t in times), r.label or "")
        table.add_row(*(literal(cell) for cell in cells))
    console.print(table)


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: str = typer.Argument(..., help="The token's id (the part after opl_, as `tokens list` shows)."),
    as_user: str = typer.Option(..., "--as", help="Who revokes it (recorded in the audit trail)."),
) -> None:
    """Revoke a token: it never authenticates again."""
    from agent.operations import Operations
    from governance.tokens import NoSuchToken

    with failing():
        ops = Operations(load_settings())
        ops.person(as_user)
        try:
            record = ops.revoke_token(token_id, by=as_user)
        except NoSuchToken as missing:
            fail(str(missing))
    when = record.revoked_at.strftime("%Y-%m-%d %H:%M UTC") if record.revoked_at else "?"
    console.print(literal(f"Token {record.id} of {record.person} revoked by {record.revoked_by} at {when}."))
