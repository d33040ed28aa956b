"""ITSMBackend on the local SQLite file: incidents with work notes, change requests, the CMDB."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, Update, func, insert, select, update

from tools.checks import require_text, require_transition
from tools.errors import Conflict, NotFound
from tools.local.engine import reading, writing
from tools.local.numbering import change_number, incident_number
from tools.local.queries import find_by_key, require_user, text_filter
from tools.local.schema import changes, ci_dependencies, configuration_items, incidents, work_notes
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

_SEARCHED = (
    incidents.c.number,
    incidents.c.short_description,
    incidents.c.description,
    incidents.c.service,
    incidents.c.ci,
    incidents.c.resolution_notes,
)
_CLEARED_ON_REOPEN = {
    "resolved_at": None,
    "resolved_by": None,
    "resolution_code": None,
    "resolution_notes": None,
}


def _utcnow() -> datetime:
    return datetime.now(UTC)


class LocalITSM:
    """Incidents, change requests and configuration items, with the ITSM state machines enforced."""

    def __init__(self, engine: Engine, *, now: Callable[[], datetime] | None = None) -> None:
        self._engine = engine
        self._now = now or _utcnow

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
        query = select(incidents.c.number).where(text_filter(text, _SEARCHED))
        if state is not None:
            query = query.where(incidents.c.state == IncidentState(state).value)
        if priority is not None:
            query = query.where(incidents.c.priority == priority)
        if service is not None:
            query = query.where(func.lower(incidents.c.service) == service.lower())
        query = query.order_by(incidents.c.opened_at.desc(), incidents.c.number.desc()).limit(max(limit, 0))
        with reading(self._engine) as conn:
            return [_incident(conn, number) for number in conn.execute(query).scalars()]

    def get_incident(self, number: str) -> Incident:
        with reading(self._engine) as conn:
            return _incident(conn, number)

    def create_incident(self, new: NewIncident, *, idempotency_key: str | None = None) -> Incident:
        with writing(self._engine) as conn:
            if earlier := find_by_key(conn, incidents, idempotency_key):
                return _incident(conn, earlier.number)
            require_user(conn, new.caller)
            for name in (new.ci, new.service):
                if name is not None:
                    _ci_row(conn, name)
            number = incident_number(conn)
            conn.execute(
                insert(incidents).values(
                    number=number,
                    **new.model_dump(),
                    state=IncidentState.NEW.value,
                    opened_at=self._now(),
                    idempotency_key=idempotency_key,
                )
            )
            return _incident(conn, number)

    def update_incident(self, number: str, update: IncidentUpdate) -> Incident:
        """Change priority, assignment or state; resolving needs ``resolve_incident``, closed is final."""
        with writing(self._engine) as conn:
            current = IncidentState(_incident_row(conn, number).state)
            values: dict[str, Any] = {}
            if update.state is not None and update.state != current:
                values |= _moved(number, current, IncidentState(update.state))
            if update.assigned_to is not None:
                require_user(conn, update.assigned_to)
            values |= update.model_dump(exclude={"state"}, exclude_none=True)
            if values and current is IncidentState.CLOSED:
                raise Conflict(f"incident {number} is closed; closed incidents cannot be changed")
            if values:
                conn.execute(_set_incident(number, values))
            return _incident(conn, number)

    def add_work_note(self, number: str, *, author: str, text: str) -> Incident:
        require_text("add_work_note", text=text)
        with writing(self._engine) as conn:
            if _incident_row(conn, number).state == IncidentState.CLOSED.value:
                raise Conflict(f"incident {number} is closed; open a new incident to record more work")
            require_user(conn, author)
            conn.execute(insert(work_notes).values(incident=number, author=author, at=self._now(), text=text))
            return _incident(conn, number)

    def resolve_incident(
        self, number: str, *, resolution_code: str, resolution_notes: str, resolved_by: str
    ) -> Incident:
        require_text("resolve_incident", resolution_code=resolution_code, resolution_notes=resolution_notes)
        with writing(self._engine) as conn:
            current = IncidentState(_incident_row(conn, number).state)
            require_transition("incident", number, current, IncidentState.RESOLVED, INCIDENT_TRANSITIONS)
            require_user(conn, resolved_by)
            resolution = {
                "state": IncidentState.RESOLVED.value,
                "resolved_at": self._now(),
                "resolved_by": resolved_by,
                "resolution_code": resolution_code,
                "resolution_notes": resolution_notes,
            }
            conn.execute(_set_incident(number, resolution))
            return _incident(conn, number)

    # --- change requests --------------------------------------------------------------------------

    def create_change(self, new: NewChange, *, idempotency_key: str | None = None) -> ChangeRequest:
        start, end = new.planned_start, new.planned_end
        if start is not None and end is not None and end <= start:
            raise Conflict(f"planned_end {end.isoformat()} is not after planned_start {start.isoformat()}")
        with writing(self._engine) as conn:
            if earlier := find_by_key(conn, changes, idempotency_key):
                return _change(earlier)
            _ci_row(conn, new.ci)
            require_user(conn, new.requested_by)
            number = change_number(conn)
            conn.execute(
                insert(changes).values(
                    number=number,
                    **new.model_dump(),
                    state=ChangeState.DRAFT.value,
                    created_at=self._now(),
                    idempotency_key=idempotency_key,
                )
            )
            return _change(_change_row(conn, number))

    def get_change(self, number: str) -> ChangeRequest:
        with reading(self._engine) as conn:
            return _change(_change_row(conn, number))

    def transition_change(self, number: str, state: ChangeState) -> ChangeRequest:
        with writing(self._engine) as conn:
            current = ChangeState(_change_row(conn, number).state)
            require_transition("change request", number, current, ChangeState(state), CHANGE_TRANSITIONS)
            conn.execute(
                update(changes).where(changes.c.number == number).values(state=ChangeState(state).value)
            )
            return _change(_change_row(conn, number))

    # --- CMDB -------------------------------------------------------------------------------------

    def get_configuration_item(self, name: str) -> ConfigurationItem:
        with reading(self._engine) as conn:
            return _configuration_item(conn, _ci_row(conn, name))

    def search_configuration_items(
        self, *, text: str | None = None, environment: str | None = None, limit: int = 20
    ) -> list[ConfigurationItem]:
        cis = configuration_items.c
        query = select(configuration_items).where(
            text_filter(text, (cis.name, cis.ci_class, cis.support_group, cis.owner, cis.description))
        )
        if environment is not None:
            query = query.where(cis.environment == environment.lower())
        query = query.order_by(cis.name).limit(max(limit, 0))
        with reading(self._engine) as conn:
            return [_configuration_item(conn, row) for row in conn.execute(query)]


def _set_incident(number: str, values: dict[str, Any]) -> Update:
    return update(incidents).where(incidents.c.number == number).values(**values)


def _moved(number: str, current: IncidentState, target: IncidentState) -> dict[str, Any]:
    """Column values for a state change made through ``update_incident``."""
    require_transition("incident", number, current, target, INCIDENT_TRANSITIONS)
    if target is IncidentState.RESOLVED:
        # Resolving needs a resolution code and notes, and policy governs it as its own tool.
        raise Conflict(f"use resolve_incident to resolve {number}: it records the resolution code and notes")
    reopened = current is IncidentState.RESOLVED and target is IncidentState.IN_PROGRESS
    return {"state": target.value} | (_CLEARED_ON_REOPEN if reopened else {})


def _incident_row(conn: Connection, number: str) -> Row[Any]:
    row = conn.execute(select(incidents).where(incidents.c.number == number)).first()
    if row is None:
        raise NotFound("incident", number)
    return row


def _incident(conn: Connection, number: str) -> Incident:
    row = _incident_row(conn, number)
    notes = conn.execute(
        select(work_notes.c.author, work_notes.c.at, work_notes.c.text)
        .where(work_notes.c.incident == number)
        .order_by(work_notes.c.at, work_notes.c.id)
    )
    fields = row._asdict()
    del fields["resolved_by"], fields["idempotency_key"]
    return Incident(**fields, work_notes=tuple(WorkNote(**note._asdict()) for note in notes))


def _change_row(conn: Connection, number: str) -> Row[Any]:
    row = conn.execute(select(changes).where(changes.c.number == number)).first()
    if row is None:
        raise NotFound("change request", number)
    return row


def _change(row: Row[Any]) -> ChangeRequest:
    fields = row._asdict()
    del fields["created_at"], fields["idempotency_key"]
    return ChangeRequest(**fields)


def _ci_row(conn: Connection, name: str) -> Row[Any]:
    row = conn.execute(select(configuration_items).where(configuration_items.c.name == name)).first()
    if row is None:
        raise NotFound("configuration item", name)
    return row


def _configuration_item(conn: Connection, row: Row[Any]) -> ConfigurationItem:
    depends_on = conn.execute(
        select(ci_dependencies.c.depends_on)
        .where(ci_dependencies.c.ci == row.name)
        .order_by(ci_dependencies.c.position)
    ).scalars()
    return ConfigurationItem(**row._asdict(), depends_on=tuple(depends_on))
