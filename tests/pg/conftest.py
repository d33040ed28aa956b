"""What the PostgreSQL-only tests left here take (the server fixtures are in the root conftest)."""

from __future__ import annotations

import pytest

from tests.pg.engines import Engines, OpenEngine


@pytest.fixture
def new_engine(engines: Engines) -> OpenEngine:
    """Opens another engine (own pool) on a new database of the throwaway server per call."""
    return engines.opener("postgresql")
