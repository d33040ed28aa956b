"""The page a browser gets for a path the review page does not have (a mistyped address, a GET on a
form's POST address): a problem page in HTML, as for every other refusal of the pages. The API's own
paths (``/v1``, ``/slack``) and callers that do not ask for HTML keep the API's problem JSON."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from agent.web.pages import PageProblem, SignInNeeded, problem_page, visitor

if TYPE_CHECKING:
    from fastapi import FastAPI, Request
    from fastapi.responses import Response

_API_PATHS = ("/v1/", "/v1", "/slack/")
_TITLES = {404: "Not found", 405: "Not allowed here", 413: "Request too large"}
_DETAILS = {
    404: "there is no page at this address",
    405: "this address takes a form's answer, not a visit: open the request from the queue",
}


def install(app: FastAPI) -> None:
    """Answer HTTP errors on browser paths with a page; everything else as the API's handler does."""
    api = app.exception_handlers.get(HTTPException)

    async def answer(request: Request, error: HTTPException) -> Response:
        if api is not None and not _wants_page(request):
            answered = api(request, error)
            return await answered if inspect.isawaitable(answered) else answered
        return await run_in_threadpool(_page, request, error)

    app.add_exception_handler(HTTPException, answer)  # type: ignore[arg-type]


def _wants_page(request: Request) -> bool:
    path = request.url.path
    return "text/html" in request.headers.get("accept", "") and not path.startswith(_API_PATHS)


def _page(request: Request, error: HTTPException) -> Response:
    try:
        who = visitor(request)
    except SignInNeeded:
        who = None
    status = error.status_code
    problem = PageProblem(status, _TITLES.get(status, "Error"), _DETAILS.get(status, str(error.detail)))
    response = problem_page(request, problem, who)
    for name, value in (error.headers or {}).items():
        response.headers[name] = value
    return response
