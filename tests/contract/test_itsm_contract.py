"""Contract every ITSMBackend honours: incidents, work notes, resolution, changes and the CMDB.

Tests use only the seeded CMDB (``SEED_CIS``), seeded user ids and records they create.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tools.errors import Conflict, InvalidTransition, NotFound
from tools.models import (
    ChangeState,
    Incident,
    IncidentState,
    IncidentUpdate,
    NewChange,
    NewIncident,
)
from tools.protocols import ITSMBackend


def _token() -> str:
    """A word no other incident contains, so a text search finds only this test's records."""
    return f"zq{uuid.uuid4().hex[:10]}"


def _new_incident(token: str, **overrides: object) -> NewIncident:
    fields: dict[str, object] = {
        "short_description": f"Checkout returns 502 for card payments {token}",
        "description": "Customers see 502 on 'Pay now' since 09:40; payments-api logs pool timeouts.",
        "priority": 2,
        "service": "payments-api",
        "ci": "payments-api",
        "assignment_group": "Payments Platform",
        "caller": "carol.desk",
    }
    return NewIncident.model_validate(fields | overrides)


def _new_change(**overrides: object) -> NewChange:
    start = datetime(2026, 12, 1, 21, 0, tzinfo=UTC)
    fields: dict[str, object] = {
        "short_description": "Restart payments-api to clear connection pool",
        "description": "Rolling restart, one node at a time.",
        "ci": "payments-api",
        "risk": "moderate",
        "requested_by": "erin.change",
        "planned_start": start,
        "planned_end": start + timedelta(hours=1),
    }
    return NewChange.model_validate(fields | overrides)


def _resolve(itsm: ITSMBackend, number: str) -> Incident:
    return itsm.resolve_incident(
        number,
        resolution_code="Solution provided",
        resolution_notes="Restarted pay-app-01; 502s stopped at 09:52. Root cause: pool exhaustion.",
        resolved_by="dave.incident",
    )


# --- incidents ------------------------------------------------------------------------------------


def test_created_incident_is_new_and_readable(itsm: ITSMBackend) -> None:
    new = _new_incident(_token())
    created = itsm.create_incident(new)
    assert re.fullmatch(r"INC\d{7}", created.number)
    assert created.state is IncidentState.NEW
    assert (created.short_description, created.priority, created.caller) == (
        new.short_description,
        2,
        "carol.desk",
    )
    assert (created.service, created.ci, created.assignment_group) == (
        "payments-api",
        "payments-api",
        "Payments Platform",
    )
    assert created.resolved_at is None and created.work_notes == ()
    assert itsm.get_incident(created.number) == created


def test_search_matches_text_case_insensitively_and_filters(itsm: ITSMBackend) -> None:
    token = _token()
    p2 = itsm.create_incident(_new_incident(token))
    p4 = itsm.create_incident(_new_incident(token, priority=4))
    found = itsm.search_incidents(text=token.upper())
    assert {incident.number for incident in found} == {p2.number, p4.number}
    assert [i.number for i in itsm.search_incidents(text=token, priority=4)] == [p4.number]
    assert [i.number for i in itsm.search_incidents(text=token, service="payments-api", priority=2)] == [
        p2.number
    ]
    itsm.update_incident(p4.number, IncidentUpdate(state=IncidentState.IN_PROGRESS))
    assert [i.number for i in itsm.search_incidents(text=token, state=IncidentState.IN_PROGRESS)] == [
        p4.number
    ]


def test_search_is_newest_first_and_respects_limit(itsm: ITSMBackend) -> None:
    token = _token()
    created = [itsm.create_incident(_new_incident(token)) for _ in range(3)]
    everything = itsm.search_incidents(text=token)
    assert {i.number for i in everything} == {i.number for i in created}
    opened = [incident.opened_at for incident in everything]
    assert opened == sorted(opened, reverse=True)
    assert len(itsm.search_incidents(text=token, limit=2)) == 2


def test_create_with_a_used_idempotency_key_returns_the_first_incident(itsm: ITSMBackend) -> None:
    token = _token()
    first = itsm.create_incident(_new_incident(token), idempotency_key=f"key-{token}")
    retried = itsm.create_incident(_new_incident(token, priority=1), idempotency_key=f"key-{token}")
    assert retried == first
    assert [i.number for i in itsm.search_incidents(text=token)] == [first.number]


