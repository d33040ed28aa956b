"""What a turn reports while it runs: model tokens as they stream, and each governance step as it is
appended to the audit trail.

A front end passes ``on_event`` to :meth:`agent.operations.Operations.send` (or ``resume``) and gets
:class:`TurnEvent` values before the call returns; the call's :class:`~agent.run.session.TurnResult`
stays the final word. ``on_event`` is called from the thread that produced the event (LangGraph runs
nodes in worker threads when a turn streams), never from two threads at once. If it raises, the error
is logged and it gets no further events in that turn; the turn itself carries on unchanged.

Governance events (``kind="governance"``) carry ``data["step"]`` and the audit event's ``seq``,
``thread_id``, ``tool_call_id`` and ``tool``, plus per step:

- ``decision``: ``tier``, ``rule_ids``, ``reasons``, ``stage`` (plan, recheck, validation)
- ``refusal``: a decision of tier deny, with the same fields
- ``approval_requested``: ``request_id``, ``still_needed`` (e.g. "1 × warehouse_manager"), ``expires_at``;
  an escalation before execution adds ``escalated_from``
- ``approval_final``: ``request_id``, ``status``, ``reason`` (an expiry found during the turn)
- ``notification``: ``recipients``, ``targets``
- ``execution``: ``status`` (completed, failed, ...), ``approval_id``, ``error``
- ``error``: ``type``, ``error`` (the turn failed; the exception follows)

Token events (``kind="token"``) carry ``data["text"]``, a chunk of the model's answer. A model that
does not stream (the offline planner) produces none.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from governance.audit import AuditEvent, EventKind

log = logging.getLogger("opslayer.events")


@dataclass(frozen=True, kw_only=True, slots=True)
class TurnEvent:
    """One thing that happened during a turn, delivered as it happened."""

    kind: Literal["token", "governance"]
    data: Mapping[str, Any]


TurnListener = Callable[[TurnEvent], None]


def governance_event(event: AuditEvent) -> TurnEvent | None:
    """The turn event for an audit event, or None for kinds that are not governance steps."""
    shape = _SHAPES.get(event.kind)
    if shape is None:
        return None
    payload = event.payload
    data: dict[str, Any] = {
        "step": event.kind,
        "seq": event.seq,
        "thread_id": event.thread_id,
        "tool_call_id": payload.get("tool_call_id"),
        "tool": payload.get("tool"),
    }
    data.update(shape(payload))
    return TurnEvent(kind="governance", data=data)


def _decision(payload: Mapping[str, Any]) -> dict[str, Any]:
    tier = payload.get("tier")
    return {
        "step": "refusal" if tier == "deny" else "decision",
        "tier": tier,
        "rule_ids": list(payload.get("rule_ids", ())),
        "reasons": list(payload.get("reasons", ())),
        "stage": str(payload.get("stage", "")).split("-")[0],
    }


def _approval_requested(payload: Mapping[str, Any]) -> dict[str, Any]:
    needs = [
        f"{req.get('count', 1)} × {' or '.join(req.get('roles', ()))}"
        for req in payload.get("requirements", ())
    ]
    data = {
        "request_id": payload.get("request_id") or payload.get("approval_id"),
        "still_needed": " and ".join(needs) or payload.get("reason", ""),
        "expires_at": payload.get("expires_at"),
    }
    if "escalated_from" in payload:
        data["escalated_from"] = payload["escalated_from"]
    return data


def _approval_final(payload: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "request_id": payload.get("request_id"),
        "status": payload.get("status"),
        "reason": payload.get("reason"),
    }


def _notification(payload: Mapping[str, Any]) -> dict[str, Any]:
    return {"recipients": list(payload.get("recipients", ())), "targets": list(payload.get("targets", ()))}


def _execution(payload: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "status": payload.get("status"),
        "approval_id": payload.get("approval_id"),
        "error": payload.get("error"),
    }


def _error(payload: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": payload.get("type"), "error": payload.get("error")}


_SHAPES: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    EventKind.DECISION: _decision,
    EventKind.APPROVAL_REQUESTED: _approval_requested,
    EventKind.APPROVAL_FINAL: _approval_final,
    EventKind.NOTIFICATION: _notification,
    EventKind.EXECUTION: _execution,
    EventKind.ERROR: _error,
}


class Delivery:
    """Hands a turn's events to one listener: one at a time, and never letting it fail the turn."""

    def __init__(self, listener: TurnListener) -> None:
        self._listener: TurnListener | None = listener
        self._lock = threading.Lock()

    def __call__(self, event: TurnEvent) -> None:
        with self._lock:
            if self._listener is None:
                return
            try:
                self._listener(event)
            except Exception:  # a closed client, say: the turn must run on and be audited as usual
                log.exception("turn event listener failed; it gets no further events in this turn")
                self._listener = None

    def audited(self, event: AuditEvent) -> None:
        """An audit listener: governance steps become turn events."""
        turn_event = governance_event(event)
        if turn_event is not None:
            self(turn_event)

    def token(self, text: str) -> None:
        if text:
            self(TurnEvent(kind="token", data={"text": text}))
