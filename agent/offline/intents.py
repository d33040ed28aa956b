"""Reading a staff request into one of the offline planner's intents.

Parsing is keyword and pattern based, case-insensitive and deterministic. What is recognised
(the phrasings are documented for users in :mod:`agent.offline.planner`):

- incident numbers ``INC`` + digits;
- SKUs in upper case with a hyphen and either a digit or a second hyphen (``SSD-1TB-NVME``,
  ``KBD-WL-DE``; ``USB-C`` is not a SKU); a SKU in lower case is found by searching for it;
- warehouse codes (``AMS-1``) or the cities they serve (Amsterdam, Berlin, London, Madrid,
  Warsaw); cost centres ``CC-...``; CMDB names in lower case with a hyphen (``payments-api``);
- a quantity for an order, move or write-off, exactly as written (digits with or without thousands
  separators, number words; see :mod:`agent.offline.quantities`), or the issue with it: zero,
  negative, fractional, too large, unreadable, ambiguous, an amount of money, or two different
  quantities. Numbers in the user's reason ("because 3 broke") are not quantities;
- the item, when no SKU is given, as the words left once intent words, places, numbers and
  filler words are taken out ("order 40 laptops for the Berlin office" → ``laptops``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import StrEnum

from agent.offline.quantities import QuantityIssue, read_quantity, without_numbers

DEFAULT_COST_CENTRE = "CC-IT-OPS"

CITY_WAREHOUSES: dict[str, str] = {
    "amsterdam": "AMS-1",
    "berlin": "BER-2",
    "london": "LON-1",
    "madrid": "MAD-1",
    "warsaw": "WAW-1",
}


class Intent(StrEnum):
    INCIDENT = "incident"
    NOTE = "note"
    STOCK = "stock"
    ORDER = "order"
    MOVE = "move"
    CHANGE = "change"
    WRITE_OFF = "write_off"


@dataclass(frozen=True, kw_only=True)
class Request:
    """What the user asked for; ``missing`` names what they still have to say."""

    intent: Intent
    text: str
    number: str | None = None
    sku: str | None = None
    item_words: tuple[str, ...] = ()
    quantity: int | None = None
    quantity_issue: QuantityIssue | None = None
    warehouse: str | None = None
    from_warehouse: str | None = None
    to_warehouse: str | None = None
    cost_centre: str = DEFAULT_COST_CENTRE
    ci: str | None = None
    note: str | None = None
    summary: str | None = None
    missing: tuple[str, ...] = ()

    @property
    def item_label(self) -> str:
        return self.sku or " ".join(self.item_words)


_INCIDENT = re.compile(r"\bINC\d{4,}\b", re.IGNORECASE)
_SKU = re.compile(r"(?<![\w-])[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+(?![\w-])")
_COST_CENTRE = re.compile(
    r"\b(?:(?:on|to|against|charged to)\s+)?(?:(?:the\s+)?cost\s+cent(?:re|er)\s+)?(cc-[a-z0-9-]*[a-z0-9])\b"
)
_WAREHOUSE_CODE = re.compile(r"\b([a-z]{3}-\d)\b")
_CITY = re.compile(r"\b(" + "|".join(CITY_WAREHOUSES) + r")\b")
_NOT_SKU = re.compile(r"^(?:[A-Z]{3}-\d$|CC-|PO-|REQ-|SUP-|RES-|TRF-|ADJ-)")
_CI = re.compile(r"(?<![\w-])([a-z][a-z0-9]*(?:-[a-z0-9]+)+)(?![\w-])")
_NOTE = re.compile(r"\b(?:work\s*)?notes?\b|\bcomment\b")
_NOTE_TEXT = re.compile(
    r"(?:\bsaying\b|\bthat says\b|\bwith (?:the )?text\b|\btext\b|:)\s*(.+)$", re.I | re.S
)
_WRITE_OFF = re.compile(r"\bwrit(?:e|ten)[\s-]*offs?\b|\bscrap\b|\bdispose of\b")
_MOVE = re.compile(r"\b(?:move|transfer|relocate|rebalance)\b")
_SHIP = re.compile(r"\b(?:ship|send)\b")  # also "send me ...": only a move when warehouses are named
_ORDER = re.compile(r"\b(?:order|buy|purchase|procure|reorder)\b")
# "order" as a noun or in "reorder point" is not a request to buy.
_ORDER_NOUN = re.compile(
    r"\b(?:purchase|my|the|our|this|that|an|your|their|sales|work)\s+orders?\b|\breorder\s+points?\b"
)
_NOTE_VERB = re.compile(r"\b(?:add|post|write|put|log|leave|record)\b")
_NOT_STOCK = re.compile(r"\b(?:incidents?|changes?|tickets?|requests?|orders?|users?|people|approvals?)\b")
_CHANGE = re.compile(r"\bchange\b|\bchg\b|\brfc\b")
_CHANGE_VERB = re.compile(
    r"\b(?:open|raise|create|file|submit|request|log|schedule|need|start)\b|change request"
)
_CHANGE_TO = re.compile(r"\bto\s+(.+)$", re.I | re.S)
_CHANGE_FOR = re.compile(r"\bfor\s+(.+)$", re.I | re.S)
_STOCK = re.compile(
    r"\bstock\b|\bhow many\b|\bhow much\b|\bon hand\b|\bavailab|\bdo we have\b|\binventory (?:of|for)\b"
)
_INCIDENT_ACTION = re.compile(
    r"\b(?:resolve|close|reopen|re-open|assign|reassign|escalate|set|change|prioriti[sz]e|delete)\b"
    r"|\bupdate\s+(?:the\s+)?(?:inc|priority|state|status|assignee|assignment)"
)
_REASON = re.compile(r"\b(?:because|reason:?|since|due to)\s+(.+)$", re.I | re.S)

_FILLER_WORDS = """
    a an the of for in at to from on into with by and or please pls kindly can could would will you we i
    me us our my how many much do does did have has is are there what whats what's check stock stocks level
    levels show tell about any some left hand available availability order buy purchase procure reorder get
    move transfer ship send relocate rebalance write written off write-off writeoff scrap dispose damaged
    broken faulty units unit x pcs pieces office offices warehouse warehouses site depot cost centre center
    need needs want new more items inventory currently right now today tomorrow asap urgently urgent store
    quickly also just let lets let's go ahead it them those these that this here team staff
    """
_FILLER = frozenset(_FILLER_WORDS.split())


def parse_request(text: str) -> Request | None:
    """The intent of ``text`` and its parameters, or ``None`` when the offline planner cannot help."""
    low = text.lower().replace("’", "'")
    number = _first(_INCIDENT, text)
    if number and _NOTE.search(low) and _NOTE_VERB.search(low):
        return _note(text, number.upper())
    if _WRITE_OFF.search(low):
        return _inventory(Intent.WRITE_OFF, text, low)
    if _MOVE.search(low) or (_SHIP.search(low) and len(_places(low)) > 1):
        return _inventory(Intent.MOVE, text, low)
    if _ORDER.search(_ORDER_NOUN.sub(" ", low)):
        return _inventory(Intent.ORDER, text, low)
    if _CHANGE.search(low) and _CHANGE_VERB.search(low) and not number:
        return _change(text, low)
    if number and not _INCIDENT_ACTION.search(low):
        return Request(intent=Intent.INCIDENT, text=text, number=number.upper())
    if _STOCK.search(low) and (_sku(text) or not _NOT_STOCK.search(low)):
        return _inventory(Intent.STOCK, text, low)
    return None


def _first(pattern: re.Pattern[str], text: str) -> str | None:
    match = pattern.search(text)
    return match.group(0) if match else None


def _sku(text: str) -> str | None:
    """The first upper-case token with a digit or two hyphens ("USB-C" is not a SKU) that is not a
    warehouse code or another kind of record number."""
    tokens = [match.group(0) for match in _SKU.finditer(text)]
    skus = (t for t in tokens if (re.search(r"\d", t) or t.count("-") >= 2) and not _NOT_SKU.match(t))
    return next(skus, None)


def _note(text: str, number: str) -> Request:
    match = _NOTE_TEXT.search(text[text.upper().index(number) + len(number) :])
    note = match.group(1).strip().strip("\"'“”").strip() if match else ""
    return Request(
        intent=Intent.NOTE,
        text=text,
        number=number,
        note=note or None,
        missing=() if note else ("note text",),
    )


def _change(text: str, low: str) -> Request:
    cis = [ci for ci in _CI.findall(low) if not _WAREHOUSE_CODE.fullmatch(ci) and not ci.startswith("cc-")]
    ci = cis[0] if cis else None
    match = _CHANGE_TO.search(text) or _CHANGE_FOR.search(text)
    what = match.group(1).strip().rstrip(".!") if match else ""
    if what.lower() == ci:
        what = ""
    if ci and ci not in what.lower():
        what = f"{what} on {ci}" if what else f"Change on {ci}"
    summary = (what[:1].upper() + what[1:])[:160]
    return Request(
        intent=Intent.CHANGE, text=text, ci=ci, summary=summary, missing=() if ci else ("CI name",)
    )


def _inventory(intent: Intent, text: str, low: str) -> Request:
    sku = _sku(text)
    places = _places(low)
    cost_centre = _COST_CENTRE.search(low)
    reason = _REASON.search(text)
    # A stock question states no quantity ("do we have 40 laptops?" asks how many there are).
    quantity = None if intent is Intent.STOCK else read_quantity(text[: reason.start()] if reason else text)
    request = Request(
        intent=intent,
        text=text,
        sku=sku,
        item_words=() if sku else _item_words(low),
        quantity=quantity if isinstance(quantity, int) else None,
        quantity_issue=quantity if isinstance(quantity, QuantityIssue) else None,
        warehouse=places[0][1] if places else None,
        from_warehouse=_after(places, low, "from") or (places[0][1] if len(places) > 1 else None),
        to_warehouse=_after(places, low, "to") or (places[1][1] if len(places) > 1 else None),
        cost_centre=cost_centre.group(1).upper() if cost_centre else DEFAULT_COST_CENTRE,
    )
    return _with_missing(request)


def _with_missing(request: Request) -> Request:
    needs = {
        Intent.STOCK: ("item",),
        Intent.ORDER: ("item", "quantity"),
        Intent.MOVE: ("item", "quantity", "from", "to"),
        Intent.WRITE_OFF: ("item", "quantity", "warehouse"),
    }[request.intent]
    present = {
        "item": bool(request.item_label),
        "quantity": request.quantity is not None,
        "warehouse": request.warehouse is not None,
        "from": request.from_warehouse is not None,
        "to": request.to_warehouse is not None and request.to_warehouse != request.from_warehouse,
    }
    return replace(request, missing=tuple(need for need in needs if not present[need]))


def _places(low: str) -> list[tuple[int, str]]:
    """Warehouses named in the text (codes or cities), in order of appearance."""
    found = [(m.start(), m.group(1).upper()) for m in _WAREHOUSE_CODE.finditer(low)]
    found += [(m.start(), CITY_WAREHOUSES[m.group(1)]) for m in _CITY.finditer(low)]
    return sorted(found)


def _after(places: list[tuple[int, str]], low: str, word: str) -> str | None:
    """The warehouse named right after ``word`` ("from AMS-1", "to the Berlin office")."""
    for start, code in places:
        before = low[:start].rstrip()
        if re.search(rf"\b{word}(?:\s+(?:the|our))?$", before):
            return code
    return None


def _item_words(low: str) -> tuple[str, ...]:
    scrubbed = _COST_CENTRE.sub(" ", low)
    scrubbed = _CITY.sub(" ", _WAREHOUSE_CODE.sub(" ", scrubbed))
    scrubbed = without_numbers(scrubbed)
    scrubbed = _REASON.sub(" ", scrubbed)
    words = (word.strip("?!.,;:()\"'") for word in scrubbed.split())
    return tuple(word for word in words if word and word not in _FILLER)


def reason_given(text: str) -> str | None:
    """The user's own reason ("... because the Berlin team grows"), if they gave one."""
    match = _REASON.search(text)
    return match.group(1).strip().rstrip(".!") if match else None
