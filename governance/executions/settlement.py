"""Settling an execution a crash left ``started``: who may, the usage it owes, the audit event.

A crash between the backend's commit and the ledger's leaves a row ``started``, and every later
attempt at the call raises :class:`~governance.executions.ExecutionInProgress`: nothing can tell that
row from a call still running, so nothing settles it automatically. A person checks the backend for
the idempotency key and records what they found: ``completed`` with the record the backend holds (the
agent then tells the model that result), or ``failed`` with the reason (the model is told it failed).

Who: a person from the directory who holds one of ``entitled_roles``. The shipped default,
:data:`DEFAULT_SETTLER_ROLES`, is the service desk and incident managers: the people who run
operations and look into backends day to day. Approvers (procurement, finance, change, warehouse)
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

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any, Protocol

from governance.audit import AuditEvent, AuditLog, EventKind
from governance.decision import Actor
from governance.executions import (
    ExecutionError,
    ExecutionLedger,
    ExecutionRecord,
    ExecutionStatus,
    idempotency_key,
    usage_charge_key,
)
from governance.usage import UsageCharge

DEFAULT_SETTLER_ROLES: tuple[str, ...] = ("service_desk", "incident_manager")
"""Roles that may settle executions unless the deployment names others."""

_AUDIT_TEXT_LIMIT = 2000  # as for ``execution`` events: the ledger keeps the whole text


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


def settle_execution(
    ledger: ExecutionLedger,
    audit: AuditLog,
    usage: UsageRecorder,
    key: str,
    status: ExecutionStatus,
    *,
    text: str,
    operator: Actor,
    entitled_roles: Collection[str] = DEFAULT_SETTLER_ROLES,
) -> ExecutionRecord:
    """Settle the ``started`` row ``key`` as ``status`` on ``operator``'s word; return the settled row.

    ``text`` is the result found in the backend (``completed``) or the reason (``failed``). Raises
    :class:`NotEntitled`, or an :class:`~governance.executions.ExecutionError` from the ledger
    (unknown key, not started, changed meanwhile, empty text); nothing is written then.
    """
    if operator.roles.isdisjoint(entitled_roles):
        raise NotEntitled(key, operator.id, entitled_roles)
    settled = ledger.settle(key, status, text=text)
    charged = _charge_usage(audit, usage, settled) if status is ExecutionStatus.COMPLETED else []
    audit.append(
        EventKind.EXECUTION_SETTLED,
        _settled_payload(settled, operator, charged),
        thread_id=settled.thread_id,
        actor=operator.id,
    )
    return settled


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
