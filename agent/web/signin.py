"""Signing in and out.

With an API token (``opslayer tokens create --as YOU``) typed into ``/login``; or, behind an auth
proxy, from the trusted header on ``GET /login`` — believed only from the configured proxy addresses,
as for the API. Either way the browser gets a session cookie (HttpOnly, SameSite=Strict, Secure over
https, with Max-Age) naming a row of ``web_sessions``; signing out deletes the row. A session signed in
with a token ends when the token is revoked or expires; the sign-in page then says so.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from agent.web.pages import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    PageProblem,
    SignInNeeded,
    check_csrf,
    operations_of,
    problem_page,
    redirect,
    render,
    secure,
    set_session_cookie,
    visitor,
    web_of,
)

router = APIRouter(include_in_schema=False)


@router.get("/login")
def login_form(request: Request, next: str = "/") -> Response:
    header = request.app.state.trusted_header
    if header is not None and header.name in request.headers:
        return _from_proxy(request, header, _safe_next(next))
    ended = web_of(request).sessions.ended(request.cookies.get(SESSION_COOKIE))
    return _form(request, next=_safe_next(next), error=None, ended=ended, status=200)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    fields = {key: value for key, value in form.items() if isinstance(value, str)}
    return await run_in_threadpool(_login, request, fields)


@router.post("/logout")
async def logout(request: Request) -> Response:
    form = await request.form()
    fields = {key: value for key, value in form.items() if isinstance(value, str)}
    return await run_in_threadpool(_logout, request, fields)


def _login(request: Request, form: dict[str, str]) -> Response:
    from governance.directory import UnknownPerson
    from governance.tokens import TokenError

    next_path = _safe_next(form.get("next", "/"))
    expected = request.cookies.get(LOGIN_COOKIE, "")
    presented = form.get("csrf", "")
    if not expected or not hmac.compare_digest(expected.encode(), presented.encode()):
        return problem_page(
            request,
            PageProblem(
                403,
                "Not allowed",
                "the sign-in form's CSRF token is missing or wrong: reload it",
                audited=True,
            ),
            None,
        )
    try:
        person, token = operations_of(request).signed_in(form.get("token", ""))
    except (TokenError, UnknownPerson) as bad:
        detail = (
            "the token's person is no longer in the directory" if isinstance(bad, UnknownPerson) else str(bad)
        )
        operations_of(request).refused(None, reason=f"sign-in refused: {detail}", status=401, path="/login")
        return _form(request, next=next_path, error=f"Sign-in refused: {detail}.", ended=None, status=401)
    return _signed_in(request, person.id, next_path, token_id=token.id)


def _logout(request: Request, form: dict[str, str]) -> Response:
    try:
        who = visitor(request)
    except SignInNeeded:
        return redirect("/login")
    try:
        check_csrf(request, who, form)
    except PageProblem as problem:
        return problem_page(request, problem, who)
    web_of(request).sessions.delete(request.cookies.get(SESSION_COOKIE))
    response = redirect("/login")
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=secure(request))
    return response


def _from_proxy(request: Request, header: Any, next_path: str) -> Response:
    from governance.directory import UnknownPerson

    peer = request.client.host if request.client else None
    if not header.trusts(peer):
        detail = f"the {header.name} header is accepted only from the configured proxies"
        return problem_page(request, PageProblem(401, "Not signed in", detail, audited=True), None)
    try:
        person = operations_of(request).person(request.headers[header.name].strip())
    except UnknownPerson:
        detail = f"the {header.name} header names no person of the directory"
        return problem_page(request, PageProblem(401, "Not signed in", detail, audited=True), None)
    return _signed_in(request, person.id, next_path, token_id=None)


def _signed_in(request: Request, person_id: str, next_path: str, *, token_id: str | None) -> Response:
    web = web_of(request)
    web.sessions.delete(request.cookies.get(SESSION_COOKIE))  # a new id at every sign-in (no fixation)
    cookie, _ = web.sessions.create(person_id, lifetime=web.session_lifetime, token_id=token_id)
    response = redirect(next_path)
    set_session_cookie(response, request, cookie, web.session_lifetime)
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


def _form(request: Request, *, next: str, error: str | None, ended: str | None, status: int) -> Response:
    token = secrets.token_urlsafe(32)
    response = render(
        request,
        "login.html",
        who=None,
        status=status,
        next=next,
        error=error,
        ended=ended,
        login_csrf=token,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=secure(request),
        path="/login",
    )
    return response


def _safe_next(target: str) -> str:
    """Only a path of this site: never another host (``//evil.example``, ``https://…``, ``/\\evil``)."""
    if not target.startswith("/") or target.startswith(("//", "/\\")) or any(c in target for c in "\r\n"):
        return "/"
    return target
