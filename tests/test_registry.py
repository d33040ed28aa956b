"""The registry: the fixed catalogue as governance and models see it, and tools that only ever route
through the caller's ``invoke``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.messages import ToolMessage
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, ConfigDict

from tools.catalogue import build_catalogue
from tools.errors import InvalidArguments, NotFound
from tools.models import StockLevel
from tools.registry import ToolRegistry, result_to_json, run
from tools.spec import CallContext, SideEffect, ToolSpec

READ, WRITE, FINANCIAL = SideEffect.READ, SideEffect.WRITE, SideEffect.FINANCIAL

EXPECTED_SIDE_EFFECTS = {
    "itsm_search_incidents": READ,
    "itsm_get_incident": READ,
    "itsm_get_change_request": READ,
    "itsm_get_configuration_item": READ,
    "inventory_search_items": READ,
    "inventory_get_stock": READ,
    "procurement_search_catalogue": READ,
    "procurement_search_suppliers": READ,
    "procurement_get_purchase_order": READ,
    "itsm_create_incident": WRITE,
    "itsm_update_incident": WRITE,
    "itsm_add_work_note": WRITE,
    "itsm_resolve_incident": WRITE,
    "itsm_create_change_request": WRITE,
    "inventory_reserve_stock": WRITE,
    "inventory_transfer_stock": WRITE,
    "inventory_adjust_stock": WRITE,
    "inventory_set_reorder_point": WRITE,
    "procurement_create_requisition": FINANCIAL,
    "procurement_create_purchase_order": FINANCIAL,
    "procurement_cancel_purchase_order": FINANCIAL,
    "knowledge_search": READ,
}

# Argument names policy rules are written against; renaming one silently disables a rule.
EXPECTED_ARGUMENTS = {
    "itsm_search_incidents": {"text", "state", "priority", "service", "limit"},
    "itsm_get_incident": {"number"},
    "itsm_get_change_request": {"number"},
    "itsm_get_configuration_item": {"name"},
    "inventory_search_items": {"text", "category", "limit"},
    "inventory_get_stock": {"sku", "warehouse"},
    "procurement_search_catalogue": {"text", "sku", "supplier_id", "limit"},
    "procurement_search_suppliers": {"text", "limit"},
    "procurement_get_purchase_order": {"number"},
    "itsm_create_incident": {
        "short_description",
        "description",
        "priority",
        "service",
        "ci",
        "assignment_group",
    },
    "itsm_update_incident": {"number", "priority", "state", "assigned_to", "assignment_group"},
    "itsm_add_work_note": {"number", "text"},
    "itsm_resolve_incident": {"number", "resolution_code", "resolution_notes"},
    "itsm_create_change_request": {
        "ci",
        "short_description",
        "description",
        "risk",
        "planned_start",
        "planned_end",
    },
    "inventory_reserve_stock": {"sku", "warehouse", "quantity", "reference"},
    "inventory_transfer_stock": {"sku", "from_warehouse", "to_warehouse", "quantity", "reason"},
    "inventory_adjust_stock": {"sku", "warehouse", "delta", "kind", "reason"},
    "inventory_set_reorder_point": {"sku", "warehouse", "reorder_point"},
    "procurement_create_requisition": {"cost_centre", "lines", "justification"},
    "procurement_create_purchase_order": {"supplier_id", "cost_centre", "lines", "total_amount"},
    "procurement_cancel_purchase_order": {"number", "reason"},
    "knowledge_search": {"query", "kind", "k"},
}

OPENAI_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
ACTOR_FIELDS = {"actor", "actor_id", "caller", "author", "requester", "requested_by", "resolved_by", "user"}


@pytest.fixture(scope="module")
def registry() -> ToolRegistry:
    return ToolRegistry(build_catalogue())


def _objects(node: Any) -> Iterator[dict[str, Any]]:
    """Every JSON-schema node that describes an object, at any depth (``$defs`` included)."""
    if isinstance(node, dict):
        if node.get("type") == "object" or "properties" in node:
            yield node
        for value in node.values():
            yield from _objects(value)
    elif isinstance(node, list):
        for item in node:
            yield from _objects(item)


def _spec(name: str, handler: Any) -> ToolSpec:
    class Args(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        quantity: int

    return ToolSpec(name=name, description="test tool", args_model=Args, side_effect=WRITE, handler=handler)


def _openai_parameters(registry: ToolRegistry, name: str) -> dict[str, Any]:
    tool = next(tool for tool in registry.openai_tools() if tool["function"]["name"] == name)
    parameters: dict[str, Any] = tool["function"]["parameters"]
    return parameters


def _must_not_run(args: Any, ctx: CallContext) -> Any:
    pytest.fail("the handler ran; only invoke() may decide to run a tool")


# --- the catalogue as governance sees it -----------------------------------------------------------


def test_names_and_side_effect_classes_are_the_fixed_catalogue(registry: ToolRegistry) -> None:
    assert registry.side_effects() == EXPECTED_SIDE_EFFECTS
    assert set(registry.names()) == set(EXPECTED_SIDE_EFFECTS)
    assert len(registry) == len(EXPECTED_SIDE_EFFECTS)


@pytest.mark.parametrize("name", sorted(EXPECTED_SIDE_EFFECTS))
def test_names_are_openai_safe_and_prefixed_by_system(name: str) -> None:
    assert OPENAI_NAME.match(name)
    assert name.split("_", 1)[0] in {"itsm", "inventory", "procurement", "knowledge"}


@pytest.mark.parametrize("name", sorted(EXPECTED_ARGUMENTS))
def test_argument_names_are_the_policy_contract(registry: ToolRegistry, name: str) -> None:
    assert set(registry.get(name).json_schema()["properties"]) == EXPECTED_ARGUMENTS[name]


def test_the_acting_user_is_never_an_argument(registry: ToolRegistry) -> None:
    for spec in registry:
        for node in _objects(spec.json_schema()):
            assert not ACTOR_FIELDS & set(node.get("properties", {})), spec.name


def test_get_unknown_tool_is_not_found(registry: ToolRegistry) -> None:
    with pytest.raises(NotFound) as raised:
        registry.get("itsm_delete_everything")
    assert (raised.value.kind, raised.value.key) == ("tool", "itsm_delete_everything")
    assert "itsm_delete_everything" not in registry


def test_duplicate_names_are_rejected() -> None:
    spec = build_catalogue()[0]
    with pytest.raises(ValueError, match=spec.name):
        ToolRegistry([spec, build_catalogue()[1], spec])


# --- schemas as models see them ---------------------------------------------------------------------


def test_every_object_in_every_schema_forbids_extra_properties(registry: ToolRegistry) -> None:
    for spec in registry:
        objects = list(_objects(spec.json_schema()))
        assert objects, spec.name
        for node in objects:
            assert node.get("additionalProperties") is False, (spec.name, node.get("title"))


def test_every_argument_is_described_for_the_model(registry: ToolRegistry) -> None:
    for spec in registry:
        assert len(spec.description) >= 40, spec.name
        for name, field in spec.json_schema()["properties"].items():
            described = "description" in field or any("description" in b for b in field.get("anyOf", []))
            assert described, (spec.name, name)


def test_describe_is_json_ready(registry: ToolRegistry) -> None:
    described = json.loads(json.dumps(registry.describe()))
    assert [entry["name"] for entry in described] == list(registry.names())
    resolve = next(entry for entry in described if entry["name"] == "itsm_resolve_incident")
    assert resolve["side_effect"] == "write"
    assert resolve["description"] == registry.get("itsm_resolve_incident").description
    assert resolve["json_schema"]["required"] == ["number", "resolution_code", "resolution_notes"]


def test_openai_tools_are_function_tools_with_self_contained_parameters(registry: ToolRegistry) -> None:
    tools = registry.openai_tools()
    assert [tool["function"]["name"] for tool in tools] == list(registry.names())
    for tool, spec in zip(tools, registry, strict=True):
        assert tool["type"] == "function"
        assert set(tool["function"]) == {"name", "description", "parameters"}
        assert tool["function"]["description"] == spec.description
        parameters = tool["function"]["parameters"]
        assert parameters["type"] == "object"
        assert parameters["additionalProperties"] is False
        text = json.dumps(parameters)
        assert "$ref" not in text and "$defs" not in text and '"title"' not in text
        assert set(parameters["properties"]) == EXPECTED_ARGUMENTS[spec.name]


def test_openai_parameters_keep_nested_line_items_closed(registry: ToolRegistry) -> None:
    tool = next(
        t for t in registry.openai_tools() if t["function"]["name"] == "procurement_create_purchase_order"
    )
    lines = tool["function"]["parameters"]["properties"]["lines"]
    assert lines["minItems"] == 1 and lines["maxItems"] == 50
    assert lines["items"]["additionalProperties"] is False
    assert set(lines["items"]["required"]) == {"sku", "quantity", "unit_price"}


def test_openai_parameters_inline_enums(registry: ToolRegistry) -> None:
    kind = _openai_parameters(registry, "inventory_adjust_stock")["properties"]["kind"]
    assert kind["enum"] == ["cycle_count", "write_off"]


# --- LangChain tools route through invoke -------------------------------------------------------------


def test_langchain_tools_call_invoke_and_never_the_handler() -> None:
    spec = _spec("inventory_test_tool", _must_not_run)
    calls: list[tuple[ToolSpec, dict[str, Any]]] = []

    def invoke(called: ToolSpec, args: dict[str, Any]) -> str:
        calls.append((called, args))
        return "governed"

    (tool,) = ToolRegistry([spec]).langchain_tools(invoke)
    message = tool.invoke({"name": spec.name, "args": {"quantity": 3}, "id": "call-1", "type": "tool_call"})

    assert isinstance(message, ToolMessage)
    assert (message.content, message.tool_call_id) == ("governed", "call-1")
    assert calls == [(spec, {"quantity": 3})]


def test_langchain_tools_hand_invalid_arguments_to_invoke_unchanged() -> None:
    # Validation belongs to invoke (governance records the bad call and answers the model);
    # LangChain must not reject it first or coerce it into Python objects.
    spec = _spec("inventory_test_tool", _must_not_run)
    seen: list[dict[str, Any]] = []

    def invoke(called: ToolSpec, args: dict[str, Any]) -> str:
        seen.append(args)
        return "refused"

    (tool,) = ToolRegistry([spec]).langchain_tools(invoke)

    tool.invoke({"quantity": "ten", "requester": "judy.cio"})

    assert seen == [{"quantity": "ten", "requester": "judy.cio"}]


def test_langchain_tools_let_invoke_errors_propagate() -> None:
    spec = _spec("inventory_test_tool", _must_not_run)

    def invoke(called: ToolSpec, args: dict[str, Any]) -> str:
        raise RuntimeError("governance invariant broken")

    (tool,) = ToolRegistry([spec]).langchain_tools(invoke)
    with pytest.raises(RuntimeError, match="invariant"):
        tool.invoke({"quantity": 1})


def test_langchain_tools_cover_the_catalogue_with_the_same_schema(registry: ToolRegistry) -> None:
    tools = registry.langchain_tools(lambda spec, args: "ok")
    assert [tool.name for tool in tools] == list(registry.names())
    for tool, expected in zip(tools, registry.openai_tools(), strict=True):
        function = convert_to_openai_tool(tool)["function"]
        assert function["description"] == expected["function"]["description"]
        assert function["parameters"]["properties"] == expected["function"]["parameters"]["properties"]
        assert function["parameters"]["additionalProperties"] is False


# --- run and result_to_json ------------------------------------------------------------------------------


def test_run_validates_before_the_handler() -> None:
    ran: list[Any] = []

    def handler(args: Any, ctx: CallContext) -> str:
        ran.append(args)
        return "done"

    spec = _spec("inventory_test_tool", handler)
    ctx = CallContext(systems=None, actor_id="ivan.ops")  # type: ignore[arg-type]

    with pytest.raises(InvalidArguments, match="quantity"):
        run(spec, {"quantity": "ten"}, ctx)
    assert ran == []
    assert run(spec, '{"quantity": 2}', ctx) == "done"
    assert ran == [spec.args_model(quantity=2)]


def test_result_to_json_serialises_records_lists_and_computed_fields() -> None:
    level = StockLevel(sku="SSD-1TB-NVME", warehouse="AMS-1", on_hand=10, reserved=4, reorder_point=2)
    assert json.loads(result_to_json(level))["available"] == 6
    assert json.loads(result_to_json([level, level])) == [level.model_dump(mode="json")] * 2
    assert json.loads(result_to_json(level)) == level.model_dump(mode="json")
    assert json.loads(result_to_json({"ok": True})) == {"ok": True}
