"""ITSM tools: incidents, change requests and the CMDB.

Resolving an incident has its own tool (``itsm_resolve_incident``) because policy looks at the
incident's priority before it lets anyone resolve it; ``itsm_update_incident`` therefore cannot
move an incident to ``resolved``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from tools.models import (
    ChangeRequest,
    ConfigurationItem,
    Incident,
    IncidentState,
    IncidentUpdate,
    NewChange,
    NewIncident,
)
from tools.spec import CallContext, SideEffect, Systems, ToolSpec

_ARGS = ConfigDict(extra="forbid", frozen=True)

IncidentNumber = Annotated[
    str,
    Field(pattern=r"^INC\d{7}$", description="Incident number: 'INC' and 7 digits, e.g. INC0012345."),
]
ChangeNumber = Annotated[
    str,
    Field(pattern=r"^CHG\d{7}$", description="Change request number: 'CHG' and 7 digits, e.g. CHG0001234."),
]
CiName = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$",
        description="Exact CMDB name in lower case, e.g. 'payments-api' (prod) or 'payments-api-staging'.",
    ),
]
Priority = Annotated[int, Field(ge=1, le=4, description="1 = critical, 2 = high, 3 = moderate, 4 = low.")]
UserId = Annotated[
    str,
    Field(pattern=r"^[a-z][a-z0-9._-]{1,63}$", description="User id, e.g. 'carol.desk'."),
]
GroupName = Annotated[
    str, Field(min_length=2, max_length=80, description="Assignment group name, e.g. 'Service Desk'.")
]
# ServiceNow's incident close codes, so every ITSM backend can store them as they are.
ResolutionCode = Literal[
    "Solution provided",
    "Workaround provided",
    "Resolved by change",
    "Resolved by problem",
    "Resolved by request",
    "Resolved by caller",
    "Known error",
    "Duplicate",
    "User error",
    "No resolution provided",
]


# --- reads ----------------------------------------------------------------------------------------


class SearchIncidentsArgs(BaseModel):
    model_config = _ARGS

    text: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Words to look for in the short description and description. Omit to list all.",
    )
    state: IncidentState | None = Field(default=None, description="Only incidents in this state.")
    priority: Priority | None = Field(default=None, description="Only incidents with this priority.")
    service: CiName | None = Field(default=None, description="Only incidents on this service (CMDB name).")
    limit: int = Field(default=10, ge=1, le=50, description="Maximum number of incidents to return.")


class GetIncidentArgs(BaseModel):
    model_config = _ARGS

    number: IncidentNumber


class GetChangeRequestArgs(BaseModel):
    model_config = _ARGS

    number: ChangeNumber


class GetConfigurationItemArgs(BaseModel):
    model_config = _ARGS

    name: CiName


def _search_incidents(args: SearchIncidentsArgs, ctx: CallContext) -> list[Incident]:
    return ctx.systems.itsm.search_incidents(
        text=args.text, state=args.state, priority=args.priority, service=args.service, limit=args.limit
    )


def _get_incident(args: GetIncidentArgs, ctx: CallContext) -> Incident:
    return ctx.systems.itsm.get_incident(args.number)


def _get_change_request(args: GetChangeRequestArgs, ctx: CallContext) -> ChangeRequest:
    return ctx.systems.itsm.get_change(args.number)


def _get_configuration_item(args: GetConfigurationItemArgs, ctx: CallContext) -> ConfigurationItem:
    return ctx.systems.itsm.get_configuration_item(args.name)


# --- writes ---------------------------------------------------------------------------------------


class CreateIncidentArgs(BaseModel):
    model_config = _ARGS

    short_description: str = Field(
        min_length=3, max_length=160, description="One-line summary of the symptom, as a user would see it."
    )
    description: str = Field(
        min_length=3,
        max_length=4000,
        description="What happens, since when, who is affected, what was tried.",
    )
    priority: Priority
    service: CiName | None = Field(default=None, description="Affected service (CMDB name), if known.")
    ci: CiName | None = Field(default=None, description="Affected configuration item (CMDB name), if known.")
    assignment_group: GroupName | None = Field(
        default=None, description="Group to assign to; omit to let the service desk triage."
    )


class UpdateIncidentArgs(BaseModel):
    model_config = _ARGS

    number: IncidentNumber
    priority: Priority | None = Field(default=None, description="New priority; omit to keep it.")
    state: Literal["in_progress", "on_hold", "closed"] | None = Field(
        default=None,
        description="New state; omit to keep it. To resolve an incident use itsm_resolve_incident instead.",
    )
    assigned_to: UserId | None = Field(default=None, description="User id of the new assignee.")
    assignment_group: GroupName | None = Field(default=None, description="New assignment group.")

    @model_validator(mode="after")
    def _changes_something(self) -> UpdateIncidentArgs:
        if self.as_update() == IncidentUpdate():
            raise ValueError("give at least one of priority, state, assigned_to, assignment_group")
        return self

    def as_update(self) -> IncidentUpdate:
        state = IncidentState(self.state) if self.state else None
        return IncidentUpdate(
            priority=self.priority,
            state=state,
            assigned_to=self.assigned_to,
            assignment_group=self.assignment_group,
        )


class AddWorkNoteArgs(BaseModel):
    model_config = _ARGS

    number: IncidentNumber
    text: str = Field(
        min_length=3, max_length=4000, description="The note: findings, actions taken, next steps."
    )


class ResolveIncidentArgs(BaseModel):
    model_config = _ARGS

    number: IncidentNumber
    resolution_code: ResolutionCode = Field(
        description=(
            "How it was resolved: 'Solution provided' when the cause was fixed, 'Workaround provided' "
            "when service is restored but the cause remains, 'Resolved by change' when a change fixed "
            "it, 'Duplicate' when another incident covers it, 'User error' when nothing was broken."
        )
    )
    resolution_notes: str = Field(
        min_length=10,
        max_length=4000,
        description="What was done to restore service and how it was verified.",
    )


class CreateChangeRequestArgs(BaseModel):
    model_config = _ARGS

    ci: CiName = Field(description="Configuration item to change (exact CMDB name).")
    short_description: str = Field(
        min_length=3, max_length=160, description="One-line summary of the change."
    )
    description: str = Field(
        min_length=3,
        max_length=4000,
        description="What will be done, why, how it is verified and rolled back.",
    )
    risk: Literal["low", "moderate", "high"] = Field(description="Risk of the change to the service.")
    planned_start: AwareDatetime | None = Field(
        default=None, description="Planned start, ISO 8601 with offset, e.g. 2026-11-20T22:00:00+01:00."
    )
    planned_end: AwareDatetime | None = Field(
        default=None, description="Planned end, ISO 8601 with offset; must be after planned_start."
    )

    @model_validator(mode="after")
    def _end_after_start(self) -> CreateChangeRequestArgs:
        if self.planned_start and self.planned_end and self.planned_end <= self.planned_start:
            raise ValueError("planned_end must be after planned_start")
        return self


def _create_incident(args: CreateIncidentArgs, ctx: CallContext) -> Incident:
    new = NewIncident(
        short_description=args.short_description,
        description=args.description,
        priority=args.priority,
        service=args.service,
        ci=args.ci,
        assignment_group=args.assignment_group,
        caller=ctx.actor_id,
    )
    return ctx.systems.itsm.create_incident(new, idempotency_key=ctx.idempotency_key)


def _update_incident(args: UpdateIncidentArgs, ctx: CallContext) -> Incident:
    return ctx.systems.itsm.update_incident(args.number, args.as_update())


def _add_work_note(args: AddWorkNoteArgs, ctx: CallContext) -> Incident:
    return ctx.systems.itsm.add_work_note(args.number, author=ctx.actor_id, text=args.text)


def _resolve_incident(args: ResolveIncidentArgs, ctx: CallContext) -> Incident:
    return ctx.systems.itsm.resolve_incident(
        args.number,
        resolution_code=args.resolution_code,
        resolution_notes=args.resolution_notes,
        resolved_by=ctx.actor_id,
    )


def _create_change_request(args: CreateChangeRequestArgs, ctx: CallContext) -> ChangeRequest:
    new = NewChange(
        ci=args.ci,
        short_description=args.short_description,
        description=args.description,
        risk=args.risk,
        planned_start=args.planned_start,
        planned_end=args.planned_end,
        requested_by=ctx.actor_id,
    )
    return ctx.systems.itsm.create_change(new, idempotency_key=ctx.idempotency_key)


# --- facts for policy -----------------------------------------------------------------------------


def _resolve_incident_facts(args: ResolveIncidentArgs, systems: Systems) -> Mapping[str, Any]:
    return {"priority": systems.itsm.get_incident(args.number).priority}


def _create_change_request_facts(args: CreateChangeRequestArgs, systems: Systems) -> Mapping[str, Any]:
    ci = systems.itsm.get_configuration_item(args.ci)
    return {"environment": ci.environment, "ci_class": ci.ci_class}


ITSM_TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        name="itsm_search_incidents",
        description=(
            "Search ITSM incidents by text, state, priority and service. Returns incidents, newest "
            "first. Use it to find similar or related incidents, or an incident whose number you do "
            "not know."
        ),
        args_model=SearchIncidentsArgs,
        side_effect=SideEffect.READ,
        handler=_search_incidents,
    ),
    ToolSpec(
        name="itsm_get_incident",
        description="Get one incident by number, with its state, assignment, resolution and work notes.",
        args_model=GetIncidentArgs,
        side_effect=SideEffect.READ,
        handler=_get_incident,
    ),
    ToolSpec(
        name="itsm_get_change_request",
        description="Get one change request by number, with its CI, risk, state and planned window.",
        args_model=GetChangeRequestArgs,
        side_effect=SideEffect.READ,
        handler=_get_change_request,
    ),
    ToolSpec(
        name="itsm_get_configuration_item",
        description=(
            "Get a configuration item from the CMDB by exact name: class (service, host, database, "
            "network, application), environment (prod or staging), owner, support group and what it "
            "depends on."
        ),
        args_model=GetConfigurationItemArgs,
        side_effect=SideEffect.READ,
        handler=_get_configuration_item,
    ),
    ToolSpec(
        name="itsm_create_incident",
        description=(
            "Open a new incident on behalf of the user you are helping (they become the caller). "
            "Search first so you do not open a duplicate. Returns the created incident with its number."
        ),
        args_model=CreateIncidentArgs,
        side_effect=SideEffect.WRITE,
        handler=_create_incident,
    ),
    ToolSpec(
        name="itsm_update_incident",
        description=(
            "Change an incident's priority, state (in_progress, on_hold, closed), assignee or "
            "assignment group. Give only the fields to change. To resolve, use itsm_resolve_incident."
        ),
        args_model=UpdateIncidentArgs,
        side_effect=SideEffect.WRITE,
        handler=_update_incident,
    ),
    ToolSpec(
        name="itsm_add_work_note",
        description=(
            "Add a work note to an incident, written by the user you are helping. Use it to record "
            "findings and actions. Returns the incident with all its notes."
        ),
        args_model=AddWorkNoteArgs,
        side_effect=SideEffect.WRITE,
        handler=_add_work_note,
    ),
    ToolSpec(
        name="itsm_resolve_incident",
        description=(
            "Resolve an incident with a resolution code and notes saying how service was restored. "
            "Resolving high-priority incidents may need an incident manager's approval."
        ),
        args_model=ResolveIncidentArgs,
        side_effect=SideEffect.WRITE,
        handler=_resolve_incident,
        facts=_resolve_incident_facts,
    ),
    ToolSpec(
        name="itsm_create_change_request",
        description=(
            "Raise a change request for a configuration item (e.g. a restart, deploy or config "
            "change), requested by the user you are helping. Changes to prod CIs may need a change "
            "manager's approval. Returns the change request in state draft."
        ),
        args_model=CreateChangeRequestArgs,
        side_effect=SideEffect.WRITE,
        handler=_create_change_request,
        facts=_create_change_request_facts,
    ),
)
