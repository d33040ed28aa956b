"""The offline planner's answers, written from tool results (JSON records as plain dicts)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.offline.intents import Intent, Request
from agent.offline.outcomes import Status, Step
from agent.offline.quantities import MAX_QUANTITY, Problem, QuantityIssue

CAPABILITIES = (
    ("summarise an incident", "summarise INC0010003"),
    ("check stock of an item at a site", "how many SSD-1TB-NVME in AMS-1?"),
    ("order N of an item", "order 40 laptops for the Berlin office"),
    ("move stock between warehouses", "move 10 SSD-1TB-NVME from AMS-1 to BER-2"),
    ("open a change for a CI", "open a change to restart payments-api tonight"),
    ("write off damaged stock", "write off 3 damaged MON-27-4K at AMS-1"),
    ("add a work note to an incident", "add a note to INC0010047 saying the fix is deployed"),
)
_EXAMPLES = {
    Intent.INCIDENT: CAPABILITIES[0],
    Intent.STOCK: CAPABILITIES[1],
    Intent.ORDER: CAPABILITIES[2],
    Intent.MOVE: CAPABILITIES[3],
    Intent.CHANGE: CAPABILITIES[4],
    Intent.WRITE_OFF: CAPABILITIES[5],
    Intent.NOTE: CAPABILITIES[6],
}
_PRIORITIES = {1: "critical", 2: "high", 3: "moderate", 4: "low"}
_QUOTE_LIMIT = 500


def needs_llm() -> str:
    lines = [
        "I am opslayer's offline planner: no LLM is configured, so I cannot handle that request.",
        "Set OPENAI_API_KEY (and, if needed, OPENAI_BASE_URL and OPSLAYER_MODEL) to use an LLM for it.",
        "",
        "Offline I can:",
    ]
    lines += [f"- {what}, e.g. “{example}”" for what, example in CAPABILITIES]
    return "\n".join(lines)


def missing(request: Request) -> str:
    """What the user still has to say; an issue with the quantity they wrote comes first."""
    what, example = _EXAMPLES[request.intent]
    issue = request.quantity_issue
    names = [name for name in request.missing if not (issue and name == "quantity")]
    parts = [quantity_issue(_VERBS.get(request.intent, "do"), issue)] if issue else []
    if names:
        needed = ", ".join(_MISSING_WORDS.get(name, name) for name in names)
        parts.append(f"I also still need {needed}." if issue else f"To {what} I still need {needed}.")
    return " ".join(parts) + f" For example: “{example}”."


_VERBS = {Intent.ORDER: "order", Intent.MOVE: "move", Intent.WRITE_OFF: "write off"}


def quantity_issue(verb: str, issue: QuantityIssue) -> str:
    """Why the quantity the user wrote cannot be acted on, quoting it."""
    first = issue.written[0]
    if issue.problem in (Problem.OUT_OF_RANGE, Problem.NOT_WHOLE):
        limits = f"a whole number of units, at least 1 and at most {MAX_QUANTITY:,}"
        return f"I can only {verb} {limits}; you wrote {first}."
    if issue.problem is Problem.AMBIGUOUS:
        decimal = first.rstrip("0").rstrip(".")
        return (
            f"“{first}” could mean {first.replace('.', '')} or {decimal}; "
            "write the number of units without the dot (e.g. 1200 or 1,200)."
        )
    if issue.problem is Problem.SEVERAL:
        return (
            f"You wrote more than one quantity ({first} and {issue.written[1]}); "
            f"tell me the one number of units to {verb}."
        )
    if issue.problem is Problem.AMOUNT:
        return (
            f"I {verb} by the number of units, not by an amount of money (you wrote {first}); "
            "tell me how many units."
        )
    return f"I cannot read “{first}” as a number of units; write it in digits (1200 or 1,200) or in words."


_MISSING_WORDS = {
    "item": "the item (a SKU such as SSD-1TB-NVME, or a name such as 'laptops')",
    "quantity": "the quantity",
    "warehouse": "the warehouse (AMS-1, BER-2, LON-1, MAD-1, WAW-1 or the city)",
    "from": "the warehouse to move from",
    "to": "a different warehouse to move to",
    "CI name": "the CMDB name of the configuration item (e.g. payments-api)",
    "note text": "the text of the note (“… saying <text>”)",
}


def failure(step: Step) -> str:
    """Say plainly why a step did not succeed, quoting what governance or the tool said.

    The call is described with the arguments that ran when the tool message names them: after an
    approver edited the call, those are what failed, not what was proposed.
    """
    ran = step.outcome.args if step.outcome.args is not None else step.args
    action = describe(step.tool, ran)
    if action != describe(step.tool, step.args):
        action += " (as edited at approval)"
    quoted = _quote(step.outcome.text)
    return {
        Status.REFUSED: f"I could not {action}: policy refused it. {quoted}",
        Status.REJECTED: f"I did not {action}: the request was rejected. {quoted}",
        Status.PENDING: f"The request to {action} is waiting for approval; it runs once approved. {quoted}",
        Status.INVALID: f"I could not {action}: the arguments failed validation. {quoted}",
        Status.DRY_RUN: f"Dry run, nothing was changed: I would {action}. {quoted}",
        Status.FAILED: f"I could not {action}: it failed. {quoted}",
        Status.OK: f"I could {action}.",
    }[step.outcome.status].strip()


# Writes whose record names everything :func:`describe` says about the call.
_RECORDED_WRITES = frozenset(
    {
        "itsm_create_change_request",
        "inventory_transfer_stock",
        "inventory_adjust_stock",
        "procurement_create_purchase_order",
    }
)


def edited(step: Step) -> str:
    """A note when the write that ran differs from the call proposed (an approver edited it), else "".

    The answer itself is written from the record, so it already states what ran; the note says why
    that is not what was asked for.
    """
    if step.tool not in _RECORDED_WRITES or not step.outcome.ok:
        return ""
    if describe(step.tool, _record(step.outcome.data)) == describe(step.tool, step.args):
        return ""
    return " An approver edited the request before approving it; the above is what ran."


def describe(tool: str, args: Mapping[str, Any]) -> str:
    """The tool call in words, for answers about calls that did not run."""
    a = dict(args)
    lines = a.get("lines") or [{}]
    line = lines[0] if isinstance(lines, list) and lines else {}
    texts = {
        "itsm_get_incident": f"look up {a.get('number')}",
        "itsm_add_work_note": f"add a work note to {a.get('number')}",
        "itsm_create_change_request": f"open a change request for {a.get('ci')}",
        "inventory_search_items": f"search the item master for '{a.get('text') or a.get('sku')}'",
        "inventory_get_stock": f"check the stock of {a.get('sku')}",
        "inventory_transfer_stock": (
            f"move {a.get('quantity')} × {a.get('sku')} "
            f"from {a.get('from_warehouse')} to {a.get('to_warehouse')}"
        ),
        "inventory_adjust_stock": (
            f"write off {abs(int(a.get('delta') or 0))} × {a.get('sku')} at {a.get('warehouse')}"
        ),
        "procurement_search_catalogue": (
            f"search the supplier catalogue for '{a.get('text') or a.get('sku')}'"
        ),
        "procurement_create_purchase_order": (
            f"order {line.get('quantity')} × {line.get('sku')} from {a.get('supplier_id')} "
            f"for {_money(a.get('total_amount'))} on {a.get('cost_centre')}"
        ),
    }
    return texts.get(tool, f"run {tool}")


def no_item(request: Request) -> str:
    return (
        f"I found no item matching '{request.item_label}' in the item master. "
        "Try the SKU (e.g. SSD-1TB-NVME) or another name."
    )


def over_order_limit(sku: str, quantity: int, unit_price: float, limit: float) -> str:
    total = round(quantity * unit_price, 2)
    return (
        f"I did not order {quantity:,} × {sku}: at {_money(unit_price)} each that is {_money(total)}, "
        f"more than the {_money(limit)} one purchase order may total. Tell me a smaller quantity."
    )


def no_offer(sku: str) -> str:
    return f"No active supplier offers {sku} in the catalogue, so I did not create an order."


def incident(record: Any) -> str:
    inc = _record(record)
    priority = int(inc.get("priority") or 0)
    lines = [
        f"{inc.get('number')} — {inc.get('short_description', '')}",
        f"State: {_words(inc.get('state'))} · Priority: P{priority} ({_PRIORITIES.get(priority, '?')})"
        f" · Service: {inc.get('service') or 'unknown'}" + (f" (CI {inc['ci']})" if inc.get("ci") else ""),
        f"Assigned to: {inc.get('assigned_to') or 'nobody yet'}"
        + (f" ({inc['assignment_group']})" if inc.get("assignment_group") else ""),
        f"Opened {_when(inc.get('opened_at'))} by {inc.get('caller')}.",
    ]
    if inc.get("description"):
        lines.append(_clip(str(inc["description"]), 300))
    lines += _notes(inc.get("work_notes") or [])
    if inc.get("resolution_code") or inc.get("resolved_at"):
        lines.append(
            f"Resolution ({_when(inc.get('resolved_at'))}): {_words(inc.get('resolution_code'))}"
            f" — {inc.get('resolution_notes') or 'no notes'}"
        )
    return "\n".join(lines)


def _notes(notes: list[Any]) -> list[str]:
    latest = sorted((n for n in notes if isinstance(n, dict)), key=lambda n: str(n.get("at")), reverse=True)[
        :3
    ]
    if not latest:
        return ["No work notes yet."]
    return ["Latest work notes:"] + [
        f"- {_when(n.get('at'))} {n.get('author')}: {_clip(str(n.get('text', '')), 200)}" for n in latest
    ]


def note(request: Request, record: Any) -> str:
    return f"Added a work note to {request.number}: “{request.note}”."


def change(record: Any) -> str:
    chg = _record(record)
    return (
        f"Change request {chg.get('number')} is open for {chg.get('ci')}: “{chg.get('short_description')}” "
        f"(risk {chg.get('risk')}, state {_words(chg.get('state'))})."
    )


def stock(request: Request, item: Mapping[str, Any], levels: Any) -> str:
    rows = [level for level in (levels if isinstance(levels, list) else [levels]) if isinstance(level, dict)]
    name = f"{item['sku']} ({item['name']})" if item.get("name") else str(item.get("sku"))
    matched = f" — best match for '{request.item_label}'" if not request.sku else ""
    if not rows:
        return f"No warehouse holds {name}{matched}."
    if len(rows) == 1:
        return f"Stock of {name} at {rows[0].get('warehouse')}{matched}: {_level(rows[0])}."
    return "\n".join([f"Stock of {name}{matched}:"] + [f"- {r.get('warehouse')}: {_level(r)}" for r in rows])


def _level(row: Mapping[str, Any]) -> str:
    on_hand, reserved = int(row.get("on_hand", 0)), int(row.get("reserved", 0))
    available = int(row.get("available", on_hand - reserved))
    text = f"{on_hand} on hand, {reserved} reserved, {available} available"
    reorder = int(row.get("reorder_point", 0))
    if reorder:
        text += f" (reorder point {reorder}{', reorder now' if available <= reorder else ''})"
    return text


def order(offer: Mapping[str, Any], record: Any, *, compared: int) -> str:
    po = _record(record)
    choice = "the only active offer" if compared == 1 else f"the cheapest of {compared} active offers"
    lines = po.get("lines") or [{}]
    line = lines[0] if isinstance(lines, list) and lines else {}
    # After an approver chose another supplier, the offer picked is no longer the one ordered from.
    who = "has" if offer.get("supplier_id") == po.get("supplier_id") else "was proposed:"
    return (
        f"Purchase order {po.get('number')} created ({_words(po.get('state'))}): "
        f"{line.get('quantity')} × {line.get('sku')} at {_money(line.get('unit_price'))} from "
        f"{po.get('supplier_id')}, total {_money(po.get('total_amount'))}, "
        f"charged to {po.get('cost_centre')}. "
        f"{offer.get('supplier_id')} {who} {choice} (lead time {offer.get('lead_time_days')} days)."
    )


def transfer(record: Any) -> str:
    t = _record(record)
    return (
        f"Moved {t.get('quantity')} × {t.get('sku')} from {t.get('from_warehouse')} to "
        f"{t.get('to_warehouse')} (transfer {t.get('id')})."
    )


def write_off(record: Any) -> str:
    a = _record(record)
    return (
        f"Wrote off {abs(int(a.get('delta') or 0))} × {a.get('sku')} at {a.get('warehouse')} "
        f"(adjustment {a.get('id')}); {a.get('on_hand_after')} left on hand."
    )


def _record(record: Any) -> dict[str, Any]:
    if isinstance(record, list) and record and isinstance(record[0], dict):
        return record[0]
    return record if isinstance(record, dict) else {}


def _quote(text: str) -> str:
    return f"It said: “{_clip(text.strip(), _QUOTE_LIMIT)}”" if text.strip() else ""


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _words(value: Any) -> str:
    return str(value or "unknown").replace("_", " ")


def _when(value: Any) -> str:
    """``2026-11-18T09:12:00Z`` → ``2026-11-18 09:12``; the offline planner has no clock or time zone."""
    text = str(value or "")
    return text[:16].replace("T", " ") if len(text) >= 16 else text or "unknown time"


def _money(value: Any) -> str:
    try:
        return f"{float(value):,.2f} EUR"
    except (TypeError, ValueError):
        return "an unknown amount"
