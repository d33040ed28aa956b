"""The attacks on approvals and limits (``tests/agent/test_attacks.py``) with governance on PostgreSQL.

The graph, the local systems and the checkpoints stay on SQLite; audit, usage, approvals and
executions are on a fresh database of the throwaway server, each session on its own engine as each
process would be.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.agent import test_attacks as on_sqlite
from tests.agent.graph_support import ScriptedLLM, World


@pytest.fixture
def world(
    tmp_path: Path, systems_template: Path, llm: ScriptedLLM, new_engine: Callable[[], Engine]
) -> World:
    return World(tmp_path / "home", systems_template, governance_engine=new_engine)


test_a_recheck_approval_replayed_as_a_call_id_creates_nothing = (
    on_sqlite.test_a_recheck_approval_replayed_as_a_call_id_creates_nothing
)
test_a_preclaimed_recheck_key_cannot_move_an_approval_to_other_arguments = (
    on_sqlite.test_a_preclaimed_recheck_key_cannot_move_an_approval_to_other_arguments
)
test_two_sessions_racing_for_the_last_of_a_budget_never_both_pass = (
    on_sqlite.test_two_sessions_racing_for_the_last_of_a_budget_never_both_pass
)
