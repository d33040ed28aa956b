"""Every error the API returns, as one ``application/problem+json`` shape (RFC 9457), mapped here once.

``{"type", "title", "status", "detail", "instance"}`` plus members naming what is at fault:
``errors`` (``[{"loc": [...], "msg": ...}]``) for invalid input, ``request_id``, ``thread_id``,
``execution_key``, ``person_id`` or ``token`` problems for the id concerned; ``retry_after`` (seconds),
also sent as ``Retry-After``, when trying again later may succeed. Refusals of access (401,
403, the 404 that hides what a caller may not see, 429) are written to the audit trail as
``access_denied``, with the path cut to :data:`PATH_KEPT` characters (and its length). Anonymous
refusals (401) are bounded: at most :data:`ANONYMOUS_REFUSALS_PER_MINUTE` a minute per process are
written; the rest are counted, and the next one written says how many were not (``unaudited_before``).
An error nobody mapped is a bug: a 500 that names no secret and no stack.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
_TYPES = "https://opslayer.dev/problems/"
_log = logging.getLogger("opslayer.api")

PATH_KEPT = 300
"""How much of a refused request's path the trail records (``path_length`` gives the whole length)."""
ANONYMOUS_REFUSALS_PER_MINUTE = 60
"""How many 401s one process writes to the trail a minute: anyone can send them, and the trail is
append-only, so an anonymous client must not decide how fast it grows."""
_REASON_KEPT = 500


class Problem(BaseModel):
    """An error (RFC 9457); extension members name what is at fault."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    instance: str


def _documented(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description, "content": {PROBLEM_JSON: {}}}


RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _documented(
        "No caller, or bad credentials (`WWW-Authenticate: Bearer`); audited, at most "
        f"{ANONYMOUS_REFUSALS_PER_MINUTE} a minute per server process"
    ),
    403: _documented("The caller may not do this"),
    404: _documented("No such thing, or one the caller may not see"),
    409: _documented(
        "The state does not allow it now (a waiting thread, a closed request, a send whose "
        "`Idempotency-Key` is in use by a request still running: `Retry-After`)"
    ),
    413: _documented("The body is larger than allowed"),
    422: _documented(
        "Invalid input; `errors` names each field at fault (`body` for a body that is not readable JSON, "
        "`header` for an `Idempotency-Key` that is malformed or was used for a different request)"
    ),
    429: _documented("Too many messages; `Retry-After` says when to try again"),
    500: _documented("A configuration error (named) or a bug (logged, not shown)"),
    502: _documented("An operations system failed"),
    503: _documented("The planner (LLM) or the notifier is unavailable"),
}
"""Every error an endpoint can answer with, for the OpenAPI document."""


class ApiProblem(Exception):
    """An error the API itself raises (authentication, visibility, limits); ``audited`` refusals are
    written to the trail."""

    status = 400
    title = "Bad request"
    slug = "bad-request"
    audited = False

    def __init__(self, detail: str, *, headers: Mapping[str, str] | None = None, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = dict(headers or {})
        self.extensions = extensions


class Invalid(ApiProblem):
    """Input of the right shape that still cannot be used; ``errors`` names the field."""

    status, title, slug = 422, "Invalid request", "invalid-request"


class Conflict(ApiProblem):
    """The state of the thing does not allow it now (already cleared, not in a veto window)."""

    status, title, slug = 409, "Conflict", "conflict"


class Unauthenticated(ApiProblem):
    status, title, slug, audited = 401, "Not authenticated", "unauthenticated", True

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="opslayer"'}, **extensions)


class Forbidden(ApiProblem):
    status, title, slug, audited = 403, "Not allowed", "forbidden", True


class NotFound(ApiProblem):
    """Also what a caller gets for something that exists but they may not see: ids cannot be probed."""

    status, title, slug, audited = 404, "Not found", "not-found", True


class RateLimited(ApiProblem):
    status, title, slug, audited = 429, "Too many requests", "rate-limited", True

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)}, retry_after=retry_after)


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    slug: str,
    instance: str,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body = {
        "type": _TYPES + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        **extensions,
    }
    return JSONResponse(jsonable_encoder(body), status_code=status, headers=headers, media_type=PROBLEM_JSON)


def install(app: FastAPI) -> None:
    """Register the handlers (API problems, invalid input, HTTP errors, the error tree, the rest) and
    document every error response as ``application/problem+json``."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            for operations in document.get("paths", {}).values():
                for operation in operations.values():
                    for status, response in operation.get("responses", {}).items():
                        content = response.get("content", {})
                        if status[:1] in "45" and PROBLEM_JSON in content and "application/json" in content:
                            content[PROBLEM_JSON] = content.pop("application/json")
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.state.anonymous_refusals = RefusalBudget()
    app.add_exception_handler(ApiProblem, _api_problem)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http)  # type: ignore[arg-type]
    for root in _error_roots():  # handled inside the app: an error of the tree is an answer, not a crash
        app.add_exception_handler(root, _error)
    app.add_exception_handler(Exception, _error)  # a bug: answered with a bare 500, logged, re-raised


