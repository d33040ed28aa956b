"""Quantities the offline planner reads from a request (issue 9, defect 2).

Pins: whatever the planner proposes carries exactly the quantity the user wrote — digits with or
without thousands separators (comma, space, no-break or thin space, apostrophe) or number words;
zero, negative, fractional, too large, unreadable or ambiguous quantities (``1.200``), two different
quantities and amounts of money get an answer that says what is wrong and no tool call at all; an
order whose total would exceed what one purchase order may total is not proposed either.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, BaseMessage

from agent.offline.planner import OfflinePlanner
from tests.agent.test_offline_planner import (
    LAPTOPS,
    OFFERS,
    answered,
    ask,
    offer,
    only_call,
    reply,
    run_locally,
)
from tools.catalogue.inventory import MAX_QUANTITY
from tools.catalogue.procurement import MAX_AMOUNT

PLANNER = OfflinePlanner()
MOUSE_PRICE = 12.5
CATALOGUE = [
    *OFFERS,
    offer("SUP-007", "MON-27-4K", 333.33, 4),
    offer("SUP-006", "MSE-WL-STD", MOUSE_PRICE, 2),
]
CANNED: dict[str, Any] = {"inventory_search_items": LAPTOPS, "procurement_search_catalogue": CATALOGUE}
CHANGING = {"procurement_create_purchase_order", "inventory_transfer_stock", "inventory_adjust_stock"}


def plan(text: str) -> tuple[str | None, dict[str, Any], str]:
    """Drive the planner over canned search results up to its first call that changes something:
    that call's tool and arguments, or ``None`` and the planner's answer when it makes none."""
    messages: list[BaseMessage] = ask(text)
    for _ in range(5):
        message = reply(PLANNER, messages)
        if not message.tool_calls:
            return None, {}, message.text
        name, args, _ = only_call(message)
        if name in CHANGING:
            return name, args, ""
        messages = answered(messages, message, CANNED[name])
    raise AssertionError("the planner kept searching")


def quantity_of(tool: str | None, args: dict[str, Any]) -> int:
    if tool == "procurement_create_purchase_order":
        (line,) = args["lines"]
        assert args["total_amount"] == round(line["quantity"] * line["unit_price"], 2)
        return int(line["quantity"])
    if tool == "inventory_adjust_stock":
        return -int(args["delta"])
    assert tool == "inventory_transfer_stock", f"no quantity-bearing call: {tool}"
    return int(args["quantity"])


def no_call(text: str) -> str:
    """The planner's answer to ``text``, asserting it proposes no tool call (not even a search)."""
    message = reply(PLANNER, ask(text))
    assert isinstance(message, AIMessage) and message.tool_calls == [], message.tool_calls
    return message.text


@pytest.mark.parametrize(
    ("text", "quantity"),
    [
        ("order 1,200 laptops for the Berlin office", 1200),
        ("order 1 200 laptops for the Berlin office", 1200),
        ("order 1\u00a0200 laptops for the Berlin office", 1200),
        ("order 1\u202f200 laptops for the Berlin office", 1200),
        ("order 1'200 laptops for the Berlin office", 1200),
        ("order 1200 laptops for the Berlin office", 1200),
        ("order forty laptops for the Berlin office", 40),
        ("order Twenty-Five laptops for the Berlin office", 25),
        ("order one hundred and twenty laptops for the Berlin office", 120),
        ("order a dozen laptops for the Berlin office", 12),
        ("order half a dozen laptops for the Berlin office", 6),
        ("order 40 (forty) laptops for the Berlin office", 40),
        ("order 40 laptops for the Berlin office because 3 broke and 37 people join", 40),
        ("buy 5 x MON-27-4K", 5),
        ("buy 5x MON-27-4K", 5),
        ("move 100,000 SSD-1TB-NVME from AMS-1 to BER-2", MAX_QUANTITY),
        ("move fifteen hundred SSD-1TB-NVME from AMS-1 to BER-2", 1500),
        ("move 1,200 SSD-1TB-NVME from AMS-1 to BER-2", 1200),
        ("write off twelve damaged MON-27-4K at AMS-1", 12),
        ("write off 3 damaged MON-27-4K at AMS-1", 3),
    ],
)
def test_the_proposed_call_carries_the_quantity_the_user_wrote(text: str, quantity: int) -> None:
    tool, args, answer = plan(text)

    assert tool is not None, answer
    assert quantity_of(tool, args) == quantity


