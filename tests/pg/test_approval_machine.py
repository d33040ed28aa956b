"""The approvals-and-limits state machine with governance on PostgreSQL (a fresh database an example)."""

from __future__ import annotations

from pathlib import Path

from hypothesis.stateful import run_state_machine_as_test

from tests.agent.approval_machine import machine_for
from tests.agent.test_approval_machine import MACHINE_SETTINGS
from tests.pg.conftest import _Databases


def test_approvals_and_limits_hold_against_a_model_choosing_ids(
    tmp_path: Path, systems_template: Path, _databases: _Databases
) -> None:
    made: list[str] = []

    def new_database() -> str:
        if made:  # the previous example's connections are closed by now
            _databases.done(made.pop())
        made.append(_databases.create())
        return made[-1]

    try:
        run_state_machine_as_test(
            machine_for(tmp_path, systems_template, new_database), settings=MACHINE_SETTINGS
        )
    finally:
        for url in made:
            _databases.done(url)
