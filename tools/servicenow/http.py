"""HTTP to ServiceNow's Table API: credentials, read retries, and the one place failures are translated.

How HTTP outcomes become :mod:`tools.errors`::

    400, 409 ..................... Conflict             ServiceNow's message, for the model
    404 on a record .............. NotFound(kind, key)
    401, 403 ..................... BackendUnavailable   retryable=False: credentials refused / not allowed
    429, 5xx, timeouts,
    connection errors ............ BackendUnavailable   retryable=True (GETs are retried first)
    POST/PATCH: 5xx, or a timeout
    once the request was sent .... BackendUnavailable   retryable=False: outcome unknown
    body not ServiceNow's JSON ... BackendUnavailable   retryable=False, "malformed response"

GETs are retried up to ``max_read_retries`` times (so at most ``max_read_retries + 1`` attempts) with
exponential backoff, honouring ``Retry-After`` seconds up to a cap. Writes are sent once: a
second POST could create a second record, a second work note would duplicate the first.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr

from tools.errors import BackendUnavailable, Conflict, NotFound, OpsError

SYSTEM = "servicenow"
_MAX_WAIT_S = 30.0
_RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_OUTCOME_UNKNOWN = (
    "outcome unknown: ServiceNow may have applied the write; look the record up (creates carry "
    "the idempotency key in correlation_id) before trying again"
)

Subject = tuple[str, str]
"""(kind, key) of the record a request is about, e.g. ("incident", "INC0010001"), for NotFound."""


class BasicAuth(BaseModel):
    """HTTP basic credentials of the ServiceNow integration user."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user: str
    password: SecretStr

    def header(self) -> str:
        pair = f"{self.user}:{self.password.get_secret_value()}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")


class BearerToken(BaseModel):
    """An OAuth access token for the ServiceNow instance."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    token: SecretStr

    def header(self) -> str:
        return f"Bearer {self.token.get_secret_value()}"


def malformed(detail: str) -> BackendUnavailable:
    return BackendUnavailable(SYSTEM, f"malformed response: {detail}", retryable=False)


class TableApi:
    """GET/POST/PATCH under ``{base_url}/api/now/table``; each returns the ``result`` of the envelope."""

    def __init__(
        self,
        base_url: str,
        *,
        auth: BasicAuth | BearerToken,
        client: httpx.Client | None,
        timeout_s: float,
        max_read_retries: int,
        backoff_s: float,
        sleep: Callable[[float], None],
    ) -> None:
        self._root = base_url.rstrip("/") + "/api/now/table"
        self._auth = auth
        self._owns_client = client is None
        self._client = client if client is not None else httpx.Client()
        self._timeout = timeout_s
        self._max_read_retries = max(max_read_retries, 0)
        self._backoff_s = backoff_s
        self._sleep = sleep

    def close(self) -> None:
        """Close the HTTP client if this object made it; a client passed in belongs to the caller."""
        if self._owns_client:
            self._client.close()

    def query(self, table: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        result = _result(self._get(f"/{table}", params, None), None)
        if not isinstance(result, list) or not all(isinstance(item, dict) for item in result):
            raise malformed(f"GET {table} did not return a list of records")
        return result

    def read(self, table: str, sys_id: str, params: Mapping[str, str], subject: Subject) -> dict[str, Any]:
        return _record(_result(self._get(f"/{table}/{sys_id}", params, subject), subject), table)

    def create(self, table: str, body: Mapping[str, str], params: Mapping[str, str]) -> dict[str, Any]:
        response = self._write("POST", f"/{table}", body, params)
        return _record(_result(response, None), table)

    def update(
        self, table: str, sys_id: str, body: Mapping[str, str], params: Mapping[str, str], subject: Subject
    ) -> dict[str, Any]:
        response = self._write("PATCH", f"/{table}/{sys_id}", body, params)
        return _record(_result(response, subject), table)

    def _headers(self) -> dict[str, str]:
        return {"Accept": "application/json", "Authorization": self._auth.header()}

    def _get(self, path: str, params: Mapping[str, str], subject: Subject | None) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response = self._client.get(
                    self._root + path, params=dict(params), headers=self._headers(), timeout=self._timeout
                )
            except httpx.TransportError as exc:
                failure: OpsError = _transport_error(exc, write=False)
                wait = self._backoff(attempt, None)
            else:
                if response.status_code not in _RETRIED_STATUSES:
                    return response
                failure = _status_error(response, subject, write=False)
                wait = self._backoff(attempt, response.headers.get("Retry-After"))
            if attempt >= self._max_read_retries:
                raise failure
            self._sleep(wait)
            attempt += 1

    def _write(
        self, method: str, path: str, body: Mapping[str, str], params: Mapping[str, str]
    ) -> httpx.Response:
        try:
            return self._client.request(
                method,
                self._root + path,
                params=dict(params),
                json=dict(body),
                headers=self._headers(),
                timeout=self._timeout,
            )
        except httpx.TransportError as exc:
            raise _transport_error(exc, write=True) from exc

    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        """Seconds to wait before the next GET: ServiceNow's ``Retry-After`` if given, else exponential."""
        try:
            asked = float(retry_after) if retry_after is not None else None
        except ValueError:
            asked = None  # an HTTP-date; exponential backoff is good enough
        wait = asked if asked is not None and asked >= 0 else self._backoff_s * 2**attempt
        return min(wait, _MAX_WAIT_S)


