"""Choosing ServiceNow for ITSM through settings."""

from __future__ import annotations

from pathlib import Path

import pytest
import respx
from httpx import Response

from agent.run.errors import ConfigurationError
from agent.settings import Settings
from agent.wiring import open_systems, servicenow_from_settings
from tools.servicenow import ServiceNowITSM


def test_missing_settings_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="OPSLAYER_SERVICENOW_URL"):
        servicenow_from_settings(Settings(home=tmp_path, itsm_backend="servicenow"))
    with pytest.raises(ConfigurationError, match="OPSLAYER_SERVICENOW_PASSWORD"):
        servicenow_from_settings(
            Settings(home=tmp_path, itsm_backend="servicenow", servicenow_url="https://x.service-now.com")
        )


def test_bearer_token_reaches_servicenow_and_local_systems_keep_inventory(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path,
        itsm_backend="servicenow",
        servicenow_url="https://acme.service-now.com",
        servicenow_token="tok-123",
    )
    systems = open_systems(settings)
    assert isinstance(systems.itsm, ServiceNowITSM)
    with respx.mock(base_url="https://acme.service-now.com") as router:
        route = router.get("/api/now/table/incident").mock(return_value=Response(200, json={"result": []}))
        assert systems.itsm.search_incidents(text="vpn") == []
    assert route.calls.last.request.headers["Authorization"] == "Bearer tok-123"
    assert systems.inventory.get_item("SSD-1TB-NVME").sku == "SSD-1TB-NVME"
