"""`opslayer slack --socket`: the Slack app over Socket Mode, for installs without a public URL.

Slack opens a WebSocket to the app (authenticated by the app-level token), so no request signing is
involved and no route is served: step-up links still need `opslayer serve` at ``OPSLAYER_PUBLIC_URL``.
One worker runs in the same process (unless OPSLAYER_SERVE_WORKER=false), as with `opslayer serve`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from agent.cli.failures import fail, failing, load_settings

if TYPE_CHECKING:
    from agent.settings import Settings


def slack(
    socket: bool = typer.Option(
        False, "--socket", help="Connect over Socket Mode (needs OPSLAYER_SLACK_APP_TOKEN).", metavar=""
    ),
) -> None:
    """Run the Slack app over Socket Mode until stopped (HTTP mode is part of `opslayer serve`)."""
    if not socket:
        fail(
            "HTTP mode is part of `opslayer serve` (/slack/events); `opslayer slack --socket` is Socket Mode"
        )
    settings = load_settings()
    missing = [
        name
        for name, value in (
            ("OPSLAYER_SLACK_BOT_TOKEN", settings.slack_bot_token),
            ("OPSLAYER_SLACK_APP_TOKEN", settings.slack_app_token),
        )
        if value is None
    ]
    if missing:
        fail(f"Socket Mode needs {' and '.join(missing)}")
    import asyncio  # here, not at the top: `opslayer --help` does not pay for it

    with failing():
        asyncio.run(_run(settings))


async def _run(settings: Settings) -> None:
    import threading

    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    from agent.operations import Operations
    from agent.slack.app import SlackFrontEnd
    from agent.worker import Worker

    assert settings.slack_app_token is not None  # checked by the command
    ops = Operations(settings)
    front = SlackFrontEnd(settings, ops)
    stop = threading.Event()
    worker = None
    if settings.serve_worker:
        worker = threading.Thread(target=Worker(settings, operations=ops).run, args=(stop,), daemon=True)
        worker.start()
    front.start()
    handler = AsyncSocketModeHandler(
        front.bolt, settings.slack_app_token.get_secret_value(), web_client=front.client
    )
    try:
        await handler.start_async()  # type: ignore[no-untyped-call]  # until the process is stopped
    finally:
        await front.stop()
        stop.set()
        if worker is not None:
            worker.join(timeout=30)