def test_update_changes_priority_and_assignment(itsm: ITSMBackend) -> None:
    number = itsm.create_incident(_new_incident(_token())).number
    update = IncidentUpdate(priority=1, assigned_to="dave.incident", assignment_group="Payments Platform")
    updated = itsm.update_incident(number, update)
    assert (updated.priority, updated.assigned_to, updated.assignment_group) == (
        1,
        "dave.incident",
        "Payments Platform",
    )
    assert updated.state is IncidentState.NEW
    assert itsm.get_incident(number) == updated


def test_update_state_follows_the_incident_state_machine(itsm: ITSMBackend) -> None:
    number = itsm.create_incident(_new_incident(_token())).number
    assert (
        itsm.update_incident(number, IncidentUpdate(state=IncidentState.IN_PROGRESS)).state == "in_progress"
    )
    assert itsm.update_incident(number, IncidentUpdate(state=IncidentState.ON_HOLD)).state == "on_hold"
    with pytest.raises(InvalidTransition) as refused:
        itsm.update_incident(number, IncidentUpdate(state=IncidentState.NEW))
    assert (refused.value.current, refused.value.target) == ("on_hold", "new")
    assert set(refused.value.allowed) == {"in_progress", "resolved"}
    assert itsm.get_incident(number).state is IncidentState.ON_HOLD


def test_work_note_appears_on_the_incident(itsm: ITSMBackend) -> None:
    number = itsm.create_incident(_new_incident(_token())).number
    text = "Pool at 10/10 on pay-app-01; restarting the node."
    noted = itsm.add_work_note(number, author="dave.incident", text=text)
    assert [(note.author, note.text) for note in noted.work_notes] == [("dave.incident", text)]
    assert itsm.get_incident(number).work_notes == noted.work_notes


def test_resolve_records_the_resolution(itsm: ITSMBackend) -> None:
    number = itsm.create_incident(_new_incident(_token())).number
    resolved = _resolve(itsm, number)
    assert resolved.state is IncidentState.RESOLVED
    assert resolved.resolution_code == "Solution provided"
    assert resolved.resolution_notes is not None and "pool exhaustion" in resolved.resolution_notes
    assert resolved.resolved_at is not None and resolved.resolved_at >= resolved.opened_at
    assert itsm.get_incident(number) == resolved


def test_resolved_incident_can_be_reopened_or_closed(itsm: ITSMBackend) -> None:
    number = itsm.create_incident(_new_incident(_token())).number
    _resolve(itsm, number)
    assert (
        itsm.update_incident(number, IncidentUpdate(state=IncidentState.IN_PROGRESS)).state == "in_progress"
    )
    _resolve(itsm, number)
    assert itsm.update_incident(number, IncidentUpdate(state=IncidentState.CLOSED)).state == "closed"


def test_update_cannot_resolve_without_a_resolution(itsm: ITSMBackend) -> None:
    # Resolving is its own governed tool with a resolution code and notes; update must not bypass it.
    number = itsm.create_incident(_new_incident(_token())).number
    with pytest.raises(Conflict):
        itsm.update_incident(number, IncidentUpdate(state=IncidentState.RESOLVED))
    assert itsm.get_incident(number).state is IncidentState.NEW


def test_closed_is_final(itsm: ITSMBackend) -> None:
    number = itsm.create_incident(_new_incident(_token())).number
    _resolve(itsm, number)
    closed = itsm.update_incident(number, IncidentUpdate(state=IncidentState.CLOSED))
    with pytest.raises(InvalidTransition) as refused:
        itsm.update_incident(number, IncidentUpdate(state=IncidentState.IN_PROGRESS))
    assert refused.value.allowed == []
    with pytest.raises(InvalidTransition):
        _resolve(itsm, number)
    with pytest.raises(Conflict):
        itsm.update_incident(number, IncidentUpdate(priority=1))
    assert itsm.get_incident(number) == closed


def test_resolving_twice_is_an_invalid_transition(itsm: ITSMBackend) -> None:
    number = itsm.create_incident(_new_incident(_token())).number
    _resolve(itsm, number)
    with pytest.raises(InvalidTransition) as refused:
        _resolve(itsm, number)
    assert set(refused.value.allowed) == {"closed", "in_progress"}