WHOLE = f"a whole number of units, at least 1 and at most {MAX_QUANTITY:,}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("order -5 laptops for the Berlin office", f"I can only order {WHOLE}; you wrote -5."),
        ("order 0 laptops for the Berlin office", f"I can only order {WHOLE}; you wrote 0."),
        ("order zero laptops for the Berlin office", f"I can only order {WHOLE}; you wrote zero."),
        ("order minus five laptops", f"I can only order {WHOLE}; you wrote minus five."),
        ("order 1000000 laptops for the Berlin office", f"I can only order {WHOLE}; you wrote 1000000."),
        ("order 1,000,000 laptops", f"I can only order {WHOLE}; you wrote 1,000,000."),
        ("order 99999999999999999999999 laptops", "you wrote 99999999999999999999999."),
        ("order one million laptops", f"I can only order {WHOLE}; you wrote one million."),
        ("order 1,5 laptops for the Berlin office", f"I can only order {WHOLE}; you wrote 1,5."),
        ("order 2.5 laptops", f"I can only order {WHOLE}; you wrote 2.5."),
        ("order 1.200 laptops for the Berlin office", "“1.200” could mean 1200 or 1.2"),
        ("order 1,20 laptops", f"I can only order {WHOLE}; you wrote 1,20."),
        ("order 12,34,567 laptops", "I cannot read “12,34,567” as a number of units"),
        ("order 2 27 inch monitors", "I cannot read “2 27” as a number of units"),
        ("order five twenty laptops", "I cannot read “five twenty” as a number of units"),
        ("order 40 laptops and 50 monitors", "You wrote more than one quantity (40 and 50)"),
        ("order forty laptops, no, 4", "You wrote more than one quantity (forty and 4)"),
        ("order 40 laptops for 50,000 EUR", "not by an amount of money (you wrote 50,000 EUR)"),
        ("order €5,000 of laptops", "not by an amount of money (you wrote €5,000)"),
        ("move 0 SSD-1TB-NVME from AMS-1 to BER-2", f"I can only move {WHOLE}; you wrote 0."),
        ("move -10 SSD-1TB-NVME from AMS-1 to BER-2", f"I can only move {WHOLE}; you wrote -10."),
        ("write off −3 damaged MON-27-4K at AMS-1", f"I can only write off {WHOLE}; you wrote −3."),
        ("write off 1.5 damaged MON-27-4K at AMS-1", f"I can only write off {WHOLE}; you wrote 1.5."),
    ],
)
def test_a_quantity_that_cannot_be_acted_on_is_questioned_and_nothing_is_called(
    text: str, expected: str
) -> None:
    answer = no_call(text)

    assert expected in answer
    assert "For example: “" in answer


def test_a_request_without_any_quantity_still_asks_for_it() -> None:
    assert no_call("please order some laptops").startswith("To order N of an item I still need the quantity.")


def test_an_order_above_the_largest_purchase_order_total_is_not_proposed() -> None:
    tool, _, answer = plan("order 10,000 laptops for the Berlin office")

    assert tool is None
    assert "10,000 × LAP-14-PRO" in answer and "14,125,000.00 EUR" in answer
    assert f"{MAX_AMOUNT:,.2f} EUR" in answer


def test_an_order_with_a_thousands_separator_on_the_local_systems_is_for_exactly_that_many(
    systems: Any,
) -> None:
    before = {order.number for order in systems.procurement.list_purchase_orders(limit=1000)}
    called, answer = run_locally(PLANNER, "order 1,200 mice for the Berlin office", systems)

    assert called[-1] == "procurement_create_purchase_order", answer
    (order,) = [o for o in systems.procurement.list_purchase_orders(limit=1000) if o.number not in before]
    assert [(line.sku, line.quantity) for line in order.lines] == [("MSE-WL-STD", 1200)]
    assert f"Purchase order {order.number} created" in answer and "1200 × MSE-WL-STD" in answer


@pytest.fixture
def systems(tmp_path: Path) -> Any:
    local = pytest.importorskip("tools.local", reason="tools.local is not written yet")
    return local.open_local_systems(tmp_path / "s.db")


# --- properties over number formats ----------------------------------------------------------------

