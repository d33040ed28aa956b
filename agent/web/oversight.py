"""The overseers' pages: ``/impact`` (what the execution layer did, for whoever may read the figures)
and ``/oversight`` (tripped monitors and autonomy pauses: clear, resume, pause).

Who may see and do what is the operations service's: :func:`agent.operations.impact.may_read_impact`
for the figures, the policy's ``autonomy`` roles (``ops.oversight``) for pausing and clearing, and the
service audits its own refusals. The figures' cards, charts and tables are the HTML report's
(:func:`agent.operations.report.figures_html`), so the page and ``opslayer report`` never differ.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from agent.web.pages import PageProblem, Visitor, operations_of, redirect, render
from agent.web.review import form_post, page
from governance.impact import Period

router = APIRouter(include_in_schema=False)

PERIODS = ("day", "week")
_RESTRICTION_ID = re.compile(r"^(?i:RST-)?[0-9A-Za-z]{1,36}$")
_TOOL_PATTERN = re.compile(r"^[a-z0-9_*?\[\]-]{1,128}$")
_PERSON = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_DONE = {
    "paused": "Autonomy is paused.",
    "resumed": "The pause has ended.",
    "cleared": "The trip is cleared.",
}


# --- impact -----------------------------------------------------------------------------------------


@router.get("/impact")
def impact_page(request: Request) -> Response:
    return page(request, lambda who: _impact(request, who))


def _impact(request: Request, who: Visitor) -> Response:
    from agent.operations.impact import impact, may_read_impact
    from agent.operations.report import figures_html

    ops = operations_of(request)
    if not may_read_impact(ops, who.person.id):
        raise PageProblem(
            403,
            "Not allowed",
            "the impact figures are for auditors, managers and the roles OPSLAYER_IMPACT_ROLES names",
            audited=True,
        )
    query = request.query_params
    since, until, period = _range(query)
    try:
        figures = impact(ops, since=since, until=until, period=period)
    except ValueError as invalid:
        raise PageProblem(422, "Invalid request", f"until: {invalid}") from None
    return render(
        request,
        "impact.html",
        who=who,
        impact=figures,
        body=figures_html(figures),
        policy_version=ops.policy().version,
        periods=PERIODS,
        chosen={"since": query.get("since", ""), "until": query.get("until", ""), "period": period},
    )


def _range(query: Mapping[str, str]) -> tuple[datetime | None, datetime | None, Period]:
    """``since``, ``until`` (ISO 8601; without an offset, UTC) and ``period``; every problem named."""
    problems: list[str] = []
    moments: dict[str, datetime | None] = {}
    for name in ("since", "until"):
        text = (query.get(name) or "").strip()
        moments[name] = None
        if not text:
            continue
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            problems.append(f"{name}: not a date or time (ISO 8601, e.g. 2026-12-01 or 2026-12-01T08:00)")
            continue
        moments[name] = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    chosen = query.get("period") or "day"
    if chosen not in PERIODS:
        problems.append(f"period: one of {', '.join(PERIODS)}")
    if problems:
        raise PageProblem(422, "Invalid request", "; ".join(problems))
    period: Period = "week" if chosen == "week" else "day"
    return moments["since"], moments["until"], period


# --- oversight --------------------------------------------------------------------------------------


@router.get("/oversight")
def oversight_page(request: Request) -> Response:
    return page(request, lambda who: _oversight(request, who))


@router.post("/oversight/pause")
async def pause(request: Request) -> Response:
    return await form_post(request, lambda who, form: _pause(request, who, form))


@router.post("/oversight/{restriction_id}/resume")
async def resume(request: Request, restriction_id: str) -> Response:
    return await form_post(request, lambda who, form: _end(request, who, restriction_id, form, resume=True))


@router.post("/oversight/{restriction_id}/clear")
async def clear(request: Request, restriction_id: str) -> Response:
    return await form_post(request, lambda who, form: _end(request, who, restriction_id, form, resume=False))


def _oversight(
    request: Request,
    who: Visitor,
    *,
    status: int = 200,
    error: str | None = None,
    values: Mapping[str, str] | None = None,
) -> Response:
    ops = operations_of(request)
    may_pause, may_clear = _entitlements(ops, who)
    done = request.query_params.get("done")
    return render(
        request,
        "oversight.html",
        who=who,
        status=status,
        monitors=ops.oversight.monitors(),
        pauses=ops.oversight.pauses(),
        may_pause=may_pause,
        may_clear=may_clear,
        tools=sorted(spec.name for spec in ops.governance.registry),
        error=error,
        notice=_DONE.get(done or ""),
        values=values or {},
    )


def _entitlements(ops: Any, who: Visitor) -> tuple[bool, bool]:
    """(may pause and resume, may clear): neither is a refusal the service has not audited."""
    may_pause = ops.oversight.may_pause(who.person.id)
    may_clear = ops.oversight.may_clear(who.person.id)
    if not (may_pause or may_clear):
        raise PageProblem(
            403,
            "Not allowed",
            f"{who.person.id} may not oversee autonomy: the policy's autonomy section names the roles",
            audited=True,
        )
    return may_pause, may_clear


def _pause(request: Request, who: Visitor, form: Mapping[str, str]) -> Response:
    from agent.operations.oversight import OversightInvalid, OversightRefused
    from governance.directory import UnknownPerson

    ops = operations_of(request)
    values = {k: form.get(k, "").strip() for k in ("tool", "person", "reason", "deny")}
    tool, person = values["tool"] or None, values["person"] or None
    problems = []
    if tool is not None and not _TOOL_PATTERN.match(tool):
        problems.append("tool: a tool name or pattern (a-z 0-9 _ - * ? [ ]), at most 128")
    if person is not None and not _PERSON.match(person):
        problems.append("person: letters, digits and . _ @ - only, at most 64")
    if problems:
        return _oversight(request, who, status=422, error="; ".join(problems), values=values)
    try:
        ops.oversight.pause(
            by=who.person.id, reason=values["reason"], tool=tool, person=person, deny=bool(values["deny"])
        )
    except OversightRefused as refused:  # audited by the service
        raise PageProblem(403, "Not allowed", str(refused)) from None
    except OversightInvalid as invalid:
        return _oversight(request, who, status=422, error=str(invalid), values=values)
    except UnknownPerson:
        error = f"person: nobody called {person!r} in the directory"
        return _oversight(request, who, status=422, error=error, values=values)
    return redirect("/oversight?done=paused")


def _end(
    request: Request, who: Visitor, restriction_id: str, form: Mapping[str, str], *, resume: bool
) -> Response:
    """Resume a pause or clear a monitor's trip, with the person's reason."""
    from agent.operations.oversight import OversightInvalid, OversightRefused
    from governance.restrictions import AlreadyCleared, UnknownRestriction

    ops = operations_of(request)
    if not _RESTRICTION_ID.match(restriction_id):
        raise PageProblem(404, "Not found", f"no restriction {restriction_id[:64]!r}", audited=True)
    end = ops.oversight.resume if resume else ops.oversight.clear
    try:
        end(restriction_id, by=who.person.id, reason=form.get("reason", ""))
    except OversightRefused as refused:  # audited by the service
        raise PageProblem(403, "Not allowed", str(refused)) from None
    except UnknownRestriction:
        raise PageProblem(404, "Not found", f"no restriction {restriction_id!r}", audited=True) from None
    except (OversightInvalid, AlreadyCleared) as invalid:
        return _oversight(
            request, who, status=422 if isinstance(invalid, OversightInvalid) else 409, error=str(invalid)
        )
    return redirect(f"/oversight?done={'resumed' if resume else 'cleared'}")
