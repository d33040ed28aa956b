"""How long an API token may live: at most 100 years, refused clearly beyond, never an OverflowError.

Pins: the token store refuses a lifetime longer than ``MAX_LIFETIME`` with a ValueError saying the
bound, also one whose expiry date could not even be computed, and stores nothing; a huge
``OPSLAYER_TOKEN_EXPIRY_DAYS`` makes ``opslayer tokens create`` fail with one line naming the setting.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from typer.testing import CliRunner

from agent.cli.app import app
from agent.operations import Operations
from agent.settings import Settings
from governance.tokens import MAX_LIFETIME, TokenStore
from tests.pg.engines import OpenEngine


@pytest.mark.parametrize("lifetime", [MAX_LIFETIME + timedelta(days=1), timedelta(days=999_999_999)])
def test_a_lifetime_past_the_bound_is_refused_naming_it(open_engine: OpenEngine, lifetime: timedelta) -> None:
    store = TokenStore(open_engine())

    with pytest.raises(ValueError, match="a token lives at most 36500 days"):
        store.create("alice.requester", expires_in=lifetime)
    assert store.list() == []


def test_the_longest_lifetime_is_accepted(open_engine: OpenEngine) -> None:
    issued = TokenStore(open_engine()).create("alice.requester", expires_in=MAX_LIFETIME)

    assert issued.record.expires_at == issued.record.created_at + MAX_LIFETIME


def test_a_huge_expiry_setting_is_refused_naming_the_setting(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSLAYER_TOKEN_EXPIRY_DAYS", str(10**9))

    result = cli.invoke(app, ["tokens", "create", "--as", "alice.requester"])

    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert result.output.splitlines()[-1].startswith(
        "error: OPSLAYER_TOKEN_EXPIRY_DAYS: a token lives at most"
    )
    assert Operations(Settings()).tokens() == []