_UNITS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
]
_UNITS += ["sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def in_words(n: int, *, joiner: str, with_and: bool) -> str:
    """``n`` (1..999) in English words, written independently of the planner's parser."""
    hundreds, rest = divmod(n, 100)
    parts = [f"{_UNITS[hundreds]} hundred"] if hundreds else []
    if rest and parts and with_and:
        parts.append("and")
    if rest >= 20:
        parts.append(_TENS[rest // 10] + (joiner + _UNITS[rest % 10] if rest % 10 else ""))
    elif rest:
        parts.append(_UNITS[rest])
    return " ".join(parts)


def grouped(n: int, separator: str) -> str:
    return f"{n:,}".replace(",", separator)


SEPARATORS = [",", " ", "\u00a0", "\u202f", "\u2009", "'"]
REQUESTS: list[Callable[[str], str]] = [
    lambda q: f"move {q} SSD-1TB-NVME from AMS-1 to BER-2",
    lambda q: f"write off {q} damaged MON-27-4K at AMS-1",
    lambda q: f"buy {q} x MSE-WL-STD",
    lambda q: f"Please order {q} MSE-WL-STD for the Berlin office on CC-ENGINEERING",
]


@st.composite
def written(draw: st.DrawFn, n: int) -> str:
    """``n`` rendered the way a person might write it."""
    formats = ["plain", "grouped"] + (["words"] if 1 <= n <= 999 else [])
    form = draw(st.sampled_from(formats))
    if form == "plain":
        return str(n)
    if form == "grouped":
        return grouped(n, draw(st.sampled_from(SEPARATORS)))
    return in_words(n, joiner=draw(st.sampled_from(["-", " "])), with_and=draw(st.booleans()))


@settings(max_examples=300, deadline=None)
@given(data=st.data(), n=st.integers(1, MAX_QUANTITY), request=st.sampled_from(REQUESTS))
def test_any_rendering_of_a_valid_quantity_is_proposed_exactly(
    data: st.DataObject, n: int, request: Callable[[str], str]
) -> None:
    text = request(data.draw(written(n)))

    tool, args, answer = plan(text)

    assert tool is not None, (text, answer)
    assert quantity_of(tool, args) == n, text


@settings(max_examples=200, deadline=None)
@given(
    n=st.one_of(st.integers(max_value=0), st.integers(min_value=MAX_QUANTITY + 1)),
    separator=st.sampled_from(["", *SEPARATORS]),
    request=st.sampled_from(REQUESTS),
)
def test_a_quantity_out_of_range_is_never_proposed(
    n: int, separator: str, request: Callable[[str], str]
) -> None:
    rendered = f"{'-' if n < 0 else ''}{grouped(abs(n), separator) if separator else abs(n)}"

    answer = no_call(request(rendered))

    assert f"you wrote {rendered}." in answer


@st.composite
def malformed(draw: st.DrawFn) -> str:
    """A rendering of a number that is not one whole count: a broken digit group, mixed separators,
    a decimal part, or a single dot group that could be a decimal point."""
    n = draw(st.integers(1000, 10 * MAX_QUANTITY))
    separator = draw(st.sampled_from(SEPARATORS))
    head, *groups = f"{n:,}".split(",")
    broken = draw(st.sampled_from(["short", "long", "mixed", "decimal", "dot"]))
    if broken == "short":
        groups[-1] = groups[-1][:-1]
    elif broken == "long":
        groups[-1] += str(draw(st.integers(0, 9)))
    elif broken == "mixed":
        other = draw(
            st.sampled_from([s for s in SEPARATORS if s.isspace() != separator.isspace() and s != separator])
        )
        groups = groups if len(groups) > 1 else [*groups, "000"]
        return head + separator + groups[0] + "".join(other + group for group in groups[1:])
    elif broken == "decimal":
        mark = draw(st.sampled_from([".", ","]))
        return f"{draw(st.integers(0, 999))}{mark}{draw(st.integers(1, 99)):02d}"
    else:
        return f"{head}.{groups[0]}"
    return separator.join([head, *groups])


@settings(max_examples=200, deadline=None)
@given(rendered=malformed(), request=st.sampled_from(REQUESTS))
def test_a_malformed_or_ambiguous_number_is_never_proposed(
    rendered: str, request: Callable[[str], str]
) -> None:
    answer = no_call(request(rendered))

    assert rendered in answer
