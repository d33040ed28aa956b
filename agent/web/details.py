"""What the request page shows, gathered from the operations service: the ask and its grounding, the
decision and the limits it used, the exact arguments (a readable form, the canonical JSON and its
digest, the diff of an edit), votes and history, who may still approve, and what ran."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatch
from typing import TYPE_CHECKING, Any

from agent.text import visible
from agent.web import forms
from governance.canonical import canonical_json

if TYPE_CHECKING:
    from agent.operations import ApprovalView, Operations
    from governance.approvals import ApprovalRequest, Vote
    from governance.directory import Person

_EXCERPT = 6  # messages of the conversation shown before the request


@dataclass(frozen=True, kw_only=True)
class Change:
    path: str
    proposed: Any
    current: Any


def approval_context(
    ops: Operations, view: ApprovalView, person: Person, *, edit_values: Mapping[str, str] | None
) -> dict[str, Any]:
    request = view.request
    proposed = next((e.payload.get("args") for e in view.history if e.kind == "approval_requested"), None)
    acting = bool(ops.actionable(person.id, [request]))
    rejecting = bool(ops.rejectable(person.id, [request]))
    messages = _messages(ops, request.thread_id)
    answer = _answer(messages) if request.final else None
    execution = view.execution
    canonical = canonical_json(dict(request.args))
    return {
        "view": view,
        "request": request,
        "readable": list(flatten(request.args)),
        "canonical_text": visible(canonical),
        "canonical_marked": visible(canonical) != canonical,
        "changes": changes(proposed, dict(request.args)) if isinstance(proposed, dict) else [],
        "proposed": proposed,
        "limits": _limits(ops, request),
        "needed": _who_may_approve(ops, request),
        "veto": _veto(ops, request) if request.veto_window else None,
        "may_act": acting,
        "may_reject": rejecting,
        "own": request.requester == person.id,
        "notice": notice(request, person.id),
        "edit_fields": _edit_fields(ops, request, edit_values) if acting else [],
        "excerpt": [m for m in messages if _said(m)][-_EXCERPT:],
        "answer": answer,
        "execution": execution,
        # what the page's poll compares: a change of any of these redraws the parts it concerns
        "state": _key(
            request.status.value,
            request.version,
            request.args_digest,
            execution.status.value if execution is not None else None,
            answer is not None,
        ),
        # the decision forms are redrawn only when what they offer changes (not when others vote)
        "decide_key": _key(request.final, acting, rejecting, request.args_digest),
    }


def _key(*parts: Any) -> str:
    return ":".join(str(part) for part in parts)


def notice(request: ApprovalRequest, person_id: str) -> str | None:
    """What the person's own latest vote on the request was (so the page confirms only what happened):
    approved, edited, rejected, vetoed, or earlier (cast on arguments an edit has replaced since)."""
    vote: Vote | None = next((v for v in reversed(request.votes) if v.approver == person_id), None)
    if vote is None:
        return None
    if vote.args_digest != request.args_digest:
        return "earlier"
    if not vote.approve:
        return "vetoed" if request.veto_window else "rejected"
    return "edited" if vote.edited else "approved"


def flatten(value: Any, path: str = "") -> Any:
    """``(path, value)`` for every leaf: ``lines 1 quantity`` → 22."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from flatten(item, f"{path} {key}".strip())
    elif isinstance(value, list):
        for index, item in enumerate(value, start=1):
            yield from flatten(item, f"{path} {index}".strip())
    else:
        yield path.replace("_", " "), value


