"""The offline planner's recipes: for each intent, the next tool call or the final answer.

Each recipe looks at the steps already taken for the current request (tool calls and their
outcomes) and returns either one :class:`Call` or the answer text. A step that did not succeed
ends the recipe with an answer that says why, so nothing is retried behind the user's back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from agent.offline import answers
from agent.offline.intents import Intent, Request, reason_given
from agent.offline.outcomes import Step
from tools.catalogue.procurement import MAX_AMOUNT

# Alternative words tried when a search finds nothing ("ssd 1tb" → "1tb", then "ssd").
MAX_SEARCHES = 3
SEARCH_LIMIT = 50

# The model staff mean by a generic word ("order 40 laptops"), when the search finds it; a more
# specific request ("standard laptops", a SKU) wins over it.
HOUSE_STANDARD: dict[str, str] = {
    "laptop": "LAP-14-PRO",
    "notebook": "LAP-14-PRO",
    "ssd": "SSD-1TB-NVME",
    "monitor": "MON-27-4K",
    "screen": "MON-27-4K",
    "dock": "DOCK-USBC-90W",
    "keyboard": "KBD-WL-US",
    "mouse": "MSE-WL-STD",
    "headset": "HDS-USB-MONO",
    "pallet": "PAL-EUR-NEW",
}


@dataclass(frozen=True, kw_only=True)
class Call:
    tool: str
    args: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class _Item:
    sku: str
    record: dict[str, Any]


Move = Call | str


def next_move(request: Request, steps: Sequence[Step]) -> Move:
    """The next tool call for ``request`` given ``steps``, or the final answer."""
    if request.missing:
        return answers.missing(request)
    if steps and not steps[-1].outcome.ok:
        return answers.failure(steps[-1])
    move = _RECIPES[request.intent](request, steps)
    return move + answers.edited(steps[-1]) if isinstance(move, str) and steps else move


def _incident(request: Request, steps: Sequence[Step]) -> Move:
    incident = _result(steps, "itsm_get_incident")
    if incident is None:
        return Call(tool="itsm_get_incident", args={"number": request.number})
    return answers.incident(incident)


def _note(request: Request, steps: Sequence[Step]) -> Move:
    incident = _result(steps, "itsm_add_work_note")
    if incident is None:
        return Call(tool="itsm_add_work_note", args={"number": request.number, "text": request.note})
    return answers.note(request, incident)


def _change(request: Request, steps: Sequence[Step]) -> Move:
    change = _result(steps, "itsm_create_change_request")
    if change is not None:
        return answers.change(change)
    args = {
        "ci": request.ci,
        "short_description": request.summary,
        "description": f"Requested in chat: {request.text.strip()}"[:4000],
        "risk": "moderate",
    }
    return Call(tool="itsm_create_change_request", args=args)


def _stock(request: Request, steps: Sequence[Step]) -> Move:
    item = _item(request, steps)
    if not isinstance(item, _Item):
        return item
    levels = _result(steps, "inventory_get_stock")
    if levels is None:
        args = {"sku": item.sku} | ({"warehouse": request.warehouse} if request.warehouse else {})
        return Call(tool="inventory_get_stock", args=args)
    return answers.stock(request, item.record, levels)


def _move(request: Request, steps: Sequence[Step]) -> Move:
    item = _item(request, steps)
    if not isinstance(item, _Item):
        return item
    transfer = _result(steps, "inventory_transfer_stock")
    if transfer is not None:
        return answers.transfer(transfer)
    default = f"Rebalancing stock from {request.from_warehouse} to {request.to_warehouse}, requested in chat"
    args = {
        "sku": item.sku,
        "from_warehouse": request.from_warehouse,
        "to_warehouse": request.to_warehouse,
        "quantity": request.quantity,
        "reason": _reason(request, default),
    }
    return Call(tool="inventory_transfer_stock", args=args)


def _write_off(request: Request, steps: Sequence[Step]) -> Move:
    item = _item(request, steps)
    if not isinstance(item, _Item):
        return item
    adjustment = _result(steps, "inventory_adjust_stock")
    if adjustment is not None:
        return answers.write_off(adjustment)
    args = {
        "sku": item.sku,
        "warehouse": request.warehouse,
        "delta": -(request.quantity or 0),
        "kind": "write_off",
        "reason": _reason(request, "Damaged units written off, requested in chat"),
    }
    return Call(tool="inventory_adjust_stock", args=args)


def _order(request: Request, steps: Sequence[Step]) -> Move:
    item = _item(request, steps)
    if not isinstance(item, _Item):
        return item
    offers = _result(steps, "procurement_search_catalogue")
    if offers is None:
        return Call(tool="procurement_search_catalogue", args={"sku": item.sku, "limit": SEARCH_LIMIT})
    active = _active_offers(_as_list(offers), item.sku)
    if not active:
        return answers.no_offer(item.sku)
    offer = min(active, key=_offer_order)
    order = _result(steps, "procurement_create_purchase_order")
    if order is not None:
        return answers.order(offer, order, compared=len(active))
    quantity, price = request.quantity or 0, float(offer["unit_price"])
    if round(quantity * price, 2) > MAX_AMOUNT:
        return answers.over_order_limit(item.sku, quantity, price, MAX_AMOUNT)
    args = {
        "supplier_id": offer["supplier_id"],
        "cost_centre": request.cost_centre,
        "lines": [{"sku": item.sku, "quantity": quantity, "unit_price": price}],
        "total_amount": round(quantity * price, 2),
    }
    return Call(tool="procurement_create_purchase_order", args=args)


def _item(request: Request, steps: Sequence[Step]) -> _Item | Move:
    """The item the user means: their SKU, or the best match of an item master search."""
    if request.sku:
        return _Item(sku=request.sku, record={"sku": request.sku})
    words = search_words(request)
    searches = _results(steps, "inventory_search_items")
    best = _best(searches[-1], words) if searches else None
    if best is not None:
        return _Item(sku=str(best["sku"]), record=best)
    if len(searches) < min(len(words), MAX_SEARCHES):
        return Call(tool="inventory_search_items", args={"text": words[len(searches)], "limit": SEARCH_LIMIT})
    return answers.no_item(request)


def search_words(request: Request) -> list[str]:
    """Words to search for, most telling first: the last word of an English noun phrase is its head."""
    words = [singular(word) for word in reversed(request.item_words) if len(word) > 1]
    return list(dict.fromkeys(words))


def singular(word: str) -> str:
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "sses")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us")) and len(word) > 2:
        return word[:-1]
    return word


_IRREGULAR = {"mice": "mouse", "people": "person"}


def _best(records: list[Any], words: Sequence[str]) -> dict[str, Any] | None:
    """The item that matches most of the user's words; among equals the house standard, then one
    whose category or name starts with the searched word, then a standard model, then the backend's
    order."""
    candidates = [record for record in records if isinstance(record, dict) and record.get("sku")]
    if not candidates:
        return None
    return max(candidates, key=lambda record: _rank(record, words))


def _rank(record: dict[str, Any], words: Sequence[str]) -> tuple[int, bool, bool, bool, bool]:
    head = words[0]
    haystack = " ".join(str(record.get(key, "")) for key in ("sku", "name", "category")).lower()
    tokens = {part for word in words for part in (word, *word.split("-")) if len(part) > 1}
    category, name = str(record.get("category", "")).lower(), str(record.get("name", "")).lower()
    return (
        sum(1 for token in tokens if token in haystack),
        HOUSE_STANDARD.get(head) == record["sku"],
        category.startswith(head) or singular(category) == head,
        name.startswith(head),
        "standard" in name or "-STD" in str(record["sku"]),
    )


def _active_offers(records: list[Any], sku: str) -> list[dict[str, Any]]:
    return [
        offer
        for offer in records
        if isinstance(offer, dict)
        and offer.get("sku") == sku
        and offer.get("unit_price")
        and offer.get("active", True) is not False
    ]


def _offer_order(offer: dict[str, Any]) -> tuple[float, int, str]:
    """Cheapest first, then shortest lead time, then lowest supplier id."""
    return float(offer["unit_price"]), int(offer.get("lead_time_days") or 0), str(offer["supplier_id"])


def _results(steps: Sequence[Step], tool: str) -> list[list[Any]]:
    return [_as_list(step.outcome.data) for step in steps if step.tool == tool and step.outcome.ok]


def _result(steps: Sequence[Step], tool: str) -> Any:
    found = [step.outcome.data for step in steps if step.tool == tool and step.outcome.ok]
    return found[-1] if found else None


def _as_list(data: Any) -> list[Any]:
    return data if isinstance(data, list) else [data]


def _reason(request: Request, default: str) -> str:
    given = reason_given(request.text)
    return given if given and len(given) >= 5 else default


_RECIPES: dict[Intent, Callable[[Request, Sequence[Step]], Move]] = {
    Intent.INCIDENT: _incident,
    Intent.NOTE: _note,
    Intent.CHANGE: _change,
    Intent.STOCK: _stock,
    Intent.ORDER: _order,
    Intent.MOVE: _move,
    Intent.WRITE_OFF: _write_off,
}
