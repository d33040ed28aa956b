"""ITSMBackend over ServiceNow's Table API: ``incident``, ``change_request`` and ``cmdb_ci``.

- Reads are ``GET /api/now/table/{table}`` with an encoded ``sysparm_query``, ``sysparm_fields``
  (dot-walked, e.g. ``caller_id.user_name``), ``sysparm_limit``, ``sysparm_display_value=false`` and
  ``sysparm_exclude_reference_link=true``; writes are ``POST``/``PATCH`` and are read back after.
- Reference fields are written as sys_ids looked up by name: ``sys_user.user_name``,
  ``sys_user_group.name``, ``cmdb_ci.name`` and ``cmdb_ci_service.name`` (business service).
- Work notes are written through the incident's ``work_notes`` journal field and read back from
  ``sys_journal_field`` (``element=work_notes``, ``element_id`` = incident sys_id), so the
  integration user needs read access to that table. ServiceNow stamps journal entries with the
  integration user, so the acting person is named on the note's first line ("[on behalf of ...]").
- Idempotent creates keep the key in ``correlation_id`` and look it up before POSTing.
- State machines: the current record is read and ``tools.models`` transitions are applied before
  any PATCH, so callers see the same ``InvalidTransition``/``Conflict`` as with the local backend.
  The instance may refuse more on its own (e.g. a change that needs CAB approval) → ``Conflict``.
- Code mappings (states, priority, risk, CI class, environment): :mod:`tools.servicenow.mapping`.
  HTTP failures → errors, retries and credentials: :mod:`tools.servicenow.http`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Self

import httpx

from tools.checks import require_text, require_transition
from tools.errors import Conflict, NotFound
from tools.models import (
    CHANGE_TRANSITIONS,
    INCIDENT_TRANSITIONS,
    ChangeRequest,
    ChangeState,
    ConfigurationItem,
    Incident,
    IncidentState,
    IncidentUpdate,
    NewChange,
    NewIncident,
    WorkNote,
)
from tools.servicenow.http import BasicAuth, BearerToken, TableApi
from tools.servicenow.mapping import (
    CHANGE_FIELDS,
    CHANGE_STATE_CODES,
    CI_FIELDS,
    DEPENDENCY_FIELDS,
    DEPENDS_ON,
    INCIDENT_FIELDS,
    INCIDENT_STATE_CODES,
    NON_PROD_ENVIRONMENTS,
    NOTE_FIELDS,
    RISK_CODES,
    change_from,
    change_state,
    ci_from,
    field_text,
    format_time,
    incident_from,
    incident_state,
    on_behalf,
    priority_fields,
    required,
    work_note_from,
)
from tools.servicenow.query import literal, query_params, text_conditions

__all__ = ["BasicAuth", "BearerToken", "ServiceNowITSM"]

_HEAD = "sys_id,number,state"
_INCIDENT_SEARCHED = ("number", "short_description", "description", "close_notes")
_CI_SEARCHED = ("name", "sys_class_name", "short_description", "support_group.name", "owned_by.user_name")
_NON_PROD = ",".join(NON_PROD_ENVIRONMENTS)
_CANCELED = "8"  # ServiceNow's Canceled incidents have no opslayer state; searches leave them out
_CLEARED_ON_REOPEN = {"close_code": "", "close_notes": "", "resolved_by": "", "resolved_at": ""}
_RELATED_LIMIT = 1000
# Writes are read back afterwards: dot-walked fields (user ids, CI names) come only from GET.
_WRITTEN = {"sysparm_fields": "sys_id"}
_KINDS = {
    "incident": "incident",
    "change_request": "change request",
    "cmdb_ci": "configuration item",
    "cmdb_ci_service": "service",
    "sys_user": "user",
    "sys_user_group": "assignment group",
}


class ServiceNowITSM:
    """ITSM on a ServiceNow instance; ``close()`` (or ``with``) releases the HTTP client it made."""

    def __init__(
        self,
        base_url: str,
        *,
        auth: BasicAuth | BearerToken,
        client: httpx.Client | None = None,
        timeout_s: float = 10.0,
        max_read_retries: int = 3,
        backoff_s: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._api = TableApi(
            base_url,
            auth=auth,
            client=client,
            timeout_s=timeout_s,
            max_read_retries=max_read_retries,
            backoff_s=backoff_s,
            sleep=sleep,
        )

    def close(self) -> None:
        self._api.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- incidents --------------------------------------------------------------------------------

    def search_incidents(
        self,
        *,
        text: str | None = None,
        state: IncidentState | None = None,
        priority: int | None = None,
        service: str | None = None,
        limit: int = 20,
    ) -> list[Incident]:
        if limit <= 0:
            return []
        conditions = [*text_conditions(text, _INCIDENT_SEARCHED), f"state!={_CANCELED}"]
        if state is not None:
            conditions.append(f"state={INCIDENT_STATE_CODES[IncidentState(state)]}")
        if priority is not None:
            conditions.append("priorityIN4,5" if priority == 4 else f"priority={priority}")
        if service is not None:
            conditions.append(f"business_service.name={literal(service)}")
        conditions.append("ORDERBYDESCopened_at^ORDERBYDESCnumber")
        return self._incidents(self._api.query("incident", query_params(conditions, INCIDENT_FIELDS, limit)))

    def get_incident(self, number: str) -> Incident:
        return self._incidents([self._one("incident", "number", number, INCIDENT_FIELDS)])[0]

    def create_incident(self, new: NewIncident, *, idempotency_key: str | None = None) -> Incident:
        if earlier := self._by_key("incident", idempotency_key, INCIDENT_FIELDS):
            return self._incidents([earlier])[0]
        body = {
            "short_description": new.short_description,
            "description": new.description,
            **priority_fields(new.priority),
            "caller_id": self._user(new.caller),
        }
        if new.ci is not None:
            body["cmdb_ci"] = self._ci("cmdb_ci", new.ci)
        if new.service is not None:
            body["business_service"] = self._ci("cmdb_ci_service", new.service)
        if new.assignment_group is not None:
            body["assignment_group"] = self._group(new.assignment_group)
        if idempotency_key is not None:
            body["correlation_id"] = idempotency_key
        created = self._api.create("incident", body, {"sysparm_fields": "sys_id,number"})
        return self._read_incident(required(created, "sys_id"), required(created, "number"))

    def update_incident(self, number: str, update: IncidentUpdate) -> Incident:
        """Change priority, assignment or state; resolving needs ``resolve_incident``, closed is final."""
        head = self._one("incident", "number", number, _HEAD)
        current = incident_state(head)
        values: dict[str, str] = {}
        if update.state is not None and update.state != current:
            values |= _moved(number, current, IncidentState(update.state))
        if update.priority is not None:
            values |= priority_fields(update.priority)
        if update.assigned_to is not None:
            values["assigned_to"] = self._user(update.assigned_to)
        if update.assignment_group is not None:
            values["assignment_group"] = self._group(update.assignment_group)
        if values and current is IncidentState.CLOSED:
            raise Conflict(f"incident {number} is closed; closed incidents cannot be changed")
        return self._patch_incident(head, values)

    def add_work_note(self, number: str, *, author: str, text: str) -> Incident:
        require_text("add_work_note", text=text)
        head = self._one("incident", "number", number, _HEAD)
        if incident_state(head) is IncidentState.CLOSED:
            raise Conflict(f"incident {number} is closed; open a new incident to record more work")
        self._user(author)
        return self._patch_incident(head, {"work_notes": on_behalf(author, text)})

    def resolve_incident(
        self, number: str, *, resolution_code: str, resolution_notes: str, resolved_by: str
    ) -> Incident:
        require_text("resolve_incident", resolution_code=resolution_code, resolution_notes=resolution_notes)
        head = self._one("incident", "number", number, _HEAD)
        target = IncidentState.RESOLVED
        require_transition("incident", number, incident_state(head), target, INCIDENT_TRANSITIONS)
        resolution = {
            "state": INCIDENT_STATE_CODES[target],
            "close_code": resolution_code,
            "close_notes": resolution_notes,
            "resolved_by": self._user(resolved_by),
        }
        return self._patch_incident(head, resolution)

    # --- change requests --------------------------------------------------------------------------

    def create_change(self, new: NewChange, *, idempotency_key: str | None = None) -> ChangeRequest:
        start, end = new.planned_start, new.planned_end
        if start is not None and end is not None and end <= start:
            raise Conflict(f"planned_end {end.isoformat()} is not after planned_start {start.isoformat()}")
        if earlier := self._by_key("change_request", idempotency_key, CHANGE_FIELDS):
            return change_from(earlier)
        body = {
            "short_description": new.short_description,
            "description": new.description,
            "cmdb_ci": self._ci("cmdb_ci", new.ci),
            "requested_by": self._user(new.requested_by),
            "risk": RISK_CODES[new.risk],
            "state": CHANGE_STATE_CODES[ChangeState.DRAFT],
            "type": "normal",
        }
        body |= {"start_date": format_time(start)} if start is not None else {}
        body |= {"end_date": format_time(end)} if end is not None else {}
        body |= {"correlation_id": idempotency_key} if idempotency_key is not None else {}
        created = self._api.create("change_request", body, {"sysparm_fields": "sys_id,number"})
        return self._read_change(required(created, "sys_id"), required(created, "number"))

    def get_change(self, number: str) -> ChangeRequest:
        return change_from(self._one("change_request", "number", number, CHANGE_FIELDS))

    def transition_change(self, number: str, state: ChangeState) -> ChangeRequest:
        head = self._one("change_request", "number", number, _HEAD)
        target = ChangeState(state)
        require_transition("change request", number, change_state(head), target, CHANGE_TRANSITIONS)
        sys_id = required(head, "sys_id")
        subject = ("change request", number)
        self._api.update("change_request", sys_id, {"state": CHANGE_STATE_CODES[target]}, _WRITTEN, subject)
        return self._read_change(sys_id, number)

    # --- CMDB -------------------------------------------------------------------------------------

    def get_configuration_item(self, name: str) -> ConfigurationItem:
        return self._cis([self._one("cmdb_ci", "name", name, CI_FIELDS)])[0]

    def search_configuration_items(
        self, *, text: str | None = None, environment: str | None = None, limit: int = 20
    ) -> list[ConfigurationItem]:
        if limit <= 0:
            return []
        conditions = text_conditions(text, _CI_SEARCHED)
        if environment is not None and environment.lower() == "staging":
            conditions.append(f"environmentIN{_NON_PROD}")
        elif environment is not None:
            conditions.append(f"environmentNOT IN{_NON_PROD}^ORenvironmentISEMPTY")
        conditions.append("ORDERBYname")
        return self._cis(self._api.query("cmdb_ci", query_params(conditions, CI_FIELDS, limit)))

    # --- reading ----------------------------------------------------------------------------------

    def _one(self, table: str, field: str, value: str, fields: str) -> dict[str, Any]:
        """The record whose ``field`` equals ``value``, or NotFound naming it as callers know it."""
        found = self._api.query(table, query_params([f"{field}={literal(value)}"], fields, 1))
        if not found:
            raise NotFound(_KINDS[table], value)
        return found[0]

    def _by_key(self, table: str, key: str | None, fields: str) -> dict[str, Any] | None:
        if key is None:
            return None
        found = self._api.query(table, query_params([f"correlation_id={literal(key)}"], fields, 1))
        return found[0] if found else None

    def _incidents(self, records: list[dict[str, Any]]) -> list[Incident]:
        notes = self._work_notes([required(record, "sys_id") for record in records])
        return [incident_from(record, notes.get(required(record, "sys_id"), [])) for record in records]

    def _read_incident(self, sys_id: str, number: str) -> Incident:
        record = self._api.read("incident", sys_id, query_params([], INCIDENT_FIELDS), ("incident", number))
        return self._incidents([record])[0]

    def _read_change(self, sys_id: str, number: str) -> ChangeRequest:
        subject = ("change request", number)
        return change_from(self._api.read("change_request", sys_id, query_params([], CHANGE_FIELDS), subject))

    def _patch_incident(self, head: Mapping[str, Any], values: Mapping[str, str]) -> Incident:
        sys_id, number = required(head, "sys_id"), required(head, "number")
        if values:
            self._api.update("incident", sys_id, values, _WRITTEN, ("incident", number))
        return self._read_incident(sys_id, number)

    def _work_notes(self, sys_ids: list[str]) -> dict[str, list[WorkNote]]:
        if not sys_ids:
            return {}
        conditions = [
            f"element_idIN{','.join(sys_ids)}",
            "name=incident",
            "element=work_notes",
            "ORDERBYsys_created_on",
        ]
        notes: dict[str, list[WorkNote]] = {}
        for record in self._api.query(
            "sys_journal_field", query_params(conditions, NOTE_FIELDS, _RELATED_LIMIT)
        ):
            notes.setdefault(required(record, "element_id"), []).append(work_note_from(record))
        return notes

    def _cis(self, records: list[dict[str, Any]]) -> list[ConfigurationItem]:
        depends_on = self._dependencies([required(record, "sys_id") for record in records])
        return [ci_from(record, depends_on.get(required(record, "sys_id"), [])) for record in records]

    def _dependencies(self, sys_ids: list[str]) -> dict[str, list[str]]:
        """Names of the CIs each CI depends on (``cmdb_rel_ci`` of type "Depends on::Used by")."""
        if not sys_ids:
            return {}
        conditions = [f"parentIN{','.join(sys_ids)}", f"type.name={DEPENDS_ON}", "ORDERBYsys_created_on"]
        children: dict[str, list[str]] = {}
        for record in self._api.query(
            "cmdb_rel_ci", query_params(conditions, DEPENDENCY_FIELDS, _RELATED_LIMIT)
        ):
            children.setdefault(required(record, "parent"), []).append(field_text(record, "child.name"))
        return children

    def _related(self, table: str, conditions: list[str], fields: str) -> list[dict[str, Any]]:
        return self._api.query(table, query_params(conditions, fields, _RELATED_LIMIT))

    def _user(self, user_id: str) -> str:
        return required(self._one("sys_user", "user_name", user_id, "sys_id"), "sys_id")

    def _group(self, name: str) -> str:
        return required(self._one("sys_user_group", "name", name, "sys_id"), "sys_id")

    def _ci(self, table: str, name: str) -> str:
        return required(self._one(table, "name", name, "sys_id"), "sys_id")


def _moved(number: str, current: IncidentState, target: IncidentState) -> dict[str, str]:
    """Field values for a state change made through ``update_incident``."""
    require_transition("incident", number, current, target, INCIDENT_TRANSITIONS)
    if target is IncidentState.RESOLVED:
        # Resolving needs a resolution code and notes, and policy governs it as its own tool.
        raise Conflict(f"use resolve_incident to resolve {number}: it records the resolution code and notes")
    reopened = current is IncidentState.RESOLVED and target is IncidentState.IN_PROGRESS
    return {"state": INCIDENT_STATE_CODES[target]} | (_CLEARED_ON_REOPEN if reopened else {})
