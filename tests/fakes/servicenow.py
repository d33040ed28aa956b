"""A stateful, in-memory fake of ServiceNow's Table API, mounted with respx at the HTTP edge.

It answers ``GET/POST/PATCH /api/now/table/{table}[/{sys_id}]`` in ServiceNow's documented shape:
``{"result": [...]}`` / ``{"result": {...}}``, every value a string ("priority": "2", dates
"2026-11-24 10:15:00" in UTC), errors as ``{"error": {"message", "detail"}, "status": "failure"}``.
Supported: ``sysparm_query`` (``=``, ``!=``, ``LIKE``, ``IN``, ``NOT IN``, ``ISEMPTY``, ``^``,
``^OR``, ``ORDERBY``/``ORDERBYDESC``, dot-walked fields), ``sysparm_limit``, ``sysparm_fields``
(dot-walked), ``sysparm_display_value`` (false/true/all), ``sysparm_exclude_reference_link``.

Like a real instance it does NOT enforce opslayer's state machines; it only mimics the out-of-box
business rules the adapter relies on: priority from impact × urgency, ``resolved_at`` stamped when
an incident moves to Resolved, a ``sys_journal_field`` row for each ``work_notes`` write. Unlike a
real instance (which ignores bad conditions), an unparseable query is a 400, to catch adapter bugs.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from typing import Any

import httpx
import respx
from pydantic import SecretStr

from tools.local import SEED_USERS
from tools.models import ConfigurationItem
from tools.servicenow import BasicAuth, ServiceNowITSM

DEFAULT_BASE_URL = "https://example.service-now.com"
INTEGRATION_USER = "opslayer.integration"

Row = dict[str, str]

_NO_RECORD = "Record doesn't exist or ACL restricts the record retrieval"

_PATH = re.compile(r"/api/now/table/(?P<table>[a-z0-9_]+)(?:/(?P<sys_id>[^/]+))?")
_CONDITION = re.compile(r"(?P<field>[a-z_][a-z0-9_.]*)(?P<op>!=|=|LIKE|NOT IN|IN|ISEMPTY)(?P<value>.*)")
_REFERENCES = {
    "caller_id": "sys_user",
    "assigned_to": "sys_user",
    "resolved_by": "sys_user",
    "requested_by": "sys_user",
    "owned_by": "sys_user",
    "assignment_group": "sys_user_group",
    "support_group": "sys_user_group",
    "cmdb_ci": "cmdb_ci",
    "business_service": "cmdb_ci",
    "parent": "cmdb_ci",
    "child": "cmdb_ci",
    "type": "cmdb_rel_type",
}
_STORED = (
    *("incident", "change_request", "sys_journal_field"),
    *("cmdb_ci", "cmdb_rel_ci", "cmdb_rel_type", "sys_user", "sys_user_group"),
)
_VIEWS = {"cmdb_ci_service": ("cmdb_ci", "cmdb_ci_service")}  # a class table: its rows live in cmdb_ci
_DISPLAY_FIELD = {"incident": "number", "change_request": "number", "sys_user": "name"}
_NUMBERS = {"incident": ("INC", 10001), "change_request": ("CHG", 30001)}
_CHOICES = {
    ("incident", "state"): {"1": "New", "2": "In Progress", "3": "On Hold", "6": "Resolved", "7": "Closed"},
    ("incident", "priority"): {"1": "1 - Critical", "2": "2 - High", "3": "3 - Moderate", "4": "4 - Low"},
    ("change_request", "state"): {"-5": "New", "-4": "Assess", "-2": "Scheduled", "-1": "Implement"},
}
# Out-of-box priority lookup: (impact, urgency) → priority.
_PRIORITY = {("1", "1"): "1", ("1", "2"): "2", ("2", "1"): "2", ("1", "3"): "3", ("2", "2"): "3"}
_PRIORITY |= {("3", "1"): "3", ("2", "3"): "4", ("3", "2"): "4", ("3", "3"): "5"}
_CLASS_NAMES = {
    "service": "cmdb_ci_service",
    "host": "cmdb_ci_linux_server",
    "database": "cmdb_ci_database",
    "network": "cmdb_ci_ip_switch",
    "application": "cmdb_ci_appl",
}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _error(status: int, message: str, detail: str | None = None) -> httpx.Response:
    return httpx.Response(status, json={"error": {"message": message, "detail": detail}, "status": "failure"})


class _BadQuery(ValueError):
    pass


class FakeServiceNow:
    """The instance's tables; :meth:`handle` serves one Table API request."""

    def __init__(
        self,
        cis: Sequence[ConfigurationItem],
        *,
        users: Sequence[tuple[str, str, tuple[str, ...]]] = SEED_USERS,
        clock: Callable[[], str] = _now,
        base_url: str = DEFAULT_BASE_URL,
    ) -> None:
        self.base_url = base_url
        self.tables: dict[str, list[Row]] = {table: [] for table in _STORED}
        self._clock = clock
        self._issued = dict.fromkeys(_NUMBERS, 0)
        for user_id, name, _roles in users:
            self.insert("sys_user", {"user_name": user_id, "name": name})
        for group in sorted({ci.support_group for ci in cis} | {"Service Desk"}):
            self.insert("sys_user_group", {"name": group})
        self._seed_cmdb(cis)

    # --- state ------------------------------------------------------------------------------------

    def insert(self, table: str, fields: Mapping[str, str]) -> Row:
        now = self._clock()
        row: Row = {"sys_id": uuid.uuid4().hex, "sys_created_on": now, "sys_updated_on": now}
        row |= {"sys_created_by": INTEGRATION_USER, "sys_class_name": table}
        if table in _NUMBERS:
            prefix, first = _NUMBERS[table]
            row["number"] = f"{prefix}{first + self._issued[table]:07d}"
            self._issued[table] += 1
        row |= fields
        self.tables[table].append(row)
        return row

    def find(self, table: str, **equals: str) -> Row | None:
        return next((row for row in self.rows(table) if equals.items() <= row.items()), None)

    def rows(self, table: str) -> list[Row]:
        stored, class_prefix = _VIEWS.get(table, (table, ""))
        return [row for row in self.tables[stored] if row["sys_class_name"].startswith(class_prefix)]

    def _seed_cmdb(self, cis: Sequence[ConfigurationItem]) -> None:
        depends = self.insert("cmdb_rel_type", {"name": "Depends on::Used by"})["sys_id"]
        by_name: dict[str, str] = {}
        for ci in cis:
            by_name[ci.name] = self.insert("cmdb_ci", self._ci_fields(ci))["sys_id"]
        for ci in cis:
            for child in ci.depends_on:
                rel = {"parent": by_name[ci.name], "child": by_name[child], "type": depends}
                self.insert("cmdb_rel_ci", rel)

    def _ci_fields(self, ci: ConfigurationItem) -> Row:
        owner = self.find("sys_user", user_name=ci.owner)
        group = self.find("sys_user_group", name=ci.support_group)
        return {
            "name": ci.name,
            "sys_class_name": _CLASS_NAMES[ci.ci_class],
            "environment": "Production" if ci.environment == "prod" else "Staging",
            "owned_by": owner["sys_id"] if owner else "",
            "support_group": group["sys_id"] if group else "",
            "short_description": ci.description,
        }

    # --- HTTP -------------------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        if "authorization" not in request.headers:
            return _error(401, "User Not Authenticated", "Required to provide Auth information")
        match = _PATH.fullmatch(request.url.path)
        if match is None:
            return _error(400, "Requested URI does not represent any resource")
        table, sys_id = match["table"], match["sys_id"]
        if table not in _STORED and table not in _VIEWS:
            return _error(400, f"Invalid table {table}")
        try:
            return self._route(request, table, sys_id)
        except _BadQuery as exc:
            return _error(400, "Invalid query", str(exc))

    def _route(self, request: httpx.Request, table: str, sys_id: str | None) -> httpx.Response:
        params = request.url.params
        if request.method == "GET" and sys_id is None:
            rows = _limited(self._select(table, params.get("sysparm_query", "")), params)
            return httpx.Response(200, json={"result": [self._render(table, row, params) for row in rows]})
        if request.method == "POST" and sys_id is None:
            return self._write(table, None, request, params)
        row = self.find(table, sys_id=sys_id or "")
        if row is None:
            return _error(404, "No Record found", _NO_RECORD)
        if request.method == "GET":
            return httpx.Response(200, json={"result": self._render(table, row, params)})
        if request.method in ("PATCH", "PUT"):
            return self._write(table, row, request, params)
        return _error(405, "Method not Supported")

    def _write(
        self, table: str, row: Row | None, request: httpx.Request, params: httpx.QueryParams
    ) -> httpx.Response:
        try:
            body = json.loads(request.content)
        except ValueError:
            return _error(400, "Exception while reading request", "The payload is not valid JSON.")
        if not isinstance(body, dict):
            return _error(400, "Exception while reading request", "The payload is not a JSON object.")
        values = {key: _string(value) for key, value in body.items()}
        note = values.pop("work_notes", "")
        created = row is None
        row = row if row is not None else self.insert(table, self._defaults(table))
        self._business_rules(table, row, values)
        row |= values | {"sys_updated_on": self._clock()}
        if note:
            journal = {"name": table, "element": "work_notes", "element_id": row["sys_id"], "value": note}
            self.insert("sys_journal_field", journal)
        return httpx.Response(201 if created else 200, json={"result": self._render(table, row, params)})

    def _defaults(self, table: str) -> Row:
        if table == "incident":
            return {"state": "1", "impact": "3", "urgency": "3", "priority": "5", "opened_at": self._clock()}
        return {"state": "-5"} if table == "change_request" else {}

    def _business_rules(self, table: str, row: Row, values: Row) -> None:
        if table != "incident":
            return
        impact = values.get("impact", row.get("impact", ""))
        urgency = values.get("urgency", row.get("urgency", ""))
        if (impact, urgency) in _PRIORITY:
            values["priority"] = _PRIORITY[(impact, urgency)]
        if values.get("state") == "6" and row.get("state") != "6" and not values.get("resolved_at"):
            values["resolved_at"] = self._clock()

    # --- queries ----------------------------------------------------------------------------------

    def _select(self, table: str, query: str) -> list[Row]:
        groups, order = _parse(query)
        rows = [row for row in self.rows(table) if all(self._any(table, row, group) for group in groups)]
        for field, descending in reversed(order):  # stable sorts, last key first
            rows.sort(key=partial(self.value, table, path=field), reverse=descending)
        return rows

    def _any(self, table: str, row: Row, group: list[tuple[str, str, str]]) -> bool:
        return any(_holds(self.value(table, row, field), op, wanted) for field, op, wanted in group)

    def value(self, table: str, row: Row, path: str) -> str:
        """A field's stored value; ``a.b`` follows reference ``a`` to field ``b`` (dot-walking)."""
        head, _, rest = path.partition(".")
        if not rest:
            return row.get(head, "")
        target_table = _REFERENCES.get(head)
        target = self.find(target_table, sys_id=row.get(head, "")) if target_table else None
        return self.value(target_table or "", target, rest) if target is not None else ""

    def _render(self, table: str, row: Row, params: httpx.QueryParams) -> dict[str, Any]:
        requested = params.get("sysparm_fields")
        fields = requested.split(",") if requested else [key for key in row if not key.startswith("_")]
        mode = params.get("sysparm_display_value", "false").lower()
        links = params.get("sysparm_exclude_reference_link", "false").lower() != "true"
        return {field: self._shown(table, row, field, mode, links) for field in fields}

    def _shown(self, table: str, row: Row, field: str, mode: str, links: bool) -> Any:
        value = self.value(table, row, field)
        display = self._display(table, row, field, value)
        target = _REFERENCES.get(field)
        shown: dict[str, str] = {}
        if target and links and value:
            shown["link"] = f"{self.base_url}/api/now/table/{target}/{value}"
        if mode == "all":
            return shown | {"display_value": display, "value": value}
        if mode == "true":
            return shown | {"display_value": display} if shown else display
        return shown | {"value": value} if shown else value

    def _display(self, table: str, row: Row, field: str, value: str) -> str:
        target_table = _REFERENCES.get(field)
        if target_table is not None:
            target = self.find(target_table, sys_id=value)
            return target.get(_DISPLAY_FIELD.get(target_table, "name"), "") if target else ""
        return _CHOICES.get((table, field), {}).get(value, value)