def test_unknown_incident_numbers_raise_not_found(itsm: ITSMBackend) -> None:
    missing = "INC9999999"
    with pytest.raises(NotFound):
        itsm.get_incident(missing)
    with pytest.raises(NotFound):
        itsm.update_incident(missing, IncidentUpdate(priority=1))
    with pytest.raises(NotFound):
        itsm.add_work_note(missing, author="carol.desk", text="anyone there?")
    with pytest.raises(NotFound):
        _resolve(itsm, missing)


def test_incident_on_an_unknown_ci_raises_not_found(itsm: ITSMBackend) -> None:
    token = _token()
    with pytest.raises(NotFound):
        itsm.create_incident(_new_incident(token, ci="no-such-ci-01"))
    assert itsm.search_incidents(text=token) == []


# --- change requests ------------------------------------------------------------------------------


def test_change_is_created_as_draft_and_moves_through_its_states(itsm: ITSMBackend) -> None:
    created = itsm.create_change(_new_change())
    assert re.fullmatch(r"CHG\d{7}", created.number)
    assert (created.state, created.ci, created.risk, created.requested_by) == (
        ChangeState.DRAFT,
        "payments-api",
        "moderate",
        "erin.change",
    )
    assert created.planned_start == datetime(2026, 12, 1, 21, 0, tzinfo=UTC)
    assert itsm.get_change(created.number) == created
    for state in (ChangeState.ASSESS, ChangeState.SCHEDULED, ChangeState.IMPLEMENTED):
        assert itsm.transition_change(created.number, state).state is state
    assert itsm.get_change(created.number).state is ChangeState.IMPLEMENTED


def test_invalid_change_transition_names_the_allowed_states(itsm: ITSMBackend) -> None:
    number = itsm.create_change(_new_change()).number
    with pytest.raises(InvalidTransition) as refused:
        itsm.transition_change(number, ChangeState.IMPLEMENTED)
    assert set(refused.value.allowed) == {"assess", "cancelled"}
    itsm.transition_change(number, ChangeState.CANCELLED)
    with pytest.raises(InvalidTransition) as final:
        itsm.transition_change(number, ChangeState.ASSESS)
    assert final.value.allowed == []
    assert itsm.get_change(number).state is ChangeState.CANCELLED


def test_change_that_ends_before_it_starts_is_refused(itsm: ITSMBackend) -> None:
    start = datetime(2026, 12, 1, 21, 0, tzinfo=UTC)
    with pytest.raises(Conflict):
        itsm.create_change(_new_change(planned_start=start, planned_end=start - timedelta(hours=1)))


def test_change_create_with_a_used_idempotency_key_returns_the_first(itsm: ITSMBackend) -> None:
    key = f"chg-{_token()}"
    first = itsm.create_change(_new_change(), idempotency_key=key)
    assert itsm.create_change(_new_change(risk="high"), idempotency_key=key) == first


def test_unknown_changes_and_cis_raise_not_found(itsm: ITSMBackend) -> None:
    with pytest.raises(NotFound):
        itsm.get_change("CHG9999999")
    with pytest.raises(NotFound):
        itsm.transition_change("CHG9999999", ChangeState.ASSESS)
    with pytest.raises(NotFound):
        itsm.create_change(_new_change(ci="no-such-ci-01"))


# --- CMDB -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "ci_class", "environment"),
    [
        ("payments-api", "service", "prod"),
        ("payments-api-staging", "service", "staging"),
        ("pay-app-01", "host", "prod"),
        ("payments-db", "database", "prod"),
    ],
)
def test_configuration_item_lookup(itsm: ITSMBackend, name: str, ci_class: str, environment: str) -> None:
    ci = itsm.get_configuration_item(name)
    assert (ci.name, ci.ci_class, ci.environment) == (name, ci_class, environment)
    assert ci.owner and ci.support_group


def test_unknown_configuration_item_raises_not_found(itsm: ITSMBackend) -> None:
    with pytest.raises(NotFound):
        itsm.get_configuration_item("no-such-ci-01")


def test_configuration_item_search_filters_by_environment(itsm: ITSMBackend) -> None:
    staging = itsm.search_configuration_items(text="PAYMENTS", environment="staging")
    assert "payments-api-staging" in {ci.name for ci in staging}
    assert {ci.environment for ci in staging} == {"staging"}
    assert len(itsm.search_configuration_items(limit=3)) == 3
