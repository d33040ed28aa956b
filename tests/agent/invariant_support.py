"""Support for the governance invariant test: recording backends and call strategies.

:func:`recording_systems` wraps the ITSM, inventory and procurement backends so every write method
call (every public method that is not a ``get_``/``search_``/``list_`` read) is logged with its
arguments and whether it raised. The strategies draw tool calls as a
hostile or confused model would: catalogue tools and unknown ones, valid arguments built from the
seeded records, broken and foreign arguments, unparsable JSON, reused ids.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from hypothesis import strategies as st
from langchain_core.messages import AIMessage
from pydantic import BaseModel

from governance.directory import load_directory
from tools.catalogue import build_catalogue
from tools.catalogue.procurement import LineArgs, lines_total
from tools.local.seed import SEED_INCIDENTS
from tools.local.seed_changes import SEED_CHANGES
from tools.local.seed_items import SEED_ITEMS, SEED_WAREHOUSES
from tools.local.seed_orders import SEED_COST_CENTRES, SEED_PURCHASE_ORDERS
from tools.local.seed_people import SEED_CIS
from tools.local.seed_supply import SEED_CATALOGUE
from tools.spec import SideEffect, Systems

# --- recording backends ---------------------------------------------------------------------------

_READ_PREFIXES = ("get_", "search_", "list_")

TOOL_METHOD: dict[str, str] = {
    "itsm_create_incident": "create_incident",
    "itsm_update_incident": "update_incident",
    "itsm_add_work_note": "add_work_note",
    "itsm_resolve_incident": "resolve_incident",
    "itsm_create_change_request": "create_change",
    "inventory_reserve_stock": "reserve_stock",
    "inventory_transfer_stock": "transfer_stock",
    "inventory_adjust_stock": "adjust_stock",
    "inventory_set_reorder_point": "set_reorder_point",
    "procurement_create_requisition": "create_requisition",
    "procurement_create_purchase_order": "create_purchase_order",
    "procurement_cancel_purchase_order": "cancel_purchase_order",
}
"""The backend write each write/financial tool's handler makes (exactly one per execution)."""


@dataclass(frozen=True, kw_only=True)
class Write:
    """One call of a backend write method, as the backend received it."""

    system: str
    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    ok: bool  # False when the backend raised (the call still reached it)

    def leaves(self) -> set[tuple[str, Any]]:
        return leaves([*self.args, *self.kwargs.values()])


