"""The approvals-and-limits state machine with governance on PostgreSQL (a fresh database an example).

A test of its own, not a parametrisation of ``tests/agent/test_approval_machine.py`` (SQLite): the
machine takes a database maker per example, where the parametrised tests take one database a test.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis.stateful import run_state_machine_as_test

from tests.agent.approval_machine import machine_for
from tests.agent.test_approval_machine import MACHINE_SETTINGS
from tests.pg.server import Databases


def test_approvals_and_limits_hold_against_a_model_choosing_ids(
    tmp_path: Path, systems_template: Path, pg_databases: Databases
) -> None:
    made: list[str] = []

    def new_database() -> str:
        if made:  # the previous example's connections are closed by now
            pg_databases.done(made.pop())
        made.append(pg_databases.create())
        return made[-1]

    try:
        run_state_machine_as_test(
            machine_for(tmp_path, systems_template, new_database), settings=MACHINE_SETTINGS
        )
    finally:
        for url in made:
            pg_databases.done(url)
