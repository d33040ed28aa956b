"""The offline planner, driven directly with message lists (no graph).

Pins: each demo intent emits the exact tool calls (names, arguments, deterministic ids); tool
results lead to the next call or to an answer written from them; refusals, pending approvals,
rejections and validation errors are reported with their reason; anything else gets the plain
"needs an LLM" answer; ``bind_tools`` returns something invokable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import StructuredTool

from agent.offline.planner import OfflinePlanner

SYSTEM = SystemMessage(content="You are opslayer. The user is alice.requester (requester).")


def item(sku: str, name: str, category: str, unit_cost: float) -> dict[str, Any]:
    return {"sku": sku, "name": name, "category": category, "unit": "each", "unit_cost": unit_cost}


# What the seeded item master returns for "laptop" (sorted by SKU): accessories come first.
LAPTOPS = [
    item("BOX-LAP-SHIP", "Laptop shipping box with foam inserts", "packaging", 3.9),
    item("LAP-13-ULT", 'Laptop 13" Ultralight, 16 GB, 512 GB', "laptops", 1290.0),
    item("LAP-14-CHR", 'Chromebook 14" for shared kiosks', "laptops", 420.0),
    item("LAP-14-PRO", 'Laptop 14" Pro, 32 GB, 1 TB', "laptops", 1450.0),
    item("LAP-14-STD", 'Laptop 14" Standard, 16 GB, 512 GB', "laptops", 980.0),
    item("LAP-PSU-100W", "Laptop power adapter USB-C 100 W", "power", 59.0),
    item("SEC-LOCK-LAP", "Laptop cable lock, keyed", "security", 29.0),
]


def offer(supplier_id: str, sku: str, unit_price: float, lead_time_days: int) -> dict[str, Any]:
    description = f"{sku} from {supplier_id}"
    return {"supplier_id": supplier_id, "sku": sku, "description": description,
            "unit_price": unit_price, "lead_time_days": lead_time_days}  # fmt: skip


OFFERS = [
    offer("SUP-004", "LAP-14-PRO", 1412.5, 9),
    offer("SUP-002", "LAP-14-PRO", 1412.5, 5),
    offer("SUP-001", "LAP-14-PRO", 1412.5, 5),
    offer("SUP-003", "LAP-14-PRO", 1520.0, 1),
    offer("SUP-005", "LAP-14-STD", 899.0, 1),
]
INCIDENT = {
    "number": "INC0010003",
    "short_description": "Checkout returns 502 errors",
    "description": "Customers see HTTP 502 when paying.",
    "priority": 1,
    "state": "in_progress",
    "service": "checkout-web",
    "ci": "pay-app-01",
    "assignment_group": "Payments Ops",
    "assigned_to": "dave.incident",
    "caller": "carol.desk",
    "opened_at": "2026-11-18T09:12:00Z",
    "resolved_at": None,
    "resolution_code": None,
    "resolution_notes": None,
    "work_notes": [
        {"author": "carol.desk", "at": "2026-11-18T09:20:00Z", "text": "Raised from monitoring alert."},
        {"author": "dave.incident", "at": "2026-11-18T10:05:00Z", "text": "Rolled back payments-api 4.2."},
    ],
}


@pytest.fixture
def planner() -> OfflinePlanner:
    return OfflinePlanner()


def ask(text: str) -> list[BaseMessage]:
    return [SYSTEM, HumanMessage(content=text)]


def reply(planner: OfflinePlanner, messages: list[BaseMessage]) -> AIMessage:
    message = planner.invoke(messages)
    assert isinstance(message, AIMessage)
    return message


def answered(
    messages: list[BaseMessage], call_message: AIMessage, result: Any, *, status: str = "success"
) -> list[BaseMessage]:
    """``messages`` plus the planner's tool-call message and one ToolMessage answering its call."""
    (call,) = call_message.tool_calls
    content = result if isinstance(result, str) else json.dumps(result)
    return [
        *messages,
        call_message,
        ToolMessage(content=content, tool_call_id=call["id"], name=call["name"], status=status),
    ]


def only_call(message: AIMessage) -> tuple[str, dict[str, Any], str]:
    assert message.content == ""
    (call,) = message.tool_calls
    assert call["id"] is not None
    return call["name"], call["args"], call["id"]