class RecordingBackend:
    """Passes every attribute through to ``inner``; write methods are logged to ``log`` first-hand.

    Fail closed: any public method that is not a read by name counts as a write, so a write method
    added to a backend later is recorded without touching this class.
    """

    def __init__(self, system: str, inner: Any, log: list[Write]) -> None:
        self._system = system
        self._inner = inner
        self._log = log

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if name.startswith("_") or name.startswith(_READ_PREFIXES) or not callable(attribute):
            return attribute
        return self._recorded(name, attribute)

    def _recorded(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                result = method(*args, **kwargs)
            except Exception:
                self._log.append(Write(system=self._system, method=name, args=args, kwargs=kwargs, ok=False))
                raise
            self._log.append(Write(system=self._system, method=name, args=args, kwargs=kwargs, ok=True))
            return result

        return call


def recording_systems(systems: Systems, log: list[Write]) -> Systems:
    return Systems(
        itsm=RecordingBackend("itsm", systems.itsm, log),
        inventory=RecordingBackend("inventory", systems.inventory, log),
        procurement=RecordingBackend("procurement", systems.procurement, log),
        knowledge=systems.knowledge,  # search only: nothing to record
    )


def leaves(value: Any) -> set[tuple[str, Any]]:
    """Every scalar inside ``value`` (models dumped as JSON), normalised so 3 == 3.0 and enums are values."""
    found: set[tuple[str, Any]] = set()
    for scalar in _scalars(value):
        if isinstance(scalar, bool):
            found.add(("bool", scalar))
        elif isinstance(scalar, int | float):
            found.add(("num", round(float(scalar), 6)))
        elif scalar is not None:
            found.add(("str", str(scalar)))
    return found


def _scalars(value: Any) -> Iterator[Any]:
    if isinstance(value, BaseModel):
        yield from _scalars(value.model_dump(mode="json"))
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _scalars(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _scalars(item)
    elif isinstance(value, Enum):
        yield value.value
    elif isinstance(value, datetime):
        yield value.isoformat()
    else:
        yield value


# --- seeded values --------------------------------------------------------------------------------

_CLOSED = ("closed", "resolved", "received", "cancelled")
DIRECTORY = load_directory()
PEOPLE = sorted(DIRECTORY.ids)
SPECS = {spec.name: spec for spec in build_catalogue()}
READ_TOOLS = sorted(name for name, spec in SPECS.items() if spec.side_effect is SideEffect.READ)
WRITE_TOOLS = sorted(name for name, spec in SPECS.items() if spec.side_effect is not SideEffect.READ)
UNKNOWN_TOOLS = ["itsm_delete_incident", "shell_exec", "procurement_pay_invoice", "inventory_drop_table", ""]

INCIDENTS = [incident.number for incident in SEED_INCIDENTS] + ["INC0099999"]
OPEN_INCIDENTS = [incident.number for incident in SEED_INCIDENTS if incident.state.value not in _CLOSED]
CHANGES = [seeded.change.number for seeded in SEED_CHANGES] + ["CHG0099999"]
SKUS = [item.sku for item in SEED_ITEMS] + ["NO-SUCH-SKU"]
WAREHOUSES = [warehouse.code for warehouse in SEED_WAREHOUSES]
COST_CENTRES = [centre.code for centre in SEED_COST_CENTRES] + ["CC-NOWHERE"]
ORDERS = [order.number for order in SEED_PURCHASE_ORDERS] + ["PO-2026-9999"]
OPEN_ORDERS = [order.number for order in SEED_PURCHASE_ORDERS if order.state.value not in _CLOSED]
CIS = [ci.name for ci in SEED_CIS] + ["no-such-ci"]
OFFERS = list(SEED_CATALOGUE)
RESOLUTION_CODES = ["Solution provided", "Workaround provided", "Duplicate", "User error"]

_words = st.sampled_from(["disk full", "502 on checkout", "restart pods", "replace fan", "new starter kit"])
_text = st.builds(lambda words, n: f"{words} #{n}", _words, st.integers(0, 999))
# Mostly small amounts, sometimes large ones, so every tier of the spend and stock rules is drawn.
_quantity = st.one_of(st.integers(1, 12), st.integers(1, 400))


def _planned() -> st.SearchStrategy[dict[str, str]]:
    start = st.sampled_from(["2026-11-20T22:00:00Z", "2026-12-22T22:00:00Z"])
    return st.one_of(st.just({}), start.map(lambda s: {"planned_start": s}))


def _offer_lines(draw: st.DrawFn) -> tuple[str, list[dict[str, Any]]]:
    """A supplier and one or two lines of its catalogue offers."""
    first = draw(st.sampled_from(OFFERS))
    same_supplier = [offer for offer in OFFERS if offer.supplier_id == first.supplier_id]
    more = draw(st.lists(st.sampled_from(same_supplier), max_size=1))
    chosen = [first, *(offer for offer in more if offer.sku != first.sku)]
    lines = [{"sku": o.sku, "quantity": draw(_quantity), "unit_price": o.unit_price} for o in chosen]
    return first.supplier_id, lines


def _total(lines: list[dict[str, Any]]) -> float:
    return lines_total(LineArgs.model_validate(line) for line in lines)


@st.composite
def _purchase_order(draw: st.DrawFn) -> dict[str, Any]:
    supplier, lines = _offer_lines(draw)
    # Now and then an inactive (SUP-009) or unknown supplier: the backend refuses, after governance.
    other = draw(st.sampled_from([None] * 6 + ["SUP-009", "SUP-099"]))
    return {
        "supplier_id": other or supplier,
        "cost_centre": draw(st.sampled_from(COST_CENTRES)),
        "lines": lines,
        "total_amount": _total(lines),
    }


@st.composite
def _requisition(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "cost_centre": draw(st.sampled_from(COST_CENTRES)),
        "lines": _offer_lines(draw)[1],
        "justification": "Replacement hardware for the service desk team",
    }


@st.composite
def _transfer(draw: st.DrawFn) -> dict[str, Any]:
    source, target = draw(st.lists(st.sampled_from(WAREHOUSES), min_size=2, max_size=2, unique=True))
    return {
        "sku": draw(st.sampled_from(SKUS)),
        "from_warehouse": source,
        "to_warehouse": target,
        "quantity": draw(_quantity),
        "reason": "rebalance stock",
    }


@st.composite
def _adjust(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["cycle_count", "write_off"]))
    size = draw(_quantity)
    negative = kind == "write_off" or draw(st.booleans())
    return {
        "sku": draw(st.sampled_from(SKUS)),
        "warehouse": draw(st.sampled_from(WAREHOUSES)),
        "delta": -size if negative else size,
        "kind": kind,
        "reason": "counted on the shelf",
    }


def _update() -> st.SearchStrategy[dict[str, Any]]:
    fields: dict[str, st.SearchStrategy[Any]] = {
        "priority": st.integers(1, 4),
        "state": st.sampled_from(["in_progress", "on_hold", "closed"]),
        "assigned_to": st.sampled_from(PEOPLE),
        "assignment_group": st.just("Service Desk"),
    }
    # At least one field changes: an update that changes nothing is invalid arguments.
    changes = st.one_of(
        [
            st.fixed_dictionaries({name: value}, optional={k: v for k, v in fields.items() if k != name})
            for name, value in fields.items()
        ]
    )
    incident = _mostly(OPEN_INCIDENTS, INCIDENTS)
    return st.builds(lambda number, change: {"number": number, **change}, incident, changes)


def _sku_at() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"sku": st.sampled_from(SKUS), "warehouse": st.sampled_from(WAREHOUSES)})


