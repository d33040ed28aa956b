"""What every page needs: the signed-in person, the CSRF check, rendering with escaping on, problem pages.

Rendering: one Jinja2 environment with autoescape on for every template, so any text from a person, a
model or a backend is shown literally; no template marks such text ``|safe``. Every response carries
a Content-Security-Policy without inline scripts (the page's JavaScript is served from ``/static``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from agent.web import show
from agent.web.sessions import SessionStore, WebSession

if TYPE_CHECKING:
    from collections.abc import Callable

    from agent.operations import Operations
    from agent.settings import Settings
    from governance.directory import Person

SESSION_COOKIE = "opslayer_session"
LOGIN_COOKIE = "opslayer_login"  # the CSRF token of the sign-in form, before any session exists
TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True, kw_only=True)
class Web:
    """The review page's parts, kept on ``app.state.web``."""

    settings: Settings
    sessions: SessionStore
    clock: Callable[[], datetime]
    env: Environment

    @property
    def session_lifetime(self) -> timedelta:
        return timedelta(hours=self.settings.web_session_hours)


@dataclass(frozen=True, kw_only=True)
class Visitor:
    """The signed-in person of a request, and the session their forms are bound to."""

    person: Person
    session: WebSession


class PageProblem(Exception):
    """A refusal or error shown as a page; ``audited`` ones go to the trail as ``access_denied``."""

    def __init__(self, status: int, title: str, detail: str, *, audited: bool = False) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.audited = status, title, detail, audited


class SignInNeeded(Exception):
    """No (live) session: the browser is sent to ``/login`` and back."""


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(show.FILTERS)
    env.globals["canonical"] = lambda value: json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    return env


def web_of(request: Request) -> Web:
    web: Web = request.app.state.web
    return web


def operations_of(request: Request) -> Operations:
    operations: Operations = request.app.state.operations
    return operations


def visitor(request: Request) -> Visitor:
    """The signed-in person (``SignInNeeded`` otherwise); a person gone from the directory is signed out."""
    from governance.directory import UnknownPerson

    session = web_of(request).sessions.get(request.cookies.get(SESSION_COOKIE))
    if session is None or _proxy_names_someone_else(request, session.person):
        raise SignInNeeded()
    try:
        person = operations_of(request).person(session.person)
    except UnknownPerson:
        raise SignInNeeded() from None
    request.state.person_id = person.id
    return Visitor(person=person, session=session)


def _proxy_names_someone_else(request: Request, person_id: str) -> bool:
    """Behind an auth proxy its header is who is here: a session of another person no longer counts
    (``/login`` then signs in whom the header names)."""
    header = request.app.state.trusted_header
    if header is None or header.name not in request.headers:
        return False
    peer = request.client.host if request.client else None
    return bool(header.trusts(peer)) and request.headers[header.name].strip() != person_id


def check_csrf(request: Request, who: Visitor, form: Mapping[str, Any]) -> None:
    """403 unless the form carries this session's CSRF token."""
    presented = form.get("csrf")
    if not who.session.csrf_matches(presented if isinstance(presented, str) else None):
        raise PageProblem(
            403, "Not allowed", "the form's CSRF token is missing or wrong: reload the page", audited=True
        )


def render(
    request: Request,
    template: str,
    /,
    *,
    who: Visitor | None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    web = web_of(request)
    body = web.env.get_template(template).render(
        who=who,
        csrf=who.session.csrf if who is not None else "",
        now=web.clock(),
        path=request.url.path,
        links=_links(request, who),
        **context,
    )
    return HTMLResponse(body, status_code=status, headers=_SECURITY_HEADERS)


def _links(request: Request, who: Visitor | None) -> dict[str, bool]:
    """Which of the auditors' and overseers' pages the navigation offers: the service's own rules decide."""
    if who is None:
        return {"audit": False, "impact": False, "oversight": False}
    from agent.operations.impact import may_read_impact

    ops = operations_of(request)
    person = who.person.id
    return {
        "audit": ops.is_auditor(person),
        "impact": may_read_impact(ops, person),
        "oversight": ops.oversight.may_pause(person) or ops.oversight.may_clear(person),
    }


def problem_page(request: Request, problem: PageProblem, who: Visitor | None) -> HTMLResponse:
    if problem.audited:
        peer = request.client.host if request.client else None
        operations_of(request).refused(
            getattr(request.state, "person_id", None),
            reason=problem.detail,
            status=problem.status,
            method=request.method,
            path=request.url.path,
            peer=peer,
        )
    return render(
        request,
        "problem.html",
        who=who,
        status=problem.status,
        title=problem.title,
        detail=problem.detail,
        code=problem.status,
    )


def to_login(request: Request) -> RedirectResponse:
    wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(wanted, safe='')}", status_code=303)


def redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def secure(request: Request) -> bool:
    """Whether the browser talks https to us (``Secure`` cookies); behind a proxy uvicorn's
    ``--proxy-headers`` makes the scheme the proxy's."""
    return request.url.scheme == "https"


def set_session_cookie(response: Response, request: Request, value: str, lifetime: timedelta) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=int(lifetime.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=secure(request),
        path="/",
    )
