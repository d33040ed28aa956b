"""Fixtures of the eval-suite tests: the seeded systems template (root conftest) and the cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.suite.case import Case, load_cases

CASES: list[Case] = load_cases()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"
