"""The ServiceNow adapter at the HTTP edge: request shape, parsing, retries, error translation.

The contract suite (tests/contract) checks behaviour against the stateful fake; these tests pin
what is particular to HTTP: exactly what is sent, how ServiceNow's payloads are read, what is
retried and what never is, and which typed error each failure becomes.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime

import httpx
import pytest
import respx
from pydantic import SecretStr

from tests.fakes.servicenow import FakeServiceNow, fake_servicenow
from tools.errors import BackendUnavailable, Conflict, InvalidArguments, NotFound
from tools.local import SEED_CIS
from tools.models import ChangeState, IncidentState, IncidentUpdate, NewIncident
from tools.servicenow import BasicAuth, BearerToken, ServiceNowITSM
from tools.servicenow.mapping import INCIDENT_FIELDS, change_from, ci_from

BASE = "https://acme.service-now.com"
TABLE = "/api/now/table"
PASSWORD = "s3cret-Pa55"
AUTH = BasicAuth(user="opslayer.integration", password=SecretStr(PASSWORD))
SYS_ID = "9d385017c611228701d22104cc95c371"


def _incident_row(**overrides: object) -> dict[str, object]:
    """An incident as the Table API returns it with sysparm_display_value=false: all strings."""
    row: dict[str, object] = {
        "sys_id": SYS_ID,
        "number": "INC0010001",
        "short_description": "Checkout returns 502 for card payments",
        "description": "Customers see 502 on 'Pay now'.",
        "priority": "2",
        "state": "2",
        "business_service.name": "payments-api",
        "cmdb_ci.name": "pay-app-01",
        "assignment_group.name": "Payments Platform",
        "assigned_to.user_name": "dave.incident",
        "caller_id.user_name": "carol.desk",
        "opened_at": "2026-11-24 10:15:00",
        "resolved_at": "",
        "close_code": "",
        "close_notes": "",
    }
    return row | overrides


def _ok(result: object) -> httpx.Response:
    return httpx.Response(200, json={"result": result})


def _failure(status: int, message: str, detail: str = "", **headers: str) -> httpx.Response:
    body = {"error": {"message": message, "detail": detail}, "status": "failure"}
    return httpx.Response(status, json=body, headers=headers)


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as mocked:
        yield mocked


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def itsm(sleeps: list[float]) -> Iterator[ServiceNowITSM]:
    with ServiceNowITSM(BASE, auth=AUTH, max_read_retries=2, backoff_s=0.2, sleep=sleeps.append) as backend:
        yield backend


def _serve_fake(router: respx.MockRouter, fake: FakeServiceNow) -> respx.Route:
    """Everything not routed more specifically before this goes to the fake instance."""
    return router.route().mock(side_effect=fake.handle)


def _notes_route(router: respx.MockRouter, notes: Sequence[Mapping[str, object]] = ()) -> respx.Route:
    return router.get(f"{TABLE}/sys_journal_field").mock(return_value=_ok(list(notes)))


# --- what is sent ---------------------------------------------------------------------------------


def test_get_incident_sends_the_documented_table_api_query(
    router: respx.MockRouter, itsm: ServiceNowITSM
) -> None:
    incidents = router.get(f"{TABLE}/incident").mock(return_value=_ok([_incident_row()]))
    notes = _notes_route(router)
    itsm.get_incident("INC0010001")
    request = incidents.calls.last.request
    assert dict(request.url.params) == {
        "sysparm_query": "number=INC0010001",
        "sysparm_fields": INCIDENT_FIELDS,
        "sysparm_limit": "1",
        "sysparm_display_value": "false",
        "sysparm_exclude_reference_link": "true",
    }
    token = base64.b64encode(f"opslayer.integration:{PASSWORD}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {token}"
    assert request.headers["Accept"] == "application/json"
    assert notes.calls.last.request.url.params["sysparm_query"] == (
        f"element_idIN{SYS_ID}^name=incident^element=work_notes^ORDERBYsys_created_on"
    )


def test_bearer_token_is_sent_as_authorization(router: respx.MockRouter) -> None:
    route = router.get(f"{TABLE}/cmdb_ci").mock(return_value=_ok([]))
    with ServiceNowITSM(BASE, auth=BearerToken(token=SecretStr("tok-123"))) as itsm, pytest.raises(NotFound):
        itsm.get_configuration_item("payments-api")
    assert route.calls.last.request.headers["Authorization"] == "Bearer tok-123"


def test_search_builds_one_encoded_query(router: respx.MockRouter, itsm: ServiceNowITSM) -> None:
    route = router.get(f"{TABLE}/incident").mock(return_value=_ok([]))
    itsm.search_incidents(
        text="pool timeout", state=IncidentState.ON_HOLD, priority=4, service="payments-api", limit=5
    )
    params = route.calls.last.request.url.params
    fields = ("number", "short_description", "description", "close_notes")
    words = ["^OR".join(f"{field}LIKE{word}" for field in fields) for word in ("pool", "timeout")]
    assert params["sysparm_query"] == "^".join(
        [
            *words,
            "state!=8",
            "state=3",
            "priorityIN4,5",
            "business_service.name=payments-api",
            "ORDERBYDESCopened_at^ORDERBYDESCnumber",
        ]
    )
    assert params["sysparm_limit"] == "5"


def test_create_writes_references_as_sys_ids_and_priority_as_impact_and_urgency(
    router: respx.MockRouter, itsm: ServiceNowITSM
) -> None:
    fake = FakeServiceNow(SEED_CIS, base_url=BASE)
    post = router.post(f"{TABLE}/incident").mock(side_effect=fake.handle)
    _serve_fake(router, fake)
    new = NewIncident(
        short_description="VPN drops every 10 minutes", priority=2, ci="vpn-gw-01", caller="bob.requester"
    )
    created = itsm.create_incident(new, idempotency_key="key-1")
    body = post.calls.last.request.read()
    sent = httpx.Response(200, content=body).json()
    caller = fake.find("sys_user", user_name="bob.requester")
    ci = fake.find("cmdb_ci", name="vpn-gw-01")
    assert caller is not None and ci is not None
    assert sent["caller_id"] == caller["sys_id"] and sent["cmdb_ci"] == ci["sys_id"]
    assert (sent["impact"], sent["urgency"], sent["correlation_id"]) == ("1", "2", "key-1")
    assert (created.priority, created.caller, created.ci) == (2, "bob.requester", "vpn-gw-01")


def test_a_value_that_could_inject_query_conditions_is_refused_before_sending(
    router: respx.MockRouter, itsm: ServiceNowITSM
) -> None:
    with pytest.raises(InvalidArguments):
        itsm.get_incident("INC0010001^ORactive=true")
    assert router.calls.call_count == 0


# --- how payloads are read ------------------------------------------------------------------------


def test_display_value_all_payload_with_reference_links_is_read_by_value(
    router: respx.MockRouter, itsm: ServiceNowITSM
) -> None:
    def both(value: str, display: str | None = None) -> dict[str, str]:
        return {"value": value, "display_value": display if display is not None else value}

    row = {key: both(str(value)) for key, value in _incident_row().items()}
    row |= {"state": both("6", "Resolved"), "priority": both("5", "5 - Planning")}
    row |= {
        "resolved_at": both("2026-11-24 11:02:13", "24/11/2026 12:02:13"),
        "close_code": both("Duplicate"),
    }
    row["caller_id.user_name"] = {"value": "carol.desk", "display_value": "carol.desk", "link": f"{BASE}/x"}
    note = {
        "element_id": both(SYS_ID),
        "value": both("[on behalf of dave.incident]\nRestarted pay-app-01."),
        "sys_created_on": both("2026-11-24 10:40:00", "24/11/2026 11:40:00"),
        "sys_created_by": both("opslayer.integration"),
    }
    router.get(f"{TABLE}/incident").mock(return_value=_ok([row]))
    _notes_route(router, [note])
    incident = itsm.get_incident("INC0010001")
    assert (incident.state, incident.priority, incident.caller) == (IncidentState.RESOLVED, 4, "carol.desk")
    assert incident.opened_at == datetime(2026, 11, 24, 10, 15, tzinfo=UTC)
    assert incident.resolved_at == datetime(2026, 11, 24, 11, 2, 13, tzinfo=UTC)
    assert incident.resolution_code == "Duplicate" and incident.resolution_notes is None
    [work_note] = incident.work_notes
    assert (work_note.author, work_note.text) == ("dave.incident", "Restarted pay-app-01.")


def test_a_note_written_in_servicenow_itself_is_attributed_to_its_writer(
    router: respx.MockRouter, itsm: ServiceNowITSM
) -> None:
    note = {"element_id": SYS_ID, "value": "Called the acquirer.", "sys_created_on": "2026-11-24 10:50:00"}
    router.get(f"{TABLE}/incident").mock(return_value=_ok([_incident_row()]))
    _notes_route(router, [note | {"sys_created_by": "erin.change"}])
    [work_note] = itsm.get_incident("INC0010001").work_notes
    assert (work_note.author, work_note.text) == ("erin.change", "Called the acquirer.")


@pytest.mark.parametrize(
    ("code", "state"),
    [
        ("-5", ChangeState.DRAFT),
        ("-4", ChangeState.ASSESS),
        ("-3", ChangeState.ASSESS),
        ("-2", ChangeState.SCHEDULED),
        ("-1", ChangeState.IMPLEMENTED),
        ("0", ChangeState.IMPLEMENTED),
        ("3", ChangeState.IMPLEMENTED),
        ("4", ChangeState.CANCELLED),
    ],
)
def test_change_state_codes(code: str, state: ChangeState) -> None:
    row = {"number": "CHG0030001", "state": code, "risk": "1", "cmdb_ci.name": "payments-api"}
    change = change_from(row)
    assert (change.state, change.risk) == (state, "high")


@pytest.mark.parametrize(
    ("sys_class_name", "environment", "ci_class", "mapped"),
    [
        ("cmdb_ci_service_business", "Production", "service", "prod"),
        ("cmdb_ci_db_postgresql_instance", "staging", "database", "staging"),
        ("cmdb_ci_linux_server", "Development", "host", "staging"),
        ("cmdb_ci_ip_firewall", "", "network", "prod"),
        ("cmdb_ci_app_server_tomcat", "Disaster Recovery", "application", "prod"),
        ("u_cmdb_ci_custom_thing", "QA", "application", "staging"),
    ],
)
def test_ci_class_and_environment(sys_class_name: str, environment: str, ci_class: str, mapped: str) -> None:
    row = {"name": "x-01", "sys_class_name": sys_class_name, "environment": environment}
    ci = ci_from(row)
    assert (ci.ci_class, ci.environment) == (ci_class, mapped)


def test_canceled_incidents_are_left_out_of_searches_and_refused_on_get(
    router: respx.MockRouter, itsm: ServiceNowITSM
) -> None:
    fake = FakeServiceNow(SEED_CIS, base_url=BASE)
    fake.insert(
        "incident",
        {
            "short_description": "zqcanceled duplicate",
            "state": "8",
            "priority": "3",
            "opened_at": "2026-11-24 10:00:00",
        },
    )
    _serve_fake(router, fake)
    assert itsm.search_incidents(text="zqcanceled") == []
    with pytest.raises(BackendUnavailable, match="state 8 \\(Canceled\\)"):
        itsm.get_incident("INC0010001")


# --- malformed responses --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="<html>Instance hibernating</html>"),
        httpx.Response(200, json={"records": []}),
        _ok({"number": "INC0010001"}),
        _ok([{key: value for key, value in _incident_row().items() if key != "state"}]),
        _ok([_incident_row(opened_at="yesterday")]),
        _ok([_incident_row(priority={"unexpected": ["shape"]})]),
    ],
    ids=["html", "no-result", "object-not-list", "missing-state", "bad-date", "odd-field"],
)
def test_malformed_responses_are_backend_unavailable(
    router: respx.MockRouter, itsm: ServiceNowITSM, response: httpx.Response
) -> None:
    router.get(f"{TABLE}/incident").mock(return_value=response)
    _notes_route(router)
    with pytest.raises(BackendUnavailable, match="malformed response") as caught:
        itsm.get_incident("INC0010001")
    assert caught.value.retryable is False


# --- retries --------------------------------------------------------------------------------------


def _ci_routes(router: respx.MockRouter, *responses: httpx.Response | Exception) -> respx.Route:
    router.get(f"{TABLE}/cmdb_rel_ci").mock(return_value=_ok([]))
    return router.get(f"{TABLE}/cmdb_ci").mock(side_effect=list(responses))


_CI_ROW = {
    "sys_id": SYS_ID,
    "name": "payments-api",
    "sys_class_name": "cmdb_ci_service",
    "environment": "Production",
}


def test_read_is_retried_after_429_honouring_retry_after(
    router: respx.MockRouter, itsm: ServiceNowITSM, sleeps: list[float]
) -> None:
    route = _ci_routes(router, _failure(429, "Too Many Requests", **{"Retry-After": "2"}), _ok([_CI_ROW]))
    assert itsm.get_configuration_item("payments-api").name == "payments-api"
    assert (route.call_count, sleeps) == (2, [2.0])


def test_retry_after_is_capped(router: respx.MockRouter, itsm: ServiceNowITSM, sleeps: list[float]) -> None:
    _ci_routes(router, _failure(429, "Too Many Requests", **{"Retry-After": "3600"}), _ok([_CI_ROW]))
    itsm.get_configuration_item("payments-api")
    assert sleeps == [30.0]


def test_read_is_retried_with_exponential_backoff_on_503_and_timeouts(
    router: respx.MockRouter, itsm: ServiceNowITSM, sleeps: list[float]
) -> None:
    route = _ci_routes(
        router, _failure(503, "Service Unavailable"), httpx.ReadTimeout("slow"), _ok([_CI_ROW])
    )
    assert itsm.get_configuration_item("payments-api").environment == "prod"
    assert (route.call_count, sleeps) == (3, [0.2, 0.4])


@pytest.mark.parametrize(
    "failure",
    [_failure(503, "Service Unavailable"), httpx.ConnectTimeout("no route"), httpx.ConnectError("refused")],
    ids=["503", "connect-timeout", "connect-error"],
)
def test_read_gives_up_after_max_retries_as_retryable(
    router: respx.MockRouter, itsm: ServiceNowITSM, sleeps: list[float], failure: httpx.Response | Exception
) -> None:
    route = _ci_routes(router, *[failure] * 3)
    with pytest.raises(BackendUnavailable) as caught:
        itsm.get_configuration_item("payments-api")
    assert caught.value.retryable is True and caught.value.system == "servicenow"
    assert (route.call_count, sleeps) == (3, [0.2, 0.4])


@pytest.mark.parametrize(
    ("failure", "retryable"),
    [
        (_failure(503, "Service Unavailable"), False),
        (httpx.ReadTimeout("no answer"), False),
        (httpx.ConnectError("refused"), True),
    ],
    ids=["503", "read-timeout", "connect-error"],
)
def test_create_is_sent_once_and_never_retried(
    router: respx.MockRouter,
    itsm: ServiceNowITSM,
    sleeps: list[float],
    failure: httpx.Response | Exception,
    retryable: bool,
) -> None:
    fake = FakeServiceNow(SEED_CIS, base_url=BASE)
    post = router.post(f"{TABLE}/incident").mock(side_effect=[failure])
    _serve_fake(router, fake)
    new = NewIncident(short_description="Label printer offline in AMS-1", caller="frank.warehouse")
    with pytest.raises(BackendUnavailable) as caught:
        itsm.create_incident(new, idempotency_key="key-2")
    assert (post.call_count, sleeps, caught.value.retryable) == (1, [], retryable)
    if not retryable:
        assert "outcome unknown" in caught.value.detail and "correlation_id" in caught.value.detail


# --- error translation ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_not_retryable_and_never_show_the_password(
    router: respx.MockRouter, itsm: ServiceNowITSM, status: int
) -> None:
    route = router.get(f"{TABLE}/incident").mock(
        return_value=_failure(status, "User Not Authenticated", "Required to provide Auth information")
    )
    with pytest.raises(BackendUnavailable) as caught:
        itsm.get_incident("INC0010001")
    error = caught.value
    assert (error.retryable, error.status, route.call_count) == (False, status, 1)
    assert "credentials were refused" in str(error)
    for shown in (str(error), repr(error), error.detail, repr(AUTH), str(AUTH), repr(itsm)):
        assert PASSWORD not in shown


def test_unknown_numbers_and_vanished_records_are_not_found(
    router: respx.MockRouter, itsm: ServiceNowITSM
) -> None:
    router.get(f"{TABLE}/incident").mock(return_value=_ok([]))
    with pytest.raises(NotFound, match="INC0099999"):
        itsm.get_incident("INC0099999")
    router.get(f"{TABLE}/incident").mock(return_value=_ok([_incident_row()]))
    router.patch(f"{TABLE}/incident/{SYS_ID}").mock(
        return_value=_failure(
            404, "No Record found", "Record doesn't exist or ACL restricts the record retrieval"
        )
    )
    with pytest.raises(NotFound) as caught:
        itsm.update_incident("INC0010001", IncidentUpdate(state=IncidentState.ON_HOLD))
    assert (caught.value.kind, caught.value.key) == ("incident", "INC0010001")


def test_bad_request_is_a_conflict_carrying_servicenows_message(
    router: respx.MockRouter, itsm: ServiceNowITSM
) -> None:
    router.get(f"{TABLE}/incident").mock(return_value=_ok([_incident_row()]))
    router.patch(f"{TABLE}/incident/{SYS_ID}").mock(
        return_value=_failure(400, "Data Policy Exception", "The following fields are mandatory: Category")
    )
    with pytest.raises(Conflict, match="Data Policy Exception: The following fields are mandatory: Category"):
        itsm.update_incident("INC0010001", IncidentUpdate(state=IncidentState.ON_HOLD))


# --- idempotency and lifecycle --------------------------------------------------------------------


def test_idempotent_create_returns_the_existing_record_without_posting(
    router: respx.MockRouter, itsm: ServiceNowITSM
) -> None:
    fake = FakeServiceNow(SEED_CIS, base_url=BASE)
    caller = fake.find("sys_user", user_name="carol.desk")
    assert caller is not None
    fake.insert(
        "incident",
        {
            "short_description": "Checkout 502s",
            "caller_id": caller["sys_id"],
            "priority": "2",
            "state": "1",
            "opened_at": "2026-11-24 10:15:00",
            "correlation_id": "key-3",
        },
    )
    _serve_fake(router, fake)
    found = itsm.create_incident(
        NewIncident(short_description="Checkout 502s again", caller="carol.desk"), idempotency_key="key-3"
    )
    assert (found.number, found.short_description, found.caller) == (
        "INC0010001",
        "Checkout 502s",
        "carol.desk",
    )
    assert [call.request.method for call in router.calls] == ["GET", "GET"]  # correlation_id lookup, notes
    assert router.calls[0].request.url.params["sysparm_query"] == "correlation_id=key-3"


def test_close_closes_only_a_client_it_made() -> None:
    own = ServiceNowITSM(BASE, auth=AUTH)
    own.close()
    given = httpx.Client()
    with ServiceNowITSM(BASE, auth=AUTH, client=given):
        pass
    assert not given.is_closed
    given.close()


def test_fake_round_trip_through_the_public_helper() -> None:
    with fake_servicenow(SEED_CIS, base_url=BASE) as itsm:
        ci = itsm.get_configuration_item("payments-api")
    assert ci.depends_on == ("pay-app-01", "pay-app-02", "payments-db", "identity-sso")
