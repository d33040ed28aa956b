"""ServiceNow Table API records ↔ opslayer records: fields, state and choice codes, dates.

ServiceNow sends every value as a string ("priority": "2", "state": "6") and dates as UTC
``YYYY-MM-DD HH:MM:SS`` when ``sysparm_display_value=false``. With ``sysparm_display_value=all``
(or reference links) a field is an object; its ``value`` is read. References are read by dot-walking
(``caller_id.user_name``), so user ids, group names and CI names come back without extra requests.

Code mappings (state codes are ServiceNow's out-of-box choices):

- incident ``state``: 1 new, 2 in_progress, 3 on_hold, 6 resolved, 7 closed; 8 (Canceled) and
  custom states are refused as a malformed response (opslayer does not model them).
- incident ``priority`` 1–4 as is, 5 (Planning) reads as 4. It is written as impact/urgency too,
  because ServiceNow computes priority from them: 1=(1,1), 2=(1,2), 3=(2,2), 4=(2,3).
- change ``state`` (Geneva+ state model), read: -5 draft; -4 Assess and -3 Authorize assess;
  -2 scheduled; -1 Implement, 0 Review and 3 Closed implemented; 4 cancelled. Written: draft -5,
  assess -4, scheduled -2, implemented -1 (the only move ServiceNow allows from Scheduled),
  cancelled 4.
- change ``risk``: high 2, moderate 3, low 4; read 1 (Very High) as high, 5 (None) as low.
- CI ``sys_class_name`` → ci_class by class family (services, databases, servers, network gear;
  anything else is an application). ``environment`` (the field ServiceNow recommends over the
  legacy ``used_for``): Staging, Test, QA, Development, ... are staging; anything else, empty
  included, is prod, so policy treats an unclassified CI with production strictness.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from pydantic import ValidationError

from tools.errors import BackendUnavailable
from tools.models import ChangeRequest, ChangeState, ConfigurationItem, Incident, IncidentState, WorkNote
from tools.servicenow.http import malformed

Risk = Literal["low", "moderate", "high"]
_R = TypeVar("_R", Incident, ChangeRequest, ConfigurationItem, WorkNote)

INCIDENT_FIELDS = (
    "sys_id,number,short_description,description,priority,state,business_service.name,cmdb_ci.name,"
    "assignment_group.name,assigned_to.user_name,caller_id.user_name,opened_at,resolved_at,"
    "close_code,close_notes"
)
CHANGE_FIELDS = (
    "sys_id,number,short_description,description,cmdb_ci.name,risk,state,requested_by.user_name,"
    "start_date,end_date"
)
CI_FIELDS = "sys_id,name,sys_class_name,environment,owned_by.user_name,support_group.name,short_description"
NOTE_FIELDS = "element_id,value,sys_created_on,sys_created_by"
DEPENDENCY_FIELDS = "parent,child.name"
DEPENDS_ON = "Depends on::Used by"

INCIDENT_STATE_CODES: dict[IncidentState, str] = {
    IncidentState.NEW: "1",
    IncidentState.IN_PROGRESS: "2",
    IncidentState.ON_HOLD: "3",
    IncidentState.RESOLVED: "6",
    IncidentState.CLOSED: "7",
}
_INCIDENT_STATES = {code: state for state, code in INCIDENT_STATE_CODES.items()}
CHANGE_STATE_CODES: dict[ChangeState, str] = {
    ChangeState.DRAFT: "-5",
    ChangeState.ASSESS: "-4",
    ChangeState.SCHEDULED: "-2",
    ChangeState.IMPLEMENTED: "-1",
    ChangeState.CANCELLED: "4",
}
_CHANGE_STATES = {code: state for state, code in CHANGE_STATE_CODES.items()} | {
    "-3": ChangeState.ASSESS,
    "0": ChangeState.IMPLEMENTED,
    "3": ChangeState.IMPLEMENTED,
}
RISK_CODES: dict[str, str] = {"high": "2", "moderate": "3", "low": "4"}
_RISKS: dict[str, Risk] = {"1": "high", "2": "high", "3": "moderate", "4": "low", "5": "low"}
_IMPACT_URGENCY = {1: ("1", "1"), 2: ("1", "2"), 3: ("2", "2"), 4: ("2", "3")}
# Choice values of cmdb_ci.environment that mean "not production" (compared case-insensitively).
NON_PROD_ENVIRONMENTS = ("Staging", "Stage", "Test", "QA", "UAT", "Development", "Dev", "Training", "Lab")
_NON_PROD = frozenset(name.lower() for name in NON_PROD_ENVIRONMENTS)
_CLASS_FAMILIES = (
    (("cmdb_ci_service", "service_offering"), "service"),
    (("cmdb_ci_db", "cmdb_ci_database"), "database"),
    (("cmdb_ci_appl", "cmdb_ci_app_server"), "application"),
    (("cmdb_ci_netgear", "cmdb_ci_ip_", "cmdb_ci_lb"), "network"),
    (("cmdb_ci_server", "cmdb_ci_computer", "cmdb_ci_vm"), "host"),
)
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# Work notes are written by the integration user; the acting person is named on the note's first line.
_ON_BEHALF = re.compile(r"\A\[on behalf of ([^\]\n]+)\]\n")


# --- fields ---------------------------------------------------------------------------------------


def field_text(record: Mapping[str, Any], name: str) -> str:
    """A field's value as ServiceNow's string, "" when absent or empty."""
    raw = record.get(name)
    if isinstance(raw, dict):
        raw = raw.get("value")
    if raw is None:
        return ""
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise malformed(f"field {name!r} holds {type(raw).__name__}")
    return str(raw)


def required(record: Mapping[str, Any], name: str) -> str:
    value = field_text(record, name)
    if not value:
        raise malformed(f"field {name!r} is missing")
    return value


def optional(record: Mapping[str, Any], name: str) -> str | None:
    return field_text(record, name) or None


def parse_time(value: str) -> datetime:
    try:
        return datetime.strptime(value, _TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise malformed(f"{value!r} is not a ServiceNow date-time") from None


def optional_time(record: Mapping[str, Any], name: str) -> datetime | None:
    value = field_text(record, name)
    return parse_time(value) if value else None


def format_time(moment: datetime) -> str:
    """UTC in ServiceNow's internal format; a naive datetime is taken to be UTC already."""
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return utc.strftime(_TIME_FORMAT)