# --- translation of HTTP failures (the only place) ------------------------------------------------


def _result(response: httpx.Response, subject: Subject | None) -> Any:
    if response.status_code >= 400:
        raise _status_error(response, subject, write=response.request.method != "GET")
    try:
        envelope = response.json()
    except ValueError:
        raise malformed(f"HTTP {response.status_code} body is not JSON") from None
    if not isinstance(envelope, dict) or "result" not in envelope:
        raise malformed("no 'result' in the body")
    return envelope["result"]


def _record(result: Any, table: str) -> dict[str, Any]:
    if not isinstance(result, dict):
        raise malformed(f"{table} record is not a JSON object")
    return result


def _status_error(response: httpx.Response, subject: Subject | None, *, write: bool) -> OpsError:
    status, said = response.status_code, _servicenow_message(response)
    if status == 404 and subject is not None:
        return NotFound(*subject)
    if status in (400, 409):
        return Conflict(f"ServiceNow refused the request: {said}")
    if status == 401:
        return BackendUnavailable(
            SYSTEM, f"credentials were refused (HTTP 401): {said}", retryable=False, status=status
        )
    if status == 403:
        detail = f"credentials were refused or lack the role/ACL for this operation (HTTP 403): {said}"
        return BackendUnavailable(SYSTEM, detail, retryable=False, status=status)
    if status == 429:
        wait = response.headers.get("Retry-After", "?")
        return BackendUnavailable(
            SYSTEM, f"rate limited (HTTP 429, retry after {wait} s): {said}", retryable=True, status=status
        )
    if status >= 500 and write:
        return BackendUnavailable(
            SYSTEM, f"HTTP {status}; {_OUTCOME_UNKNOWN}", retryable=False, status=status
        )
    retryable = status >= 500
    return BackendUnavailable(SYSTEM, f"HTTP {status}: {said}", retryable=retryable, status=status)


def _transport_error(exc: httpx.TransportError, *, write: bool) -> BackendUnavailable:
    kind = type(exc).__name__
    if write and not isinstance(exc, _NOT_SENT):
        return BackendUnavailable(SYSTEM, f"{kind} during a write; {_OUTCOME_UNKNOWN}", retryable=False)
    return BackendUnavailable(SYSTEM, f"{kind}: {exc}", retryable=True)


def _servicenow_message(response: httpx.Response) -> str:
    """ServiceNow's ``{"error": {"message", "detail"}, "status": "failure"}`` as one line."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return response.reason_phrase or "no error message"
    if not isinstance(error, dict):
        return response.reason_phrase or "no error message"
    parts = [str(error[key]) for key in ("message", "detail") if error.get(key)]
    return ": ".join(parts) or response.reason_phrase or "no error message"
