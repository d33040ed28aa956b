"""The HTTP API (FastAPI, ``opslayer serve``): threads, approvals, executions, the audit trail, the
policy and the caller, under ``/v1``, described by its OpenAPI document (``/openapi.json``).

Thin over :class:`agent.operations.Operations`, as every front end is: it authenticates the caller
(:mod:`agent.api.auth`), checks what they may see, calls the service and renders what comes back;
errors become ``application/problem+json`` in one place (:mod:`agent.api.problems`).
"""

from __future__ import annotations

from agent.api.app import create_app

__all__ = ["create_app"]
