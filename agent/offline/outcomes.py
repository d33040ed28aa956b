"""What came back from a tool call, as the offline planner reads it off a ToolMessage.

A result is JSON (a record or a list of records). Anything else, or a message marked as an
error, is read for what governance or the tool said: refused by policy, waiting for approval,
rejected by an approver, invalid arguments, a dry run, or a plain failure. A failure that names the
arguments that ran (``"args"``: an approver may have edited them) keeps them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from langchain_core.messages import ToolMessage


class Status(StrEnum):
    OK = "ok"
    DRY_RUN = "dry_run"
    REJECTED = "rejected"
    REFUSED = "refused"
    PENDING = "pending"
    INVALID = "invalid"
    FAILED = "failed"


@dataclass(frozen=True, kw_only=True)
class Outcome:
    status: Status
    data: Any = None
    text: str = ""
    args: Mapping[str, Any] | None = None  # the arguments that ran, when a failure names them

    @property
    def ok(self) -> bool:
        return self.status is Status.OK


@dataclass(frozen=True, kw_only=True)
class Step:
    """One tool call of the current request and what came back."""

    tool: str
    args: Mapping[str, Any]
    outcome: Outcome


# First match wins: a dry run may mention approval, an approver's rejection may mention policy.
_SIGNALS: tuple[tuple[Status, re.Pattern[str]], ...] = (
    (Status.DRY_RUN, re.compile(r"dry[ -]?run|would run|would execute", re.I)),
    (Status.REJECTED, re.compile(r"reject|declin|veto|expired", re.I)),
    (Status.REFUSED, re.compile(r"refus|denied|\bdeny\b|not allowed|forbidden|not permitted", re.I)),
    (Status.PENDING, re.compile(r"pending|awaiting|waiting for|needs? approval|requires? approval", re.I)),
    (Status.INVALID, re.compile(r"invalid arguments|validation|not valid", re.I)),
)
_FAILURE_KEYS = ("error", "refused", "rejected", "denied")
_WRAPPERS = ("result", "results", "items", "records", "data")


def read_outcome(message: ToolMessage) -> Outcome:
    text = message.text.strip()
    data = _json(text)
    failure = _failure_text(data)
    if failure is not None:
        return Outcome(status=_classify(failure) or Status.FAILED, text=failure, args=_ran_args(data))
    if message.status == "error" or data is None:
        status = _classify(text) or (Status.FAILED if message.status == "error" else Status.OK)
        return Outcome(status=status, data=text if status is Status.OK else None, text=text)
    return Outcome(status=Status.OK, data=_unwrap(data), text=text)


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _failure_text(data: Any) -> str | None:
    """The message of an error envelope such as ``{"error": "..."}`` or ``{"status": "refused", ...}``."""
    if not isinstance(data, dict):
        return None
    for key in _FAILURE_KEYS:
        if data.get(key):
            return str(data[key]) if isinstance(data[key], str) else json.dumps(data)
    if str(data.get("status", "")).lower() in {status.value for status in Status} - {"ok"}:
        return str(data.get("message") or data.get("reason") or json.dumps(data))
    return None


def _ran_args(data: Any) -> Mapping[str, Any] | None:
    args = data.get("args") if isinstance(data, dict) else None
    return args if isinstance(args, dict) else None


def _classify(text: str) -> Status | None:
    for status, pattern in _SIGNALS:
        if pattern.search(text):
            return status
    return None


def _unwrap(data: Any) -> Any:
    if isinstance(data, dict) and len(data) == 1:
        ((key, value),) = data.items()
        if key in _WRAPPERS:
            return value
    return data
