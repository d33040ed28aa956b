"""The API world of tests/api (fresh home, offline planner, a token per person) for the impact tests."""

from tests.api.conftest import app, auth, client, ops, settings

__all__ = ["app", "auth", "client", "ops", "settings"]