@pytest.mark.parametrize(
    ("text", "tool", "args"),
    [
        ("summarise INC0010003", "itsm_get_incident", {"number": "INC0010003"}),
        ("What's going on with inc0010007?", "itsm_get_incident", {"number": "INC0010007"}),
        ("any update on INC0010047?", "itsm_get_incident", {"number": "INC0010047"}),
        (
            "add a note to INC0010003 saying the fix is deployed",
            "itsm_add_work_note",
            {"number": "INC0010003", "text": "the fix is deployed"},
        ),
        (
            "how many SSD-1TB-NVME in AMS-1?",
            "inventory_get_stock",
            {"sku": "SSD-1TB-NVME", "warehouse": "AMS-1"},
        ),
        (
            "Check stock of SSD-1TB-NVME in Warsaw",
            "inventory_get_stock",
            {"sku": "SSD-1TB-NVME", "warehouse": "WAW-1"},
        ),
        ("stock of MON-27-4K", "inventory_get_stock", {"sku": "MON-27-4K"}),
        ("check stock of laptops in Berlin", "inventory_search_items", {"text": "laptop", "limit": 50}),
        (
            "order 40 laptops for the Berlin office",
            "inventory_search_items",
            {"text": "laptop", "limit": 50},
        ),
        ("buy 5 x MON-27-4K", "procurement_search_catalogue", {"sku": "MON-27-4K", "limit": 50}),
        (
            "move 10 SSD-1TB-NVME from AMS-1 to BER-2",
            "inventory_transfer_stock",
            {
                "sku": "SSD-1TB-NVME",
                "from_warehouse": "AMS-1",
                "to_warehouse": "BER-2",
                "quantity": 10,
                "reason": "Rebalancing stock from AMS-1 to BER-2, requested in chat",
            },
        ),
        (
            "Transfer 4 MON-27-4K to London from Madrid because the London office opens a new floor",
            "inventory_transfer_stock",
            {
                "sku": "MON-27-4K",
                "from_warehouse": "MAD-1",
                "to_warehouse": "LON-1",
                "quantity": 4,
                "reason": "the London office opens a new floor",
            },
        ),
        (
            "open a change to restart payments-api tonight",
            "itsm_create_change_request",
            {
                "ci": "payments-api",
                "short_description": "Restart payments-api tonight",
                "description": "Requested in chat: open a change to restart payments-api tonight",
                "risk": "moderate",
            },
        ),
        (
            "write off 3 damaged MON-27-4K at MAD-1",
            "inventory_adjust_stock",
            {
                "sku": "MON-27-4K",
                "warehouse": "MAD-1",
                "delta": -3,
                "kind": "write_off",
                "reason": "Damaged units written off, requested in chat",
            },
        ),
    ],
)
def test_each_intent_starts_with_the_exact_tool_call(
    planner: OfflinePlanner, text: str, tool: str, args: dict[str, Any]
) -> None:
    name, got_args, call_id = only_call(reply(planner, ask(text)))

    assert (name, got_args) == (tool, args)
    assert call_id.startswith("call_") and call_id.endswith("_1_0")


def test_incident_summary_is_written_from_the_record(planner: OfflinePlanner) -> None:
    messages = ask("summarise INC0010003")
    answer = reply(planner, answered(messages, reply(planner, messages), INCIDENT))

    assert answer.tool_calls == []
    text = answer.text
    for expected in (
        "INC0010003",
        "Checkout returns 502 errors",
        "in progress",
        "P1 (critical)",
        "checkout-web",
    ):
        assert expected in text
    assert "dave.incident (Payments Ops)" in text
    assert text.index("Rolled back payments-api 4.2.") < text.index("Raised from monitoring alert.")


def test_resolved_incident_summary_states_the_resolution(planner: OfflinePlanner) -> None:
    resolved = INCIDENT | {
        "state": "resolved",
        "resolved_at": "2026-11-18T11:00:00Z",
        "resolution_code": "workaround",
        "resolution_notes": "Rolled back to 4.1; root cause under investigation.",
    }
    messages = ask("what's going on with INC0010003?")
    answer = reply(planner, answered(messages, reply(planner, messages), resolved))

    assert "Resolution (2026-11-18 11:00): workaround — Rolled back to 4.1" in answer.text


