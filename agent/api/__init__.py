"""The HTTP API (FastAPI, ``opslayer serve``): threads, approvals, executions, the audit trail, the
policy and the caller, under ``/v1``, described by its OpenAPI document (``/openapi.json``).

Thin over :class:`agent.operations.Operations`, as every front end is: it authenticates the caller
(:mod:`agent.api.auth`), checks what they may see, calls the service and renders what comes back;
errors become ``application/problem+json`` in one place (:mod:`agent.api.problems`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.api.app import create_app

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["app_from_environment", "create_app"]


def app_from_environment() -> FastAPI:
    """The app built from the environment's settings: what each process of ``opslayer serve --workers N``
    runs (uvicorn imports it by name in every process)."""
    from agent.settings import Settings

    return create_app(Settings(), service_process=True)
