"""Errors raised by ops systems and tools.

Two audiences, one tree::

    OpsError
    ├── ToolError                 the model must act: its message says what to do next
    │   ├── InvalidArguments      arguments failed validation (field and reason named)
    │   ├── NotFound              unknown incident/change/CI/SKU/warehouse/PO/... id
    │   ├── InvalidTransition     a state machine refused the move
    │   ├── InsufficientStock     a reservation/transfer/adjustment would go below zero
    │   ├── UnknownSupplier
    │   ├── UnknownSku
    │   ├── BudgetExceeded        cost centre has not enough budget left
    │   └── Conflict              the request contradicts itself or current data
    └── BackendUnavailable        the operator must act: system down, auth failed, timeouts

Low-level errors (HTTP status codes, SQL errors) are translated into this tree once, at each
backend's boundary.
"""

from __future__ import annotations


class OpsError(Exception):
    """Base of every error an ops system or tool raises."""


class ToolError(OpsError):
    """An error the model can act on; ``str(error)`` is written for the model."""


class InvalidArguments(ToolError):
    def __init__(self, tool: str, problems: list[str]) -> None:
        self.tool = tool
        self.problems = problems
        super().__init__(f"invalid arguments for {tool}: " + "; ".join(problems))


class NotFound(ToolError):
    def __init__(self, kind: str, key: str) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"{kind} {key!r} not found")


class InvalidTransition(ToolError):
    def __init__(self, kind: str, key: str, current: str, target: str, allowed: list[str]) -> None:
        self.kind = kind
        self.key = key
        self.current = current
        self.target = target
        self.allowed = allowed
        allowed_text = ", ".join(allowed) if allowed else "none (final state)"
        super().__init__(
            f"{kind} {key} cannot move from {current!r} to {target!r}; allowed next states: {allowed_text}"
        )


class InsufficientStock(ToolError):
    def __init__(self, sku: str, warehouse: str, requested: int, available: int) -> None:
        self.sku = sku
        self.warehouse = warehouse
        self.requested = requested
        self.available = available
        super().__init__(
            f"insufficient stock of {sku} at {warehouse}: requested {requested}, available {available}"
        )


class UnknownSupplier(NotFound):
    def __init__(self, supplier_id: str) -> None:
        super().__init__("supplier", supplier_id)


class UnknownSku(NotFound):
    def __init__(self, sku: str, detail: str = "") -> None:
        super().__init__("SKU", sku)
        if detail:
            self.args = (f"{self.args[0]}: {detail}",)


class BudgetExceeded(ToolError):
    def __init__(self, cost_centre: str, requested: float, remaining: float) -> None:
        self.cost_centre = cost_centre
        self.requested = requested
        self.remaining = remaining
        super().__init__(
            f"cost centre {cost_centre} has {remaining:.2f} left; the request needs {requested:.2f}"
        )


class Conflict(ToolError):
    """The request contradicts itself or the current data (e.g. a total that is not the sum of lines)."""


class BackendUnavailable(OpsError):
    """The system could not be reached or refused us; retrying may help when ``retryable``."""

    def __init__(self, system: str, detail: str, *, retryable: bool, status: int | None = None) -> None:
        self.system = system
        self.detail = detail
        self.retryable = retryable
        self.status = status
        super().__init__(f"{system} unavailable: {detail}")