def _error_roots() -> tuple[type[Exception], ...]:
    from agent.run.errors import OpslayerError
    from governance.approvals import ApprovalError
    from governance.directory import DirectoryError, UnknownPerson
    from governance.executions import ExecutionError, ExecutionInProgress
    from governance.idempotency import IdempotencyError
    from governance.policy import PolicyError
    from governance.store import SchemaOutdated
    from governance.tokens import NoSuchToken
    from tools.errors import OpsError

    return (
        OpslayerError,
        ApprovalError,
        ExecutionError,
        ExecutionInProgress,
        IdempotencyError,
        UnknownPerson,
        NoSuchToken,
        OpsError,
        PolicyError,
        DirectoryError,
        SchemaOutdated,
    )


async def _api_problem(request: Request, exc: ApiProblem) -> JSONResponse:
    if exc.audited:
        await _audit_refusal(request, exc.status, exc.detail)
    return problem(
        exc.status,
        exc.title,
        exc.detail,
        slug=exc.slug,
        instance=request.url.path,
        headers=exc.headers,
        **exc.extensions,
    )


async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [_field_error(e) for e in exc.errors()]
    where = ", ".join(".".join(str(p) for p in e["loc"]) for e in errors[:3])
    return problem(
        422,
        "Invalid request",
        f"invalid input at {where}" if where else "invalid input",
        slug="invalid-request",
        instance=request.url.path,
        errors=errors,
    )


def _field_error(error: Mapping[str, Any]) -> dict[str, Any]:
    loc, msg = list(error.get("loc", ())), str(error.get("msg", ""))
    if error.get("type") == "json_invalid":  # FastAPI puts the character offset in loc, as if a field
        offset = loc[1:]
        msg = f"not valid JSON: {error.get('ctx', {}).get('error', msg)}"
        msg += f" (at character {offset[0]})" if offset else ""
        loc = loc[:1]
    return {"loc": loc, "msg": msg}


async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 400:  # FastAPI's answer to a body it cannot decode (not UTF-8, nested too deep)
        msg = "the body cannot be read as JSON (UTF-8 text, not nested too deeply)"
        return problem(
            422,
            "Invalid request",
            f"invalid input at body: {msg}",
            slug="invalid-request",
            instance=request.url.path,
            errors=[{"loc": ["body"], "msg": msg}],
        )
    titles = {404: "Not found", 405: "Method not allowed", 413: "Request too large"}
    detail = exc.detail if isinstance(exc.detail, str) else titles.get(exc.status_code, "HTTP error")
    return problem(
        exc.status_code,
        titles.get(exc.status_code, "HTTP error"),
        detail,
        slug=f"http-{exc.status_code}",
        instance=request.url.path,
        headers=exc.headers,
    )


async def _error(request: Request, exc: Exception) -> JSONResponse:
    mapped = _map(exc)
    if mapped is None:
        _log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem(
            500,
            "Internal error",
            "the server failed to handle this request; the error is in its log",
            slug="internal",
            instance=request.url.path,
        )
    status, title, slug, extensions = mapped
    if status >= 500:
        _log.error("%s on %s %s: %s", type(exc).__name__, request.method, request.url.path, exc)
    named = {_ID_MEMBERS[k]: v for k, v in request.path_params.items() if k in _ID_MEMBERS}
    wait = extensions.get("retry_after")  # a problem that says when to try again says it in HTTP too
    headers = None if wait is None else {"Retry-After": str(wait)}
    members = {**named, **extensions}
    return problem(
        status, title, _detail(exc), slug=slug, instance=request.url.path, headers=headers, **members
    )


