"""The opslayer command line (typer): thin commands over the operations service."""

from __future__ import annotations


def main() -> None:
    """The ``opslayer`` console script; the commands load what they need when they run."""
    from agent.cli.app import main as run

    run()
