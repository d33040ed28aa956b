"""Settling an execution a crash left ``started``: who may, the usage it owes, the audit event.

A crash between the backend's commit and the ledger's leaves a row ``started``, and every later
attempt at the call raises :class:`~governance.executions.ExecutionInProgress`: nothing can tell that
row from a call still running, so nothing settles it automatically. A person checks the backend for
the idempotency key and records what they found: ``completed`` with the record the backend holds (the
agent then tells the model that result), or ``failed`` with the reason (the model is told it failed).

The result: the model is told it as the tool's own, so it must be what the tool returns. It is
checked against the tool handler's return type (e.g. ``PurchaseOrder``) and refused
(:class:`InvalidResult`) when it is not JSON, lacks a field, has one of the wrong type or one the
record does not have; what is stored is the record as the executor would have written it
(``result_to_json``), computed fields included. A notification row (``notify:`` key) records that
people were told, not a tool result, so its text is not checked.

Who: a person from the directory who holds one of ``entitled_roles``. The shipped default,
:data:`governance.defaults.DEFAULT_SETTLER_ROLES`, is the service desk and incident managers: the people
who run operations and look into backends day to day. Approvers (procurement, finance, change, warehouse)
decide whether a call may run, which is a different question from whether it did. Settling a call
one asked for oneself is allowed: a settlement records a fact and grants nothing, and the audit event
names the person. Settling ``failed`` a call that in fact ran is the one dangerous mistake (the model
may try again under a new key), which is why a settlement is restricted at all.

Usage: the executor charges a call's usage just before the ledger records it, so "completed implies
charged" holds for every row it writes. A crash may have come before the charge, so a ``completed``
settlement charges the amounts of the call's latest decision, under the executor's own idempotency
keys: a charge that was already made is not made twice.

The audit event (``execution_settled``) is appended after the ledger's commit, as approvals do: a
crash in between can lose the event, but no event is written for a settlement that did not happen.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Collection, Iterator, Mapping
from datetime import datetime
from typing import Any, Protocol

from pydantic import TypeAdapter, ValidationError

from governance.audit import AuditEvent, AuditLog, EventKind
from governance.decision import Actor
from governance.defaults import DEFAULT_SETTLER_ROLES
from governance.executions import (
    ExecutionError,
    ExecutionLedger,
    ExecutionRecord,
    ExecutionStatus,
    idempotency_key,
    usage_charge_key,
)
from governance.usage import UsageCharge
from tools.errors import NotFound
from tools.registry import ToolRegistry, result_to_json
from tools.spec import ToolSpec

"""Roles that may settle executions unless the deployment names others."""

_AUDIT_TEXT_LIMIT = 2000  # as for ``execution`` events: the ledger keeps the whole text
_NOTIFICATION_PREFIX = "notify:"  # the executor's key for the notification sent before a call


class UsageRecorder(Protocol):
    """The write side of a usage ledger (``SqlUsageLedger``, ``InMemoryUsage``)."""

    def record(self, charge: UsageCharge, at: datetime, idempotency_key: str) -> bool: ...


class NotEntitled(ExecutionError):
    """The person holds none of the roles that may settle executions."""

    def __init__(self, key: str, person_id: str, roles: Collection[str]) -> None:
        super().__init__(
            f"{person_id} may not settle executions: that needs one of the roles {', '.join(roles)}",
            key=key,
        )
        self.person_id = person_id


class InvalidResult(ExecutionError):
    """A ``completed`` settlement whose result is not what the tool returns; ``problems`` names each."""

    def __init__(self, key: str, tool: str, problems: list[str]) -> None:
        super().__init__(
            f"the result given is not one {tool} returns: {'; '.join(problems)}. Give the record the backend "
            "holds, as the tool's JSON",
            key=key,
        )
        self.tool = tool
        self.problems = tuple(problems)


def settle_execution(
    ledger: ExecutionLedger,
    audit: AuditLog,
    usage: UsageRecorder,
    key: str,
    status: ExecutionStatus,
    *,
    text: str,
    operator: Actor,
    tools: ToolRegistry,
    entitled_roles: Collection[str] = DEFAULT_SETTLER_ROLES,
) -> ExecutionRecord:
    """Settle the ``started`` row ``key`` as ``status`` on ``operator``'s word; return the settled row.

    ``text`` is the result found in the backend (``completed``: checked against the tool's result
    type in ``tools``, stored as the tool's JSON) or the reason (``failed``). Raises
    :class:`NotEntitled`, :class:`InvalidResult`, or an :class:`~governance.executions.ExecutionError`
    from the ledger (unknown key, not started, changed meanwhile, empty text); nothing is written then.
    """
    if operator.roles.isdisjoint(entitled_roles):
        raise NotEntitled(key, operator.id, entitled_roles)
    text = _checked_text(tools, ledger.get(key), status, text)
    settled = ledger.settle(key, status, text=text)
    charged = _charge_usage(audit, usage, settled) if status is ExecutionStatus.COMPLETED else []
    audit.append(
        EventKind.EXECUTION_SETTLED,
        _settled_payload(settled, operator, charged),
        thread_id=settled.thread_id,
        actor=operator.id,
    )
    return settled


def checked_result(tools: ToolRegistry, record: ExecutionRecord, text: str) -> str:
    """``text`` as the JSON ``record``'s tool returns (computed fields included); InvalidResult if it is not.

    A notification row's text is returned as given: it records that people were told.
    """
    if record.key.startswith(_NOTIFICATION_PREFIX):
        return text
    try:
        spec = tools.get(record.tool)
    except NotFound:
        raise InvalidResult(
            record.key, record.tool, ["no such tool here, so its result cannot be checked"]
        ) from None
    try:
        given = json.loads(text)
    except json.JSONDecodeError as exc:
        problem = f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        raise InvalidResult(record.key, spec.name, [problem]) from None
    try:
        # Computed fields (a line's total) are in the tool's JSON but not inputs: extras are found below.
        value = TypeAdapter(result_type(spec)).validate_python(given, extra="ignore")
    except ValidationError as exc:
        raise InvalidResult(record.key, spec.name, _problems(exc)) from None
    stored = result_to_json(value)
    unknown = [f"{path}: not a field of the result" for path in _unknown_keys(given, json.loads(stored))]
    if unknown:
        raise InvalidResult(record.key, spec.name, unknown)
    return stored


def result_type(spec: ToolSpec) -> Any:
    """What ``spec``'s handler returns (its return annotation; ``Any`` when it has none)."""
    return typing.get_type_hints(spec.handler).get("return", Any)


def call_decision(audit: AuditLog, record: ExecutionRecord) -> AuditEvent | None:
    """The latest ``decision`` event of the call ``record`` ran (its arguments, its usage charges).

    Matched by recomputing the idempotency key from each decision's thread, tool-call id and args
    digest; ``None`` for rows that are not a tool call's (e.g. notifications) or have no thread.
    """
    if record.thread_id is None:
        return None
    latest = None
    for event in audit.events(thread_id=record.thread_id, kinds=[EventKind.DECISION]):
        if _decision_key(record.thread_id, event.payload) == record.key:
            latest = event
    return latest


def settlement_of(audit: AuditLog, record: ExecutionRecord) -> AuditEvent | None:
    """The ``execution_settled`` event of ``record``, if a person settled it."""
    if record.thread_id is None:
        return None
    events = audit.events(thread_id=record.thread_id, kinds=[EventKind.EXECUTION_SETTLED])
    return next((event for event in events if event.payload.get("key") == record.key), None)


def _decision_key(thread_id: str, payload: Mapping[str, Any]) -> str | None:
    tool_call_id, digest = payload.get("tool_call_id"), payload.get("args_digest")
    if not isinstance(tool_call_id, str) or not isinstance(digest, str):
        return None
    return idempotency_key(thread_id, tool_call_id, digest)


def _checked_text(
    tools: ToolRegistry, current: ExecutionRecord | None, status: ExecutionStatus, text: str
) -> str:
    """The text to settle with: a result checked; the ledger refuses what is not started or empty."""
    if status is not ExecutionStatus.COMPLETED or current is None or not text.strip():
        return text
    if current.status is not ExecutionStatus.STARTED:
        return text
    return checked_result(tools, current, text)


def _problems(exc: ValidationError) -> list[str]:
    return [
        f"{'.'.join(str(part) for part in error['loc']) or '(result)'}: {error['msg']}"
        for error in exc.errors(include_url=False)
    ]


def _unknown_keys(given: Any, known: Any, path: str = "") -> Iterator[str]:
    """Paths of the object keys in ``given`` that ``known`` (the same value, as the tool writes it) lacks."""
    if isinstance(given, dict) and isinstance(known, dict):
        for name, value in given.items():
            where = f"{path}.{name}" if path else name
            if name in known:
                yield from _unknown_keys(value, known[name], where)
            else:
                yield where
    elif isinstance(given, list) and isinstance(known, list):
        for index, (item, written) in enumerate(zip(given, known, strict=False)):
            yield from _unknown_keys(item, written, f"{path}.{index}" if path else str(index))


def _charge_usage(audit: AuditLog, usage: UsageRecorder, record: ExecutionRecord) -> list[UsageCharge]:
    """Charge what the call's latest decision said it costs, at the time it ran; idempotent."""
    decision = call_decision(audit, record)
    if decision is None:
        return []
    charges = [UsageCharge(**charge) for charge in decision.payload.get("usage_charges", [])]
    for charge in charges:
        usage.record(charge, record.started_at, usage_charge_key(record.key, charge.limit_id))
    return charges


def _settled_payload(record: ExecutionRecord, operator: Actor, charged: list[UsageCharge]) -> dict[str, Any]:
    return {
        "key": record.key,
        "tool": record.tool,
        "thread_id": record.thread_id,
        "args_digest": record.args_digest,
        "attempts": record.attempts,
        "previous_status": ExecutionStatus.STARTED.value,
        "status": record.status.value,
        "result": _clipped(record.result),
        "reason": _clipped(record.error),
        "operator": operator.id,
        "operator_roles": sorted(operator.roles),
        "usage_charged": [{"limit_id": c.limit_id, "key": c.key, "amount": c.amount} for c in charged],
    }


def _clipped(text: str | None) -> str | None:
    return None if text is None else text[:_AUDIT_TEXT_LIMIT]
