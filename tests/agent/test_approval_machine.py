"""Approvals and limits under attack, as a state machine (see ``approval_machine``); tests/pg: PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from tests.agent.approval_machine import machine_for

MACHINE_SETTINGS = settings(
    max_examples=25,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


def test_approvals_and_limits_hold_against_a_model_choosing_ids(
    tmp_path: Path, systems_template: Path
) -> None:
    run_state_machine_as_test(machine_for(tmp_path, systems_template), settings=MACHINE_SETTINGS)