# Path parameters that name the thing at fault, as the members a problem names them by.
_ID_MEMBERS = {"thread_id": "thread_id", "request_id": "request_id", "key": "execution_key"}


def problem_body(exc: Exception, *, instance: str) -> dict[str, Any]:
    """The problem document for an error of the layers below (a stream cannot change its status)."""
    mapped = _map(exc)
    if mapped is None:
        _log.exception("unhandled error on %s", instance, exc_info=exc)
        extensions: dict[str, Any] = {}
        status, title, slug = 500, "Internal error", "internal"
        detail = "the server failed to handle this request; the error is in its log"
    else:
        status, title, slug, extensions = mapped
        detail = _detail(exc)
        if status >= 500:
            _log.error("%s on %s: %s", type(exc).__name__, instance, exc)
    body = {"type": _TYPES + slug, "title": title, "status": status, "detail": detail, "instance": instance}
    return dict(jsonable_encoder({**body, **extensions}))


def _map(exc: Exception) -> tuple[int, str, str, dict[str, Any]] | None:
    """Status, title, type slug and extension members for an error of the layers below; None if unknown.

    The one place the error trees meet HTTP (see :mod:`agent.run.errors`, :mod:`governance.approvals`,
    :mod:`governance.executions`, :mod:`tools.errors`).
    """
    from agent.run import errors as run
    from governance import approvals, executions
    from governance import idempotency as keys
    from governance.directory import DirectoryError, UnknownPerson
    from governance.executions import settlement
    from governance.policy import PolicyError
    from governance.store import SchemaOutdated
    from governance.tokens import NoSuchToken
    from tools import errors as ops

    request_id = {"request_id": getattr(exc, "request_id", None)}
    key = {"execution_key": getattr(exc, "key", None)}
    blank = isinstance(exc, executions.OutcomeRequired)
    text = {"errors": [{"loc": ["body", "text"], "msg": _detail(exc)}]} if blank else {}
    header = {"errors": [{"loc": ["header", "Idempotency-Key"], "msg": _detail(exc)}]}
    since = getattr(exc, "since", None)
    in_use = {"thread_id": getattr(exc, "thread_id", None), "since": since, "retry_after": 1}
    table: list[tuple[type[BaseException], int, str, str, dict[str, Any]]] = [
        (approvals.UnknownRequest, 404, "Not found", "unknown-approval", request_id),
        (approvals.SelfApproval, 403, "Not allowed", "self-approval", request_id),
        (approvals.NotEntitled, 403, "Not allowed", "not-entitled", request_id),
        (approvals.ReasonRequired, 422, "Invalid request", "reason-required", request_id),
        (approvals.ArgumentsChanged, 409, "Arguments changed", "arguments-changed", request_id),
        (approvals.StepUpRequired, 403, "Not allowed", "step-up-required", request_id),
        (approvals.ApprovalError, 409, "Conflict", "approval-conflict", request_id),
        (run.UnknownThread, 404, "Not found", "unknown-thread", {}),
        (run.BadThreadId, 422, "Invalid request", "bad-thread-id", {}),
        (run.ThreadRunning, 409, "Thread busy", "thread-busy", {"retry_after": 1}),
        (run.ThreadWaiting, 409, "Thread waiting", "thread-waiting", _waiting_for(exc)),
        (run.ThreadStopped, 409, "Thread stopped", "thread-stopped", {}),
        (run.ThreadError, 409, "Conflict", "thread-busy", {}),
        (run.PlannerUnavailable, 503, "Planner unavailable", "planner-unavailable", {}),
        (run.NotificationFailed, 503, "Notification failed", "notification-failed", {}),
        (run.ConfigurationError, 500, "Configuration error", "configuration", {}),
        (run.GovernanceViolation, 500, "Governance invariant broken", "governance-violation", {}),
        (settlement.NotEntitled, 403, "Not allowed", "not-entitled", key),
        (settlement.InvalidResult, 422, "Invalid request", "invalid-result", key),
        (executions.OutcomeRequired, 422, "Invalid request", "invalid-request", {**key, **text}),
        (executions.UnknownExecution, 404, "Not found", "unknown-execution", key),
        (executions.AmbiguousKey, 409, "Ambiguous key", "ambiguous-key", key),
        (executions.ExecutionError, 409, "Conflict", "execution-conflict", key),
        (executions.ExecutionInProgress, 409, "Execution in progress", "execution-in-progress", {}),
        (keys.KeyReused, 422, "Invalid request", "idempotency-key-reused", header),
        (keys.KeyInUse, 409, "Request in progress", "idempotency-key-in-use", in_use),
        (UnknownPerson, 404, "Not found", "unknown-person", {"person_id": getattr(exc, "person_id", None)}),
        (NoSuchToken, 404, "Not found", "unknown-token", {"token_id": getattr(exc, "token_id", None)}),
        (ops.InvalidArguments, 422, "Invalid arguments", "invalid-arguments", _problems(exc)),
        (ops.ToolError, 422, "Refused by the system", "tool-error", {}),
        (ops.OpsError, 502, "System unavailable", "backend-unavailable", {}),
        (PolicyError, 500, "Configuration error", "configuration", {}),
        (DirectoryError, 500, "Configuration error", "configuration", {}),
        (SchemaOutdated, 500, "Configuration error", "configuration", {}),
    ]
    for kind, status, title, slug, extensions in table:
        if isinstance(exc, kind):
            return status, title, slug, {k: v for k, v in extensions.items() if v is not None}
    return None


