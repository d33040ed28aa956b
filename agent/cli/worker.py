"""`opslayer worker`: do the background work of the database the settings name, until stopped.

Any number of workers may run, on any number of machines (with ``OPSLAYER_DATABASE_URL``): each piece
of work is leased from the database. SIGINT or SIGTERM lets the item in hand finish, then exits.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

import typer

from agent.cli.failures import failing, load_settings


def worker(
    once: bool = typer.Option(False, "--once", help="Do one sweep of the due work, then exit.", metavar=""),
    name: str | None = typer.Option(
        None, "--id", metavar="NAME", help="Name in leases and logs (default: host-pid-random)."
    ),
    metrics_port: int | None = typer.Option(
        None,
        "--metrics-port",
        min=1,
        max=65535,
        metavar="PORT",
        help="Serve this worker's Prometheus metrics at http://HOST:PORT/metrics (off by default).",
    ),
    metrics_host: str = typer.Option("127.0.0.1", "--metrics-host", help="Address of the metrics endpoint."),
) -> None:
    """Resume threads whose approvals are final, expire approvals, retry failed notifications and
    publish the audit head, until SIGINT/SIGTERM."""
    from agent.worker import Worker

    with failing():
        settings = load_settings()
        runner = Worker(settings, worker_id=name)
        if once:
            finished = runner.run_once()
            typer.echo(f"worker {runner.id}: {finished} item(s) done")
            return
    stop = threading.Event()

    def stopping(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger("opslayer.worker").info(
            "%s: stopping after the item in hand", signal.Signals(signum).name
        )
        stop.set()

    if metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr=metrics_host, registry=runner.operations.metrics.registry)
    signal.signal(signal.SIGINT, stopping)
    signal.signal(signal.SIGTERM, stopping)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    typer.echo(
        f"worker {runner.id}: polling every {settings.worker_poll_s:g} s, leases of "
        f"{settings.worker_lease_s:g} s, audit head to {settings.published_head_file} every "
        f"{settings.head_publish_interval_s:g} s; stop with Ctrl-C"
    )
    from agent.wiring import tune_garbage_collector

    runner.operations.warm()  # the first resume or Slack turn does not wait for the agent
    tune_garbage_collector()
    with failing():
        try:
            runner.run(stop)
        finally:
            runner.operations.close()