def _mostly(common: list[str], every: list[str]) -> st.SearchStrategy[str]:
    """Usually a record the write can succeed on; sometimes any, so backend refusals are drawn too."""
    return st.one_of(st.sampled_from(common), st.sampled_from(common), st.sampled_from(every))


def _valid_args_strategies() -> dict[str, st.SearchStrategy[dict[str, Any]]]:
    incident = _mostly(OPEN_INCIDENTS, INCIDENTS)
    return {
        "itsm_search_incidents": st.fixed_dictionaries(
            {}, optional={"text": _words, "priority": st.integers(1, 4)}
        ),
        "itsm_get_incident": st.fixed_dictionaries({"number": incident}),
        "itsm_get_change_request": st.fixed_dictionaries({"number": st.sampled_from(CHANGES)}),
        "itsm_get_configuration_item": st.fixed_dictionaries({"name": st.sampled_from(CIS)}),
        "inventory_search_items": st.fixed_dictionaries(
            {"text": st.sampled_from(["laptop", "ssd", "monitor"])}
        ),
        "inventory_get_stock": st.fixed_dictionaries(
            {"sku": st.sampled_from(SKUS)}, optional={"warehouse": st.sampled_from(WAREHOUSES)}
        ),
        "procurement_search_catalogue": st.fixed_dictionaries({"sku": st.sampled_from(SKUS)}),
        "procurement_search_suppliers": st.fixed_dictionaries({}, optional={"text": st.just("tech")}),
        "procurement_get_purchase_order": st.fixed_dictionaries({"number": st.sampled_from(ORDERS)}),
        "itsm_create_incident": st.fixed_dictionaries(
            {"short_description": _text, "description": _text, "priority": st.integers(1, 4)},
            optional={"service": st.sampled_from(CIS)},
        ),
        "itsm_update_incident": _update(),
        "itsm_add_work_note": st.fixed_dictionaries({"number": incident, "text": _text}),
        "itsm_resolve_incident": st.fixed_dictionaries(
            {
                "number": incident,
                "resolution_code": st.sampled_from(RESOLUTION_CODES),
                "resolution_notes": st.just("Restarted the service and verified it."),
            }
        ),
        "itsm_create_change_request": st.builds(
            lambda ci, text, risk, planned: {
                "ci": ci,
                "short_description": text,
                "description": text,
                "risk": risk,
                **planned,
            },
            st.sampled_from(CIS),
            _text,
            st.sampled_from(["low", "moderate", "high"]),
            _planned(),
        ),
        "inventory_reserve_stock": st.builds(
            lambda at, quantity, reference: {**at, "quantity": quantity, "reference": reference},
            _sku_at(),
            _quantity,
            st.sampled_from(INCIDENTS),
        ),
        "inventory_transfer_stock": _transfer(),
        "inventory_adjust_stock": _adjust(),
        "inventory_set_reorder_point": st.builds(
            lambda at, point: {**at, "reorder_point": point}, _sku_at(), st.integers(0, 200)
        ),
        "knowledge_search": st.fixed_dictionaries(
            {"query": st.sampled_from(["checkout 502", "disk full runbook"])},
            optional={"kind": st.sampled_from(["runbook", "incident"])},
        ),
        "procurement_create_requisition": _requisition(),
        "procurement_create_purchase_order": _purchase_order(),
        "procurement_cancel_purchase_order": st.fixed_dictionaries(
            {"number": _mostly(OPEN_ORDERS, ORDERS), "reason": st.just("no longer needed")}
        ),
    }


