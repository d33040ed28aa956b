"""The opslayer command line (typer): thin commands over the operations service."""

from __future__ import annotations

import gc
import threading

GC_PAUSE_S = 1.0
"""How long a command starts without the cyclic garbage collector (see :func:`main`)."""


def main() -> None:
    """The ``opslayer`` console script; the commands load what they need when they run.

    Starting a command imports typer, pydantic, SQLAlchemy and opslayer: hundreds of thousands of
    long-lived objects, which the cyclic garbage collector would scan again and again as they pile up
    (about a tenth of a short command's time; `make bench` reports the start-up). So the collector is
    off while a command starts, and a command still running after ``GC_PAUSE_S`` (chat, serve, worker,
    ingest…) gets it back. Reference counting frees everything else meanwhile.
    """
    pause_collector(GC_PAUSE_S)
    from agent.cli.app import main as run

    run()


def pause_collector(seconds: float) -> threading.Timer:
    """Turn the cyclic garbage collector off for ``seconds``; the returned timer turns it back on."""
    gc.disable()
    resume = threading.Timer(seconds, gc.enable)
    resume.daemon = True  # a command that ends sooner does not wait for it
    resume.start()
    return resume