def test_stock_by_name_searches_then_reads_the_best_match(planner: OfflinePlanner) -> None:
    messages = ask("check stock of standard laptops in Berlin")
    search = reply(planner, messages)
    assert only_call(search)[:2] == ("inventory_search_items", {"text": "laptop", "limit": 50})

    messages = answered(messages, search, LAPTOPS)
    get_stock = reply(planner, messages)
    name, args, call_id = only_call(get_stock)
    assert (name, args, call_id) == (
        "inventory_get_stock",
        {"sku": "LAP-14-STD", "warehouse": "BER-2"},
        "call_stock_2_1",
    )

    level = {"sku": "LAP-14-STD", "warehouse": "BER-2", "on_hand": 12, "reserved": 4, "reorder_point": 10}
    answer = reply(planner, answered(messages, get_stock, [level | {"available": 8}]))
    assert answer.tool_calls == []
    assert 'LAP-14-STD (Laptop 14" Standard, 16 GB, 512 GB) at BER-2' in answer.text
    assert "12 on hand, 4 reserved, 8 available (reorder point 10, reorder now)" in answer.text


def test_stock_in_every_warehouse_lists_each(planner: OfflinePlanner) -> None:
    messages = ask("stock of MON-27-4K")
    levels = [
        {
            "sku": "MON-27-4K",
            "warehouse": "AMS-1",
            "on_hand": 30,
            "reserved": 0,
            "reorder_point": 5,
            "available": 30,
        },
        {
            "sku": "MON-27-4K",
            "warehouse": "MAD-1",
            "on_hand": 7,
            "reserved": 2,
            "reorder_point": 0,
            "available": 5,
        },
    ]
    answer = reply(planner, answered(messages, reply(planner, messages), levels))

    assert "- AMS-1: 30 on hand, 0 reserved, 30 available (reorder point 5)" in answer.text
    assert "- MAD-1: 7 on hand, 2 reserved, 5 available" in answer.text


def test_order_takes_the_cheapest_offer_then_shortest_lead_time_then_supplier_id(
    planner: OfflinePlanner,
) -> None:
    messages = ask("order 40 laptops for the Berlin office on CC-ENGINEERING")
    messages = answered(messages, reply(planner, messages), LAPTOPS)
    search = reply(planner, messages)
    assert only_call(search)[:2] == ("procurement_search_catalogue", {"sku": "LAP-14-PRO", "limit": 50})

    messages = answered(messages, search, OFFERS)
    create = reply(planner, messages)
    name, args, call_id = only_call(create)
    assert name == "procurement_create_purchase_order"
    assert call_id == "call_order_3_2"
    assert args == {
        "supplier_id": "SUP-001",
        "cost_centre": "CC-ENGINEERING",
        "lines": [{"sku": "LAP-14-PRO", "quantity": 40, "unit_price": 1412.5}],
        "total_amount": 56500.0,
    }

    po = {
        "number": "PO-2026-0007",
        "supplier_id": "SUP-001",
        "cost_centre": "CC-ENGINEERING",
        "requester": "alice.requester",
        "lines": [{"sku": "LAP-14-PRO", "quantity": 40, "unit_price": 1412.5, "line_total": 56500.0}],
        "total_amount": 56500.0,
        "currency": "EUR",
        "state": "submitted",
        "created_at": "2026-11-18T09:00:00Z",
    }
    answer = reply(planner, answered(messages, create, po))
    assert answer.tool_calls == []
    assert (
        "PO-2026-0007" in answer.text and "56,500.00 EUR" in answer.text and "CC-ENGINEERING" in answer.text
    )


def test_order_by_sku_defaults_to_the_it_ops_cost_centre(planner: OfflinePlanner) -> None:
    messages = ask("buy 5 x MON-27-4K")
    offers = [offer("SUP-007", "MON-27-4K", 333.33, 4)]
    _, args, _ = only_call(reply(planner, answered(messages, reply(planner, messages), offers)))

    assert args["cost_centre"] == "CC-IT-OPS"
    assert args["total_amount"] == 1666.65


def test_a_search_that_finds_nothing_tries_the_next_word_then_gives_up(planner: OfflinePlanner) -> None:
    messages = ask("order 2 ergonomic footrests")
    first = reply(planner, messages)
    assert only_call(first)[1] == {"text": "footrest", "limit": 50}

    messages = answered(messages, first, [])
    second = reply(planner, messages)
    assert only_call(second)[1] == {"text": "ergonomic", "limit": 50}

    answer = reply(planner, answered(messages, second, []))
    assert answer.tool_calls == []
    assert answer.text.startswith("I found no item matching 'ergonomic footrests'")


def test_an_item_nobody_offers_is_not_ordered(planner: OfflinePlanner) -> None:
    messages = ask("buy 5 x MON-27-4K")
    answer = reply(planner, answered(messages, reply(planner, messages), []))

    assert answer.tool_calls == []
    assert (
        answer.text == "No active supplier offers MON-27-4K in the catalogue, so I did not create an order."
    )


