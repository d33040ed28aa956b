"""Schemathesis over the OpenAPI document, through the ASGI app: no input gives a 5xx, and every
response (errors included) has a documented status, content type and shape.

A bounded number of examples per operation keeps the run well under a minute. The caller is an
auditor with a valid token, so the fuzzer reaches past authentication into every endpoint; sends are
rate-limited to a few a minute, so most generated messages end in a documented 429, not a full turn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from agent.api import create_app
from agent.operations import Operations
from tests.api.conftest import world_settings

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory, systems_template: Path) -> tuple[Any, dict[str, str]]:
    with pytest.MonkeyPatch.context() as env:
        env.delenv("OPENAI_API_KEY", raising=False)
        world = world_settings(
            tmp_path_factory.mktemp("fuzz") / "home", systems_template, send_rate_per_minute=3
        )
        ops = Operations(world)
        token = ops.create_token("mia.audit", expires_in=None).token
        ops.send("write off 3 damaged MON-27-4K at AMS-1", actor="carol.desk")  # something to read
        app = create_app(world, operations=ops, worker=False)
    return schemathesis.openapi.from_asgi("/openapi.json", app), {"Authorization": f"Bearer {token}"}


def test_no_input_gives_a_server_error_and_every_answer_is_documented(
    fuzzed: tuple[Any, dict[str, str]],
) -> None:
    schema, headers = fuzzed
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 18

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def fuzz(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        fuzz()
