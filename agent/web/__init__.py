"""The review page: where managers see what waits for them, understand exactly what would run and why,
and decide; where auditors and operators look. Server-rendered (FastAPI + Jinja2, a little vanilla
JavaScript from ``/static`` for live updates), mounted in the API's app by :func:`mount`.

Thin over :class:`agent.operations.Operations`, as every front end is: the person comes from a session
(:mod:`agent.web.sessions`, signed in with an API token or an auth proxy's header), visibility and
votes are the service's, and every text is escaped.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from fastapi.staticfiles import StaticFiles

from agent.web.pages import STATIC, Web, environment
from agent.web.sessions import SessionStore

if TYPE_CHECKING:
    from fastapi import FastAPI

    from agent.settings import Settings

__all__ = ["mount"]


def mount(app: FastAPI, settings: Settings, *, clock: Callable[[], datetime] | None = None) -> None:
    """Add the pages to ``app`` (which holds ``state.operations`` and ``state.trusted_header``)."""
    from agent.web import fallback, oversight, records, review, signin

    now = clock or (lambda: datetime.now(UTC))
    app.state.web = Web(
        settings=settings,
        sessions=SessionStore(app.state.operations.stores.engine, clock=now),
        clock=now,
        env=environment(),
    )
    for router in (signin.router, review.router, records.router, oversight.router):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    fallback.install(app)