def priority_fields(priority: int) -> dict[str, str]:
    impact, urgency = _IMPACT_URGENCY[priority]
    return {"impact": impact, "urgency": urgency, "priority": str(priority)}


def on_behalf(author: str, note: str) -> str:
    return f"[on behalf of {author}]\n{note}"


# --- records --------------------------------------------------------------------------------------


def incident_from(record: Mapping[str, Any], notes: Sequence[WorkNote]) -> Incident:
    fields = {
        "number": required(record, "number"),
        "short_description": field_text(record, "short_description"),
        "description": field_text(record, "description"),
        "priority": _priority(required(record, "priority")),
        "state": incident_state(record),
        "service": optional(record, "business_service.name"),
        "ci": optional(record, "cmdb_ci.name"),
        "assignment_group": optional(record, "assignment_group.name"),
        "assigned_to": optional(record, "assigned_to.user_name"),
        "caller": field_text(record, "caller_id.user_name"),
        "opened_at": parse_time(required(record, "opened_at")),
        "resolved_at": optional_time(record, "resolved_at"),
        "resolution_code": optional(record, "close_code"),
        "resolution_notes": optional(record, "close_notes"),
        "work_notes": tuple(notes),
    }
    return _validated(Incident, fields)


def incident_state(record: Mapping[str, Any]) -> IncidentState:
    code = required(record, "state")
    if code not in _INCIDENT_STATES:
        number, label = field_text(record, "number"), " (Canceled)" if code == "8" else ""
        detail = f"incident {number} is in state {code}{label}, which opslayer does not model"
        raise BackendUnavailable("servicenow", detail, retryable=False)
    return _INCIDENT_STATES[code]


def change_from(record: Mapping[str, Any]) -> ChangeRequest:
    fields = {
        "number": required(record, "number"),
        "short_description": field_text(record, "short_description"),
        "description": field_text(record, "description"),
        "ci": field_text(record, "cmdb_ci.name"),
        "risk": _RISKS.get(field_text(record, "risk"), "high"),
        "state": change_state(record),
        "requested_by": field_text(record, "requested_by.user_name"),
        "planned_start": optional_time(record, "start_date"),
        "planned_end": optional_time(record, "end_date"),
    }
    return _validated(ChangeRequest, fields)


def change_state(record: Mapping[str, Any]) -> ChangeState:
    code = required(record, "state")
    if code not in _CHANGE_STATES:
        raise malformed(f"change request state {code!r} is not one ServiceNow ships")
    return _CHANGE_STATES[code]


def ci_from(record: Mapping[str, Any], depends_on: Sequence[str] = ()) -> ConfigurationItem:
    fields = {
        "name": required(record, "name"),
        "ci_class": _ci_class(field_text(record, "sys_class_name")),
        "environment": _environment(field_text(record, "environment")),
        "owner": field_text(record, "owned_by.user_name"),
        "support_group": field_text(record, "support_group.name"),
        "description": field_text(record, "short_description"),
        "depends_on": tuple(depends_on),
    }
    return _validated(ConfigurationItem, fields)


def work_note_from(record: Mapping[str, Any]) -> WorkNote:
    value = field_text(record, "value")
    attributed = _ON_BEHALF.match(value)
    author = attributed.group(1) if attributed else field_text(record, "sys_created_by")
    note = value[attributed.end() :] if attributed else value
    at = parse_time(required(record, "sys_created_on"))
    return _validated(WorkNote, {"author": author, "at": at, "text": note})


def _validated(model: type[_R], fields: dict[str, Any]) -> _R:
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise malformed(f"{model.__name__}: {exc.errors()[0]['msg']}") from None


def _priority(code: str) -> int:
    if code not in ("1", "2", "3", "4", "5"):
        raise malformed(f"priority {code!r}")
    return min(int(code), 4)


def _ci_class(sys_class_name: str) -> str:
    for prefixes, ci_class in _CLASS_FAMILIES:
        if sys_class_name.startswith(prefixes):
            return ci_class
    return "host" if sys_class_name.endswith("_server") else "application"


def _environment(value: str) -> str:
    return "staging" if value.strip().lower() in _NON_PROD else "prod"
