"""Checks every backend makes before a write, so local and remote systems refuse alike.

Mandatory free text, positive quantities, and state-machine transitions (:mod:`tools.models`).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import TypeVar

from tools.errors import InvalidArguments, InvalidTransition

State = TypeVar("State", bound=StrEnum)


def require_text(operation: str, **fields: str) -> None:
    """Refuse blank free-text fields a real system makes mandatory (notes, reasons, codes)."""
    blank = [f"{name} must not be empty" for name, value in fields.items() if not value.strip()]
    if blank:
        raise InvalidArguments(operation, blank)


def require_positive(operation: str, **fields: int) -> None:
    problems = [f"{name} must be greater than 0" for name, value in fields.items() if value <= 0]
    if problems:
        raise InvalidArguments(operation, problems)


def require_transition(
    kind: str, key: str, current: State, target: State, machine: Mapping[State, tuple[State, ...]]
) -> None:
    allowed = machine[current]
    if target not in allowed:
        raise InvalidTransition(kind, key, current.value, target.value, [state.value for state in allowed])
