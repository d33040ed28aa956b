"""Records of the ops systems (ITSM, inventory, procurement) as frozen pydantic values.

Every backend, local or remote, returns these; tools hand them to the model as JSON.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --- ITSM -----------------------------------------------------------------------------------------


class IncidentState(StrEnum):
    NEW = "new"
    IN_PROGRESS = "in_progress"
    ON_HOLD = "on_hold"
    RESOLVED = "resolved"
    CLOSED = "closed"


INCIDENT_TRANSITIONS: dict[IncidentState, tuple[IncidentState, ...]] = {
    IncidentState.NEW: (IncidentState.IN_PROGRESS, IncidentState.ON_HOLD, IncidentState.RESOLVED),
    IncidentState.IN_PROGRESS: (IncidentState.ON_HOLD, IncidentState.RESOLVED),
    IncidentState.ON_HOLD: (IncidentState.IN_PROGRESS, IncidentState.RESOLVED),
    IncidentState.RESOLVED: (IncidentState.CLOSED, IncidentState.IN_PROGRESS),
    IncidentState.CLOSED: (),
}


class WorkNote(Record):
    author: str
    at: datetime
    text: str


class Incident(Record):
    number: str
    short_description: str
    description: str = ""
    priority: int = Field(ge=1, le=4)
    state: IncidentState
    service: str | None = None
    ci: str | None = None
    assignment_group: str | None = None
    assigned_to: str | None = None
    caller: str
    opened_at: datetime
    resolved_at: datetime | None = None
    resolution_code: str | None = None
    resolution_notes: str | None = None
    work_notes: tuple[WorkNote, ...] = ()


class NewIncident(Record):
    short_description: str = Field(min_length=3, max_length=160)
    description: str = Field(default="", max_length=4000)
    priority: int = Field(default=3, ge=1, le=4)
    service: str | None = None
    ci: str | None = None
    assignment_group: str | None = None
    caller: str


class IncidentUpdate(Record):
    """Fields to change; ``None`` leaves a field as it is."""

    priority: int | None = Field(default=None, ge=1, le=4)
    state: IncidentState | None = None
    assigned_to: str | None = None
    assignment_group: str | None = None


class ChangeState(StrEnum):
    DRAFT = "draft"
    ASSESS = "assess"
    SCHEDULED = "scheduled"
    IMPLEMENTED = "implemented"
    CANCELLED = "cancelled"


CHANGE_TRANSITIONS: dict[ChangeState, tuple[ChangeState, ...]] = {
    ChangeState.DRAFT: (ChangeState.ASSESS, ChangeState.CANCELLED),
    ChangeState.ASSESS: (ChangeState.SCHEDULED, ChangeState.DRAFT, ChangeState.CANCELLED),
    ChangeState.SCHEDULED: (ChangeState.IMPLEMENTED, ChangeState.CANCELLED),
    ChangeState.IMPLEMENTED: (),
    ChangeState.CANCELLED: (),
}


class ChangeRequest(Record):
    number: str
    short_description: str
    description: str = ""
    ci: str
    risk: Literal["low", "moderate", "high"]
    state: ChangeState
    requested_by: str
    planned_start: datetime | None = None
    planned_end: datetime | None = None


class NewChange(Record):
    short_description: str = Field(min_length=3, max_length=160)
    description: str = Field(default="", max_length=4000)
    ci: str
    risk: Literal["low", "moderate", "high"] = "moderate"
    requested_by: str
    planned_start: datetime | None = None
    planned_end: datetime | None = None


class ConfigurationItem(Record):
    name: str
    ci_class: Literal["service", "host", "database", "network", "application"]
    environment: Literal["prod", "staging"]
    owner: str
    support_group: str
    description: str = ""
    depends_on: tuple[str, ...] = ()


# --- Inventory ------------------------------------------------------------------------------------


class Warehouse(Record):
    code: str
    name: str
    city: str


class Item(Record):
    sku: str
    name: str
    category: str
    unit: str = "each"
    unit_cost: float = Field(ge=0)


class StockLevel(Record):
    sku: str
    warehouse: str
    on_hand: int = Field(ge=0)
    reserved: int = Field(ge=0)
    reorder_point: int = Field(ge=0)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class Reservation(Record):
    id: str
    sku: str
    warehouse: str
    quantity: int = Field(gt=0)
    reference: str


class Transfer(Record):
    id: str
    sku: str
    from_warehouse: str
    to_warehouse: str
    quantity: int = Field(gt=0)
    reason: str = ""


class AdjustmentKind(StrEnum):
    CYCLE_COUNT = "cycle_count"
    WRITE_OFF = "write_off"


class Adjustment(Record):
    id: str
    sku: str
    warehouse: str
    delta: int
    kind: AdjustmentKind
    reason: str
    on_hand_after: int


# --- Procurement ----------------------------------------------------------------------------------


class Supplier(Record):
    id: str
    name: str
    currency: str = "EUR"
    lead_time_days: int = Field(ge=0)
    active: bool = True


class CatalogueEntry(Record):
    supplier_id: str
    sku: str
    description: str
    unit_price: float = Field(gt=0)
    lead_time_days: int = Field(ge=0)


class OrderLine(Record):
    sku: str
    quantity: int = Field(gt=0)
    unit_price: float = Field(gt=0)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def line_total(self) -> float:
        return round(self.quantity * self.unit_price, 2)


class POState(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    RECEIVED = "received"
    CANCELLED = "cancelled"


PO_TRANSITIONS: dict[POState, tuple[POState, ...]] = {
    POState.DRAFT: (POState.SUBMITTED, POState.CANCELLED),
    POState.SUBMITTED: (POState.APPROVED, POState.CANCELLED),
    POState.APPROVED: (POState.RECEIVED, POState.CANCELLED),
    POState.RECEIVED: (),
    POState.CANCELLED: (),
}


class PurchaseOrder(Record):
    number: str
    supplier_id: str
    cost_centre: str
    requester: str
    lines: tuple[OrderLine, ...]
    total_amount: float
    currency: str = "EUR"
    state: POState
    created_at: datetime
    cancel_reason: str | None = None


class NewPurchaseOrder(Record):
    supplier_id: str
    cost_centre: str
    requester: str
    lines: tuple[OrderLine, ...] = Field(min_length=1)
    total_amount: float = Field(gt=0)


class Requisition(Record):
    number: str
    requester: str
    cost_centre: str
    lines: tuple[OrderLine, ...]
    total_amount: float
    justification: str
    state: Literal["open", "converted", "cancelled"] = "open"
    created_at: datetime


class NewRequisition(Record):
    requester: str
    cost_centre: str
    lines: tuple[OrderLine, ...] = Field(min_length=1)
    justification: str = Field(min_length=3, max_length=2000)


class CostCentre(Record):
    code: str
    name: str
    budget: float = Field(ge=0)
    committed: float = Field(ge=0)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def remaining(self) -> float:
        return round(self.budget - self.committed, 2)
