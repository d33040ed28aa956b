"""Usage holds on PostgreSQL: the SQLite suite's scenarios, processes racing under advisory locks."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Engine

from governance.usage import SqlUsageLedger
from tests.governance import test_reservations as on_sqlite


@pytest.fixture
def open_engine(new_engine: Callable[[], Engine]) -> Callable[[], Engine]:
    return new_engine


@pytest.fixture
def ledger(new_engine: Callable[[], Engine]) -> SqlUsageLedger:
    return SqlUsageLedger(new_engine())


test_a_hold_counts_like_a_charge_and_a_full_window_refuses_the_next = (
    on_sqlite.test_a_hold_counts_like_a_charge_and_a_full_window_refuses_the_next
)
test_an_escalated_limit_is_held_without_a_bound = on_sqlite.test_an_escalated_limit_is_held_without_a_bound
test_the_holds_of_one_call_are_all_taken_or_none = on_sqlite.test_the_holds_of_one_call_are_all_taken_or_none
test_a_calls_own_hold_is_replaced_not_added_to = on_sqlite.test_a_calls_own_hold_is_replaced_not_added_to
test_a_hold_becomes_the_charge_once_and_release_leaves_charges_alone = (
    on_sqlite.test_a_hold_becomes_the_charge_once_and_release_leaves_charges_alone
)
test_processes_racing_for_a_budget_never_hold_more_than_it = (
    on_sqlite.test_processes_racing_for_a_budget_never_hold_more_than_it
)