def changes(proposed: Any, current: Any, path: str = "") -> list[Change]:
    """Where ``current`` differs from ``proposed``, leaf by leaf."""
    if isinstance(proposed, Mapping) and isinstance(current, Mapping):
        found: list[Change] = []
        for key in [*proposed, *(k for k in current if k not in proposed)]:
            found += changes(proposed.get(key), current.get(key), f"{path}.{key}".lstrip("."))
        return found
    if isinstance(proposed, list) and isinstance(current, list):
        found = []
        for index in range(max(len(proposed), len(current))):
            old = proposed[index] if index < len(proposed) else None
            new = current[index] if index < len(current) else None
            found += changes(old, new, f"{path}.{index}".lstrip("."))
        return found
    return [] if proposed == current else [Change(path=path, proposed=proposed, current=current)]


def _limits(ops: Operations, request: ApprovalRequest) -> list[dict[str, Any]]:
    """The policy's limits that count this tool, each with how much of it is used now (for the
    requester, or for everyone) in its window; the decision's reasons say what the call would add."""
    from governance.policy import parse_duration
    from governance.usage import GLOBAL_KEY

    now = ops.now()
    shown = []
    for limit in ops.policy().document.get("limits", []) or []:
        if not any(fnmatch(request.tool, pattern) for pattern in limit.get("tools", [])):
            continue
        key = request.requester if limit.get("per") == "actor" else GLOBAL_KEY
        since = now - parse_duration(str(limit.get("window")))
        used = ops.stores.usage.total(str(limit.get("id")), key, since)
        shown.append({**limit, "used": used, "exceeded": limit.get("id") in request.exceeded_limits})
    return shown


def _who_may_approve(ops: Operations, request: ApprovalRequest) -> list[dict[str, Any]]:
    """Per requirement: roles, how many approvals it still needs, and the people who could give them."""
    directory = ops.governance.directory
    counted = request.counted_votes
    needed = []
    for requirement in request.requirements:
        given = [v for v in counted if not set(v.roles).isdisjoint(requirement.roles)]
        people = sorted(
            {
                p.id
                for role in requirement.roles
                for p in directory.people_with_role(role)
                if p.id != request.requester and all(v.approver != p.id for v in counted)
            }
        )
        needed.append(
            {
                "rule_id": requirement.rule_id,
                "roles": list(requirement.roles),
                "count": requirement.count,
                "missing": max(0, requirement.count - len(given)),
                "people": people,
            }
        )
    return needed


def _veto(ops: Operations, request: ApprovalRequest) -> dict[str, Any]:
    """A call waiting out its veto window: when it runs, how long that is from now (the service's
    clock), and who may veto it (the roles of its requirements, each needing nobody's approval)."""
    from agent.web.show import until

    roles = sorted({role for requirement in request.requirements for role in requirement.roles})
    directory = ops.governance.directory
    people = sorted(
        {p.id for role in roles for p in directory.people_with_role(role) if p.id != request.requester}
    )
    return {
        "ends_at": request.expires_at,
        "left": until(request.expires_at, ops.now()),
        "roles": roles,
        "people": people,
    }


def _edit_fields(
    ops: Operations, request: ApprovalRequest, values: Mapping[str, str] | None
) -> list[forms.FormField]:
    schema = ops.governance.registry.get(request.tool).json_schema()
    fields = forms.fields(schema, request.args)
    if values is None:
        return fields
    from dataclasses import replace

    return [replace(f, value=values.get(f.name, "")) for f in fields]


def _messages(ops: Operations, thread: str) -> list[Mapping[str, Any]]:
    from agent.run.errors import UnknownThread

    try:
        return list(ops.thread(thread).messages)
    except UnknownThread:
        return []


def _said(message: Mapping[str, Any]) -> bool:
    """A message people wrote or read: the person's, and the assistant's words (not tool traffic)."""
    return (
        message.get("role") in ("human", "ai")
        and isinstance(message.get("content"), str)
        and bool(message["content"].strip())
    )


def _answer(messages: list[Mapping[str, Any]]) -> str | None:
    last = messages[-1] if messages else None
    if last is not None and last.get("role") == "ai" and not last.get("tool_calls"):
        content = last.get("content")
        return content if isinstance(content, str) else None
    return None