def _waiting_for(exc: Exception) -> dict[str, Any]:
    """The approvals a waiting thread waits for (none: it waits for its resume)."""
    return {"approval_ids": list(getattr(exc, "approval_ids", ()))}


def _problems(exc: Exception) -> dict[str, Any]:
    problems = getattr(exc, "problems", None)
    return {"errors": [{"loc": ["args"], "msg": p} for p in problems]} if isinstance(problems, list) else {}


def _detail(exc: Exception) -> str:
    """One line for the caller; never a secret (errors of the tree name settings, not their values)."""
    return " ".join(str(exc).split()) or type(exc).__name__


class RefusalBudget:
    """How many anonymous refusals one process writes to the trail: ``per_minute`` a minute. Past that
    they are counted instead; the next one written carries the count. Used from the event loop only."""

    def __init__(
        self,
        *,
        per_minute: int = ANONYMOUS_REFUSALS_PER_MINUTE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._window: float | None = None
        self._written = 0
        self._skipped = 0

    def take(self) -> int | None:
        """None: do not write this refusal; else write it, noting how many were skipped before it."""
        now = self._clock()
        if self._window is None or now - self._window >= 60:
            self._window, self._written = now, 0
        if self._written >= self.per_minute:
            self._skipped += 1
            return None
        self._written += 1
        skipped, self._skipped = self._skipped, 0
        return skipped


async def _audit_refusal(request: Request, status: int, detail: str) -> None:
    operations = getattr(request.app.state, "operations", None)
    if operations is None:
        return
    person = getattr(request.state, "person_id", None)
    peer = request.client.host if request.client else None
    path = request.url.path
    about: dict[str, Any] = {"status": status, "method": request.method[:16], "path": path[:PATH_KEPT]}
    if len(path) > PATH_KEPT:
        about["path_length"] = len(path)
    about["peer"] = peer
    budget: RefusalBudget | None = getattr(request.app.state, "anonymous_refusals", None)
    if person is None and budget is not None:
        skipped = budget.take()
        if skipped is None:
            return
        if skipped:
            about["unaudited_before"] = skipped
    detail = detail[:_REASON_KEPT]
    try:
        await run_in_threadpool(operations.refused, person, reason=detail, **about)
    except Exception:  # a refusal stays a refusal even when the trail cannot take it
        _log.exception("could not audit a refused request to %s", request.url.path)
