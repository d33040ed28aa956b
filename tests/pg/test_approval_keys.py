"""Approval keys and consumption on PostgreSQL: the SQLite suite's scenarios."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Engine

from tests.governance import test_approval_keys as on_sqlite
from tests.governance.test_approvals import _World, _world


@pytest.fixture
def world(new_engine: Callable[[], Engine]) -> _World:
    return _world(new_engine)


test_the_same_call_id_at_another_stage_is_another_request = (
    on_sqlite.test_the_same_call_id_at_another_stage_is_another_request
)
test_a_key_never_returns_a_request_for_other_arguments_or_another_tool = (
    on_sqlite.test_a_key_never_returns_a_request_for_other_arguments_or_another_tool
)
test_an_approval_is_consumed_by_one_execution_only = (
    on_sqlite.test_an_approval_is_consumed_by_one_execution_only
)
test_an_approval_cannot_be_used_for_other_arguments_or_before_it_is_approved = (
    on_sqlite.test_an_approval_cannot_be_used_for_other_arguments_or_before_it_is_approved
)
test_executions_racing_for_one_approval_from_other_processes_get_it_once = (
    on_sqlite.test_executions_racing_for_one_approval_from_other_processes_get_it_once
)
