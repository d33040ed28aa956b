"""Backends under contract test: every implementation of each protocol, selected by name.

The local backend runs on a copy of one seeded SQLite file per test. The ServiceNow backend runs
against a stateful fake of the Table API, seeded with the same CMDB (``SEED_CIS``), so the ITSM
contract tests rely only on those CIs, the seeded user ids and what they create themselves.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.local import SEED_CIS, open_local_systems, reset_local_systems
from tools.protocols import InventoryBackend, ITSMBackend, ProcurementBackend
from tools.spec import Systems

# Optional third-party packages (the dev extra) the ServiceNow fake needs: only their absence skips.
# Anything else that fails to import, opslayer's own adapter above all, fails the tests.
_OPTIONAL_PACKAGES = ("respx",)


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("seed") / "systems.db"
    reset_local_systems(path)
    return path


@pytest.fixture
def local_systems(seeded_template: Path, tmp_path: Path) -> Systems:
    path = tmp_path / "systems.db"
    shutil.copyfile(seeded_template, path)
    return open_local_systems(path)


@pytest.fixture(params=["local", "servicenow"])
def itsm(request: pytest.FixtureRequest, local_systems: Systems) -> Iterator[ITSMBackend]:
    if request.param == "local":
        yield local_systems.itsm
        return
    try:
        from tests.fakes.servicenow import fake_servicenow
    except ModuleNotFoundError as exc:
        package = (exc.name or "").partition(".")[0]
        if package not in _OPTIONAL_PACKAGES:
            raise
        pytest.skip(f"ServiceNow contract tests need {package}, not installed (pip install -e '.[dev]')")
    with fake_servicenow(SEED_CIS) as backend:
        yield backend


@pytest.fixture(params=["local"])
def inventory(local_systems: Systems) -> InventoryBackend:
    return local_systems.inventory


@pytest.fixture(params=["local"])
def procurement(local_systems: Systems) -> ProcurementBackend:
    return local_systems.procurement
