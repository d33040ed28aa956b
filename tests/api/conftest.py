"""An API over a fresh world: the seeded local systems, the offline planner, grounding off, no worker
(tests resume threads themselves, as the worker would), and a token per person on first use."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from agent.api import create_app
from agent.operations import Operations
from agent.settings import Settings

Headers = Callable[[str], dict[str, str]]


def world_settings(home: Path, systems_template: Path, **overrides: object) -> Settings:
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(systems_template, home / "systems.db")
    fields: dict[str, Any] = {"home": home, "grounding": False, "serve_worker": False, **overrides}
    return Settings(_env_file=None, **fields)


@pytest.fixture
def settings(tmp_path: Path, systems_template: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPSLAYER_OPENAI_API_KEY", raising=False)
    return world_settings(tmp_path / "home", systems_template)


@pytest.fixture
def ops(settings: Settings) -> Operations:
    return Operations(settings)


@pytest.fixture
def app(settings: Settings, ops: Operations) -> FastAPI:
    return create_app(settings, operations=ops, worker=False)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


@pytest.fixture
def auth(ops: Operations) -> Headers:
    """``auth(person)``: the Authorization header of a token made for that person."""
    made: dict[str, str] = {}

    def headers(person: str) -> dict[str, str]:
        if person not in made:
            made[person] = ops.create_token(person, expires_in=None).token
        return {"Authorization": f"Bearer {made[person]}"}

    return headers
