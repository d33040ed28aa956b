"""The review page over a fresh world (the API's: seeded local systems, offline planner, grounding off),
with a browser-like client per person: ``signed_in("grace.procure")`` signs in with a new token."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from agent.api import create_app
from agent.operations import Operations
from agent.settings import Settings
from tests.api.conftest import world_settings

SignIn = Callable[[str], TestClient]

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


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


def sign_in(client: TestClient, token: str) -> None:
    form = client.get("/login")
    done = client.post("/login", data={"token": token, "csrf": csrf_of(form.text), "next": "/"})
    assert done.status_code == 200 and done.url.path == "/", done.text


@pytest.fixture
def signed_in(app: FastAPI, ops: Operations) -> Iterator[SignIn]:
    clients: list[TestClient] = []

    def client_for(person: str) -> TestClient:
        client = TestClient(app)
        clients.append(client)
        sign_in(client, ops.create_token(person, expires_in=None).token)
        return client

    yield client_for
    for client in clients:
        client.close()