VALID_ARGS = _valid_args_strategies()
_garbage = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.text(max_size=4), st.lists(st.integers(), max_size=2)
)


@st.composite
def broken_args(draw: st.DrawFn, tool: str) -> dict[str, Any]:
    """Arguments a careless or hostile model sends: a field dropped, retyped, or someone else named."""
    args = dict(draw(VALID_ARGS[tool])) if tool in VALID_ARGS else {}
    how = draw(st.sampled_from(["drop", "retype", "foreign", "understate", "random"]))
    if how == "drop" and args:
        args.pop(draw(st.sampled_from(sorted(args))))
    elif how == "retype" and args:
        args[draw(st.sampled_from(sorted(args)))] = draw(_garbage)
    elif how == "foreign":
        # The acting user comes from the session; naming a user in arguments is refused as extra.
        args[draw(st.sampled_from(["actor_id", "requested_by", "on_behalf_of"]))] = draw(
            st.sampled_from(PEOPLE)
        )
    elif how == "understate" and "total_amount" in args:
        args["total_amount"] = round(args["total_amount"] / 2, 2)
    else:
        args = draw(st.dictionaries(st.text(min_size=1, max_size=6), _garbage, max_size=3))
    return args


@dataclass(frozen=True, kw_only=True)
class ScriptedCall:
    """One tool call the scripted model will emit; ``raw`` set means arguments that are not JSON."""

    id: str
    name: str
    args: dict[str, Any] = field(default_factory=dict)
    raw: str | None = None


@st.composite
def scripted_call(draw: st.DrawFn, id: str) -> ScriptedCall:
    """Mostly writes (what the invariant is about), some reads, a few tools that do not exist."""
    kind = draw(st.sampled_from(["write", "write", "write", "write", "read", "unknown"]))
    name = draw(st.sampled_from({"write": WRITE_TOOLS, "read": READ_TOOLS, "unknown": UNKNOWN_TOOLS}[kind]))
    style = draw(st.sampled_from(["valid", "valid", "valid", "valid", "broken", "not_json"]))
    if style == "not_json":
        return ScriptedCall(id=id, name=name, raw=draw(st.sampled_from(['{"sku": ', "none", "[1, 2"])))
    if style == "valid" and name in VALID_ARGS:
        return ScriptedCall(id=id, name=name, args=draw(VALID_ARGS[name]))
    return ScriptedCall(id=id, name=name, args=draw(broken_args(name)))


def ai_message(calls: Sequence[ScriptedCall]) -> AIMessage:
    """The model message carrying ``calls``: parsed ones as tool calls, unparsable ones as invalid."""
    tool_calls = [
        {"name": c.name, "args": c.args, "id": c.id, "type": "tool_call"} for c in calls if c.raw is None
    ]
    invalid = [
        {"name": c.name, "args": c.raw, "id": c.id, "error": "not JSON", "type": "invalid_tool_call"}
        for c in calls
        if c.raw is not None
    ]
    return AIMessage(content="", tool_calls=tool_calls, invalid_tool_calls=invalid)


START_TIMES = [
    datetime(2026, 11, 2, 9, 30, tzinfo=UTC),  # an ordinary Monday
    datetime(2026, 12, 17, 9, 0, tzinfo=UTC),  # a day before the year-end change freeze
]
