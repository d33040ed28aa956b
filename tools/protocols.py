"""One Protocol per ops system. Implementations: ``tools.local`` (SQLite) and HTTP adapters.

Rules every implementation follows (the contract suite in ``tests/contract`` checks them):

- unknown ids raise :class:`tools.errors.NotFound` (or its subclasses);
- state machines follow ``tools.models.*_TRANSITIONS``; other moves raise ``InvalidTransition``;
- stock never goes negative; reservations and transfers are atomic;
- a create with an ``idempotency_key`` already used returns the record created the first time.
"""

from __future__ import annotations

from typing import Any, Protocol

from tools.models import (
    Adjustment,
    AdjustmentKind,
    CatalogueEntry,
    ChangeRequest,
    ChangeState,
    ConfigurationItem,
    CostCentre,
    Incident,
    IncidentState,
    IncidentUpdate,
    Item,
    NewChange,
    NewIncident,
    NewPurchaseOrder,
    NewRequisition,
    POState,
    PurchaseOrder,
    Requisition,
    Reservation,
    StockLevel,
    Supplier,
    Transfer,
    Warehouse,
)


class ITSMBackend(Protocol):
    def search_incidents(
        self,
        *,
        text: str | None = None,
        state: IncidentState | None = None,
        priority: int | None = None,
        service: str | None = None,
        limit: int = 20,
    ) -> list[Incident]: ...

    def get_incident(self, number: str) -> Incident: ...

    def create_incident(self, new: NewIncident, *, idempotency_key: str | None = None) -> Incident: ...

    def update_incident(self, number: str, update: IncidentUpdate) -> Incident: ...

    def add_work_note(self, number: str, *, author: str, text: str) -> Incident: ...

    def resolve_incident(
        self, number: str, *, resolution_code: str, resolution_notes: str, resolved_by: str
    ) -> Incident: ...

    def create_change(self, new: NewChange, *, idempotency_key: str | None = None) -> ChangeRequest: ...

    def get_change(self, number: str) -> ChangeRequest: ...

    def transition_change(self, number: str, state: ChangeState) -> ChangeRequest: ...

    def get_configuration_item(self, name: str) -> ConfigurationItem: ...

    def search_configuration_items(
        self, *, text: str | None = None, environment: str | None = None, limit: int = 20
    ) -> list[ConfigurationItem]: ...


class InventoryBackend(Protocol):
    def list_warehouses(self) -> list[Warehouse]: ...

    def search_items(
        self, *, text: str | None = None, category: str | None = None, limit: int = 20
    ) -> list[Item]: ...

    def get_item(self, sku: str) -> Item: ...

    def get_stock(self, sku: str, warehouse: str | None = None) -> list[StockLevel]: ...

    def reserve_stock(
        self, sku: str, warehouse: str, quantity: int, *, reference: str, idempotency_key: str | None = None
    ) -> Reservation: ...

    def transfer_stock(
        self,
        sku: str,
        from_warehouse: str,
        to_warehouse: str,
        quantity: int,
        *,
        reason: str = "",
        idempotency_key: str | None = None,
    ) -> Transfer: ...

    def adjust_stock(
        self,
        sku: str,
        warehouse: str,
        delta: int,
        *,
        kind: AdjustmentKind,
        reason: str,
        idempotency_key: str | None = None,
    ) -> Adjustment: ...

    def set_reorder_point(self, sku: str, warehouse: str, reorder_point: int) -> StockLevel: ...


class ProcurementBackend(Protocol):
    def search_suppliers(self, *, text: str | None = None, limit: int = 20) -> list[Supplier]: ...

    def get_supplier(self, supplier_id: str) -> Supplier: ...

    def search_catalogue(
        self,
        *,
        text: str | None = None,
        sku: str | None = None,
        supplier_id: str | None = None,
        limit: int = 20,
    ) -> list[CatalogueEntry]: ...

    def get_cost_centre(self, code: str) -> CostCentre: ...

    def get_purchase_order(self, number: str) -> PurchaseOrder: ...

    def list_purchase_orders(
        self, *, state: POState | None = None, requester: str | None = None, limit: int = 20
    ) -> list[PurchaseOrder]: ...

    def create_requisition(
        self, new: NewRequisition, *, idempotency_key: str | None = None
    ) -> Requisition: ...

    def create_purchase_order(
        self, new: NewPurchaseOrder, *, idempotency_key: str | None = None
    ) -> PurchaseOrder: ...

    def transition_purchase_order(self, number: str, state: POState) -> PurchaseOrder: ...

    def cancel_purchase_order(self, number: str, *, reason: str) -> PurchaseOrder: ...


class KnowledgeBackend(Protocol):
    """Search over runbooks and past incidents; hits are JSON-ready dicts carrying their citation."""

    def search(self, query: str, *, k: int = 5, kind: str | None = None) -> list[dict[str, Any]]: ...