def _string(value: Any) -> str:
    """ServiceNow stores what it is sent as text: 2 → "2", true → "true", null → ""."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _limited(rows: list[Row], params: httpx.QueryParams) -> list[Row]:
    limit = params.get("sysparm_limit")
    return rows[: int(limit)] if limit else rows


def _parse(query: str) -> tuple[list[list[tuple[str, str, str]]], list[tuple[str, bool]]]:
    """An encoded query as AND-ed groups of OR-ed (field, operator, value), and the sort order."""
    groups: list[list[tuple[str, str, str]]] = []
    order: list[tuple[str, bool]] = []
    for token in query.split("^") if query else []:
        if token.startswith("ORDERBYDESC"):
            order.append((token.removeprefix("ORDERBYDESC"), True))
        elif token.startswith("ORDERBY"):
            order.append((token.removeprefix("ORDERBY"), False))
        elif token.startswith("OR") and groups:
            groups[-1].append(_condition(token.removeprefix("OR")))
        else:
            groups.append([_condition(token)])
    return groups, order


def _condition(token: str) -> tuple[str, str, str]:
    match = _CONDITION.fullmatch(token)
    if match is None:
        raise _BadQuery(f"cannot parse condition {token!r}")
    return match["field"], match["op"], match["value"]


def _holds(actual: str, op: str, wanted: str) -> bool:
    """ServiceNow compares strings case-insensitively (the database collation)."""
    actual, wanted = actual.lower(), wanted.lower()
    listed = wanted.split(",")
    checks = {
        "=": lambda: actual == wanted,
        "!=": lambda: actual != wanted,
        "LIKE": lambda: wanted in actual,
        "IN": lambda: actual in listed,
        "NOT IN": lambda: actual != "" and actual not in listed,
        "ISEMPTY": lambda: actual == "",
    }
    return checks[op]()


def _no_wait(_seconds: float) -> None:
    return None


@contextmanager
def serve(fake: FakeServiceNow, *, base_url: str = DEFAULT_BASE_URL) -> Iterator[respx.MockRouter]:
    """Route every request under ``base_url`` to ``fake``; anything else fails (no network)."""
    with respx.mock(base_url=base_url, assert_all_called=False) as router:
        router.route(name="table_api").mock(side_effect=fake.handle)
        yield router


@contextmanager
def fake_servicenow(
    cis: Sequence[ConfigurationItem], *, base_url: str = DEFAULT_BASE_URL
) -> Iterator[ServiceNowITSM]:
    """A :class:`ServiceNowITSM` talking to a fresh fake instance seeded with ``cis`` and the seed users."""
    fake = FakeServiceNow(cis, base_url=base_url)
    auth = BasicAuth(user=INTEGRATION_USER, password=SecretStr("fake-password"))
    with serve(fake, base_url=base_url), ServiceNowITSM(base_url, auth=auth, sleep=_no_wait) as itsm:
        yield itsm