def test_move_by_name_uses_the_searched_sku(planner: OfflinePlanner) -> None:
    messages = ask("move 5 laptops from Amsterdam to Berlin")
    messages = answered(messages, reply(planner, messages), LAPTOPS)
    transfer = reply(planner, messages)
    assert only_call(transfer)[1]["sku"] == "LAP-14-PRO"

    record = {
        "id": "TRF-000004",
        "sku": "LAP-14-PRO",
        "from_warehouse": "AMS-1",
        "to_warehouse": "BER-2",
        "quantity": 5,
    }
    answer = reply(planner, answered(messages, transfer, record))
    assert answer.text == "Moved 5 × LAP-14-PRO from AMS-1 to BER-2 (transfer TRF-000004)."


def test_write_off_change_and_note_answers(planner: OfflinePlanner) -> None:
    adjustment = {"id": "ADJ-000002", "sku": "MON-27-4K", "warehouse": "MAD-1", "delta": -3,
                  "kind": "write_off", "reason": "damaged", "on_hand_after": 17}  # fmt: skip
    change = {"number": "CHG0030004", "short_description": "Restart payments-api tonight",
              "ci": "payments-api", "risk": "moderate", "state": "draft"}  # fmt: skip
    cases = [
        (
            "write off 3 damaged MON-27-4K at MAD-1",
            adjustment,
            "Wrote off 3 × MON-27-4K at MAD-1 (adjustment ADJ-000002); 17 left on hand.",
        ),
        (
            "open a change to restart payments-api tonight",
            change,
            "Change request CHG0030004 is open for payments-api: “Restart payments-api tonight” "
            "(risk moderate, state draft).",
        ),
        (
            "add a note to INC0010003 saying the fix is deployed",
            INCIDENT,
            "Added a work note to INC0010003: “the fix is deployed”.",
        ),
    ]
    for text, result, expected in cases:
        messages = ask(text)
        assert reply(planner, answered(messages, reply(planner, messages), result)).text == expected


@pytest.mark.parametrize(
    ("tool_text", "status", "expected"),
    [
        (
            "Refused by policy (rule no-big-transfers): transfers above 5000 EUR are not allowed.",
            "error",
            "policy refused it. It said: “Refused by policy (rule no-big-transfers): transfers above",
        ),
        (
            "Rejected by frank.warehouse: Berlin has enough SSDs this month.",
            "error",
            "the request was rejected. It said: “Rejected by frank.warehouse: Berlin has enough SSDs",
        ),
        (
            '{"status": "pending", "message": "Pending approval APR-12 by a warehouse_manager."}',
            "success",
            "waiting for approval; it runs once approved. It said: “Pending approval APR-12 by a",
        ),
        (
            "invalid arguments for inventory_transfer_stock: quantity: Input should be greater than 0",
            "error",
            "the arguments failed validation. It said: “invalid arguments for inventory_transfer_stock",
        ),
        ("Dry run: would need approval by warehouse_manager.", "success", "Dry run, nothing was changed"),
        ("insufficient stock of SSD-1TB-NVME at AMS-1: requested 10, available 3", "error", "available 3”"),
    ],
)
def test_a_call_that_did_not_run_is_reported_with_its_reason(
    planner: OfflinePlanner, tool_text: str, status: str, expected: str
) -> None:
    messages = ask("move 10 SSD-1TB-NVME from AMS-1 to BER-2")
    answer = reply(planner, answered(messages, reply(planner, messages), tool_text, status=status))

    assert answer.tool_calls == []
    assert answer.text.startswith(
        (
            "I could not move 10 × SSD-1TB-NVME from AMS-1 to BER-2",
            "I did not move",
            "The request to move",
            "Dry run",
        )
    )
    assert expected in answer.text


@pytest.mark.parametrize(
    "text",
    [
        "resolve INC0010003 as fixed",
        "update INC0010047 to priority 1",
        "set the reorder point of SSD-1TB-NVME at AMS-1 to 20",
        "how many incidents are open?",
        "what's the weather in Berlin?",
        "cancel PO-2026-0001",
        "hello",
        "",
    ],
)
def test_other_requests_get_the_needs_an_llm_answer(planner: OfflinePlanner, text: str) -> None:
    answer = reply(planner, ask(text))

    assert answer.tool_calls == []
    assert "no LLM is configured" in answer.text and "OPENAI_API_KEY" in answer.text
    assert "order 40 laptops for the Berlin office" in answer.text


