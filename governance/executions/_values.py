"""Execution values: the record of one key's execution, its status, the keys, and the errors.

Errors an operator meets (the message names the problem)::

    ExecutionError
    ├── UnknownExecution    no record has this key, or no record's key starts with this prefix
    ├── AmbiguousKey        a key prefix matches several records
    ├── NotStarted          the record already has an outcome: nothing to settle
    ├── ExecutionChanged    the record was claimed again while it was being settled
    ├── OutcomeRequired     a settlement without the result found, or without a reason
    └── NotEntitled         (governance.executions.settlement) the person may not settle executions

:class:`ExecutionInProgress` is apart: it is what a caller gets for a key claimed without an outcome,
not a refused request.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

MIN_KEY_PREFIX = 8
"""Shortest key prefix :meth:`ExecutionLedger.resolve` accepts: shorter ones match too much to be safe."""

SETTLED_BY_OPERATOR = "settled_by_operator"
"""``error_type`` of a row an operator settled as ``failed`` (no handler exception to name)."""


class ExecutionStatus(StrEnum):
    STARTED = "started"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(frozen=True, kw_only=True, slots=True)
class ExecutionRecord:
    """One key's execution. ``replayed`` is True when this call returned a stored outcome."""

    key: str
    tool: str
    args_digest: str
    thread_id: str | None
    status: ExecutionStatus
    result: str | None
    error: str | None
    error_type: str | None
    """Qualified class name of the handler's exception, e.g. ``tools.errors.NotFound``, or
    :data:`SETTLED_BY_OPERATOR`."""
    attempts: int
    started_at: datetime
    finished_at: datetime | None
    replayed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "tool": self.tool,
            "args_digest": self.args_digest,
            "thread_id": self.thread_id,
            "status": self.status.value,
            "result": self.result,
            "error": self.error,
            "error_type": self.error_type,
            "attempts": self.attempts,
            "started_at": _iso(self.started_at),
            "finished_at": None if self.finished_at is None else _iso(self.finished_at),
            "replayed": self.replayed,
        }


class ExecutionInProgress(Exception):
    """The key is claimed but has no outcome: running elsewhere, or its runner crashed mid-call."""

    def __init__(self, record: ExecutionRecord) -> None:
        super().__init__(
            f"execution of {record.tool} (key {record.key}) started at {_iso(record.started_at)} "
            "and has not finished: another worker is running it, or it stopped mid-call; check the "
            "backend for this idempotency key before doing anything else"
        )
        self.record = record


class ExecutionError(Exception):
    """A request about one execution record that cannot be served; the message is for the operator."""

    def __init__(self, message: str, *, key: str) -> None:
        super().__init__(message)
        self.key = key


class UnknownExecution(ExecutionError):
    """No record has this key (or, for a prefix, no record's key starts with it)."""

    def __init__(self, key: str) -> None:
        short = len(key) < MIN_KEY_PREFIX
        hint = f" (a key prefix needs at least {MIN_KEY_PREFIX} characters)" if short else ""
        super().__init__(f"no execution with key {key!r}{hint}", key=key)


class AmbiguousKey(ExecutionError):
    """A key prefix matches several records."""

    def __init__(self, prefix: str, keys: list[str]) -> None:
        listing = ", ".join(keys)
        super().__init__(
            f"key prefix {prefix!r} matches more than one execution ({listing}); give more of the key",
            key=prefix,
        )
        self.keys = tuple(keys)


class NotStarted(ExecutionError):
    """The record already has an outcome, so there is nothing to settle."""

    def __init__(self, record: ExecutionRecord) -> None:
        super().__init__(
            f"execution {record.key} of {record.tool} is {record.status.value}, not started: "
            "it already has an outcome, nothing to settle",
            key=record.key,
        )
        self.record = record


class ExecutionChanged(ExecutionError):
    """The record was claimed again (a retry of a failed call) while it was being settled."""

    def __init__(self, record: ExecutionRecord) -> None:
        super().__init__(
            f"execution {record.key} of {record.tool} changed while it was being settled (now "
            f"{record.status.value}, attempt {record.attempts}); look at it again before settling",
            key=record.key,
        )
        self.record = record


class OutcomeRequired(ExecutionError):
    """A settlement without its text: the result found in the backend, or the reason it failed."""

    def __init__(self, key: str, status: ExecutionStatus) -> None:
        needs = "the result found in the backend" if status is ExecutionStatus.COMPLETED else "a reason"
        super().__init__(f"settling execution {key} as {status.value} needs {needs}", key=key)


def idempotency_key(thread_id: str, tool_call_id: str, args_digest: str) -> str:
    """sha256 hex of the call's identity; also sent to the backend as its idempotency key."""
    identity = json.dumps([thread_id, tool_call_id, args_digest], ensure_ascii=False)
    return hashlib.sha256(identity.encode()).hexdigest()


def usage_charge_key(execution_key: str, limit_id: str) -> str:
    """The usage ledger's idempotency key for one limit's charge of an execution (one row per charge)."""
    return f"{execution_key}:{limit_id}"


def _iso(moment: datetime) -> str:
    return _utc(moment).isoformat(timespec="microseconds")


def _utc(moment: datetime) -> datetime:
    if moment.utcoffset() is None:
        raise ValueError(f"execution times must be timezone-aware, got {moment.isoformat()}")
    return moment.astimezone(UTC)
