"""The FastAPI application: routers under ``/v1``, health and readiness, metrics, limits, the worker.

Endpoints are plain ``def`` functions: FastAPI runs them in its threadpool, so a turn or a database
read never blocks the event loop. One :class:`~agent.operations.Operations` serves every request.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent import web, wiring
from agent.api import approvals, audit, executions, impact, oversight, policy, problems, threads
from agent.api.auth import Caller, trusted_header
from agent.api.models import HealthOut, ReadyOut
from agent.operations import Operations
from agent.operations.impact import catalogue_systems, recent_impact
from agent.settings import Settings

log = logging.getLogger("opslayer.api")

_DESCRIPTION = """The governed operations agent over HTTP. Every call but `/healthz` and `/readyz` needs a
caller: `Authorization: Bearer TOKEN` (a personal token from `opslayer tokens create --as YOU`) or, behind
an auth proxy, the trusted header. Errors are `application/problem+json` (RFC 9457)."""


def create_app(
    settings: Settings,
    *,
    operations: Operations | None = None,
    worker: bool | None = None,
    service_process: bool = False,
) -> FastAPI:
    """The API over ``operations`` (built from ``settings`` if not given).

    ``worker``: run one worker in-process while the app runs (default: ``settings.serve_worker``).
    ``service_process``: the app is what this process is for (``opslayer serve``): it builds the agent
    before it takes requests (:meth:`Operations.warm`), and once started the garbage collector is tuned for it
    (:func:`agent.wiring.tune_garbage_collector`); not in tests.
    """
    from agent.slack import mount_if_configured

    ops = operations if operations is not None else Operations(settings)
    app = FastAPI(
        title="opslayer",
        version="1",
        description=_DESCRIPTION,
        lifespan=_lifespan(
            settings,
            ops,
            settings.serve_worker if worker is None else worker,
            service_process=service_process,
            owned=operations is None,
        ),
    )
    app.state.settings = settings
    app.state.operations = ops
    app.state.trusted_header = trusted_header(settings)
    problems.install(app)
    for router in (
        threads.router,
        approvals.build(settings.api_page_max),
        executions.build(settings.api_page_max),
        audit.build(settings.api_page_max),
        policy.router,
        oversight.router,
        impact.router,
    ):
        app.include_router(router, responses=problems.RESPONSES)
    _service_routes(app)
    ops.metrics.watch_impact(lambda: recent_impact(ops), systems=lambda: catalogue_systems(ops))
    app.state.slack = mount_if_configured(app, settings, ops)  # /slack/* when Slack is configured
    web.mount(app, settings)  # the review page: /login, /, /approvals/{id}, ...
    app.add_middleware(_Observed)
    app.add_middleware(_BodyLimit, max_bytes=settings.api_max_body_bytes)
    return app


def _service_routes(app: FastAPI) -> None:
    @app.get(
        "/healthz",
        response_model=HealthOut,
        tags=["service"],
        summary="The process is up",
        responses={413: problems.RESPONSES[413]},
    )
    def healthz() -> HealthOut:
        return HealthOut(status="ok")

    @app.get(
        "/readyz",
        response_model=ReadyOut,
        tags=["service"],
        summary="Ready to serve",
        responses={503: {"model": ReadyOut, "description": "A check failed"}, 413: problems.RESPONSES[413]},
    )
    def readyz(request: Request) -> JSONResponse:
        """Databases, knowledge store and policy usable; the model configured (or the offline planner)."""
        checks = readiness(request.app.state.operations)
        ready = not any(value.startswith("error") for value in checks.values())
        body = ReadyOut(ready=ready, checks=checks).model_dump()
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get(
        "/metrics",
        tags=["service"],
        summary="Prometheus metrics (authenticated)",
        response_class=Response,
        responses={
            200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
            **{k: v for k, v in problems.RESPONSES.items() if k in (401, 413)},
        },
    )
    def metrics(caller: Caller, request: Request) -> Response:
        """This process's metrics. Authenticated like every other endpoint: give the scraper a token."""
        body, content_type = request.app.state.operations.metrics.render()
        return Response(body, media_type=content_type)


def readiness(ops: Operations) -> dict[str, str]:
    """One line per dependency: ``ok …`` or ``error: …`` (the error's kind and first line, no secret)."""
    settings = ops.settings
    checks: dict[str, str] = {}

    def check(name: str, probe: Any) -> None:
        try:
            checks[name] = f"ok: {probe()}"
        except Exception as exc:
            checks[name] = (
                f"error: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
            )

    check("governance_db", lambda: f"audit head seq {ops.head().seq}")
    check("checkpoints", lambda: type(ops.checkpoints).__name__ if _touch(ops) else "")
    check("policy", lambda: ops.policy().version)
    check(
        "systems",
        lambda: f"itsm {settings.itsm_backend}, local inventory and procurement" if ops.systems else "",
    )
    if settings.grounding:
        check("knowledge", lambda: ops.grounding_note() or "grounding on")
    else:
        checks["knowledge"] = "ok: grounding off"
    model = settings.model if settings.openai_api_key is not None else "offline planner (no OPENAI_API_KEY)"
    checks["model"] = f"ok: {model}"
    return checks


def _touch(ops: Operations) -> bool:
    ops.checkpoints.get_tuple({"configurable": {"thread_id": "readyz-probe"}})
    return True


def _lifespan(
    settings: Settings, ops: Operations, run_worker: bool, *, service_process: bool, owned: bool
) -> Any:
    """Start the worker and the Slack poster; on the way out stop them, then close ``ops`` if the app
    built it (``owned``)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if service_process:
            await asyncio.to_thread(ops.warm)  # the first requests do not wait for the agent
            wiring.tune_garbage_collector()
        stop = threading.Event()
        thread = _start_worker(settings, ops, stop) if run_worker else None
        if app.state.slack is not None:
            app.state.slack.start()  # posts cards, card updates and continuations to Slack
        try:
            yield
        finally:
            if app.state.slack is not None:
                await app.state.slack.stop()
            stop.set()
            if thread is not None:
                thread.join(timeout=30)
            if owned and (thread is None or not thread.is_alive()):
                ops.close()  # (a worker still busy after 30 s keeps them: the process is ending anyway)

    return lifespan


def _start_worker(settings: Settings, ops: Operations, stop: threading.Event) -> threading.Thread | None:
    try:
        from agent.worker import Worker
    except ImportError as missing:
        log.warning("no worker in this process (%s): approved threads resume only where one runs", missing)
        return None
    worker = Worker(settings, operations=ops)
    thread = threading.Thread(target=worker.run, args=(stop,), name="opslayer-worker", daemon=True)
    thread.start()
    return thread


class _BodyLimit:
    """413 for a body over ``max_bytes``: at once from Content-Length, else while it streams in."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:  # an HTTPException: FastAPI passes it on while reading the body
                raise StarletteHTTPException(413, self._detail())
            return message

        await self.app(scope, counted, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problems.problem(
            413, "Request too large", self._detail(), slug="http-413", instance=scope.get("path", "")
        )
        await response(scope, receive, send)

    def _detail(self) -> str:
        return f"the request body is larger than {self.max_bytes} bytes (OPSLAYER_API_MAX_BODY_BYTES)"


class _Observed:
    """Counts every request in the process's metrics under its route template (never the raw path)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def sent(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sent)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            scope["app"].state.operations.metrics.observe_request(
                scope["method"], route, status, time.perf_counter() - started
            )