def test_a_request_missing_a_parameter_says_what_is_missing(planner: OfflinePlanner) -> None:
    answer = reply(planner, ask("please order some laptops"))

    assert answer.tool_calls == []
    assert answer.text.startswith("To order N of an item I still need the quantity.")


def test_same_messages_same_reply_and_ids_stay_unique_across_turns(planner: OfflinePlanner) -> None:
    first_turn = ask("summarise INC0010003")
    call = reply(planner, first_turn)
    repeat = reply(planner, first_turn)
    assert (repeat.content, repeat.tool_calls) == (call.content, call.tool_calls)

    thread = answered(first_turn, call, INCIDENT)
    thread += [reply(planner, thread), HumanMessage(content="summarise INC0010003")]
    again = reply(planner, thread)

    assert only_call(call)[2] == "call_incident_1_0"
    assert only_call(again)[2] == "call_incident_1_2"


def test_bind_tools_returns_an_invokable_model_that_only_calls_bound_tools(planner: OfflinePlanner) -> None:
    def get_incident(number: str) -> str:
        """Get one incident."""
        return number

    bound = planner.bind_tools([StructuredTool.from_function(get_incident, name="itsm_get_incident")],
                               parallel_tool_calls=True)  # fmt: skip

    assert only_call(bound.invoke(ask("summarise INC0010003")))[0] == "itsm_get_incident"
    refused = bound.invoke(ask("how many SSD-1TB-NVME in AMS-1?"))
    assert refused.tool_calls == []
    assert "inventory_get_stock" in refused.text


# --- against the local reference systems -----------------------------------------------------------

ACTOR = "ivan.ops"


def run_locally(planner: OfflinePlanner, text: str, systems: Any) -> tuple[list[str], str]:
    """Run every tool call the planner makes through the real specs on ``systems``; the tools
    called and the final answer."""
    catalogue = pytest.importorskip("tools.catalogue", reason="tools.catalogue is not written yet")
    registry = pytest.importorskip("tools.registry", reason="tools.registry is not written yet")
    spec_module = pytest.importorskip("tools.spec")
    specs = {spec.name: spec for spec in catalogue.build_catalogue()}
    messages, called = ask(text), list[str]()
    for _ in range(6):
        message = reply(planner, messages)
        messages.append(message)
        if not message.tool_calls:
            return called, message.text
        for call in message.tool_calls:
            ctx = spec_module.CallContext(systems=systems, actor_id=ACTOR, idempotency_key=f"t-{call['id']}")
            result = registry.run(specs[call["name"]], call["args"], ctx)
            messages.append(ToolMessage(content=registry.result_to_json(result), tool_call_id=call["id"]))
            called.append(call["name"])
    raise AssertionError("the planner did not finish within 6 turns")


@pytest.fixture
def systems(tmp_path: Path) -> Any:
    local = pytest.importorskip("tools.local", reason="tools.local is not written yet")
    return local.open_local_systems(tmp_path / "s.db")


def test_stock_of_laptops_in_berlin_on_the_local_systems(planner: OfflinePlanner, systems: Any) -> None:
    called, answer = run_locally(planner, "check stock of laptops in Berlin", systems)

    assert called == ["inventory_search_items", "inventory_get_stock"]
    (level,) = systems.inventory.get_stock("LAP-14-PRO", "BER-2")
    expected = f"{level.on_hand} on hand, {level.reserved} reserved, {level.available} available"
    assert "LAP-14-PRO" in answer and expected in answer


def test_order_of_laptops_on_the_local_systems(planner: OfflinePlanner, systems: Any) -> None:
    before = {order.number for order in systems.procurement.list_purchase_orders(limit=1000)}
    called, answer = run_locally(planner, "order 40 laptops for the Berlin office", systems)

    assert called == [
        "inventory_search_items",
        "procurement_search_catalogue",
        "procurement_create_purchase_order",
    ]
    (order,) = [o for o in systems.procurement.list_purchase_orders(limit=1000) if o.number not in before]
    offers = systems.procurement.search_catalogue(sku="LAP-14-PRO")
    cheapest = min(offers, key=lambda o: (o.unit_price, o.lead_time_days, o.supplier_id))
    assert (order.supplier_id, order.cost_centre) == (cheapest.supplier_id, "CC-IT-OPS")
    assert [(line.sku, line.quantity, line.unit_price) for line in order.lines] == [
        ("LAP-14-PRO", 40, cheapest.unit_price)
    ]
    assert f"Purchase order {order.number} created" in answer
