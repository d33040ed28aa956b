"""Block Kit messages: approval cards, their outcome, thread replies.

Text that came from a person, a model or a backend goes out as ``plain_text`` (Slack renders no
markup, mention or link in it) and, in the ``text`` fallback, escaped (``&amp; &lt; &gt;``), so
``<!channel>`` or ``<https://x|y>`` in a request reads as typed. Every message stays inside Slack's
limits (:data:`LIMITS`): long text is cut with a note, never sent to be refused. Control, zero-width
and bidi characters are shown as ``<U+XXXX>`` (:func:`agent.text.visible`), as the CLI shows them, so
what an approver reads is what runs; digests are computed on the real text, never on what is shown.

Buttons that decide carry the approval id and the args digest of the arguments the card shows
(``APR-…:<sha256>``, :func:`button_value`); the vote is refused if the request holds other arguments by
then. Whoever clicks, everything else is read from the store.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from agent.text import visible
from governance.approvals import ApprovalRequest, ApprovalStatus

LIMITS = {
    "blocks": 50,  # per message
    "section_text": 3000,
    "header_text": 150,
    "button_text": 75,
    "action_id": 255,
    "button_value": 2000,
    "context_text": 3000,
    "fallback_text": 40000,
}

APPROVE, REJECT, EDIT, OPEN, VETO = "approve", "reject", "edit", "open_review", "veto"
ACTIONS = (APPROVE, REJECT, EDIT, OPEN, VETO)

_CUT = " …(cut)"
_ARGUMENT_SECTIONS = 20  # a card keeps room for the rest of its blocks


@dataclass(frozen=True, kw_only=True)
class CardFacts:
    """What a card shows besides the request itself (read from the store, never from a click)."""

    request_text: str | None  # what the requester asked, in their words
    requester_name: str
    review_url: str | None  # the request on the review page (None: OPSLAYER_PUBLIC_URL unset)
    step_up_url: str | None  # for a step-up request: the single-use link (None otherwise)
    step_up: bool = False


def escape(text: str) -> str:
    """Text for a mrkdwn field shown literally: Slack's three control characters escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def button_value(request: ApprovalRequest) -> str:
    """What a deciding button carries: the approval id and the digest of the arguments the card shows."""
    return f"{request.id}:{request.args_digest}"


def read_value(value: str) -> tuple[str, str | None]:
    """(approval id, args digest shown) of a button's value; the digest is None for a card posted
    before buttons carried one (the vote then names no digest, as those cards always did)."""
    approval_id, _, digest = value.partition(":")
    return approval_id, digest or None


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(_CUT)] + _CUT


def tool_in_words(tool: str) -> str:
    """``procurement_create_purchase_order`` → ``Procurement: create purchase order``."""
    system, _, action = tool.partition("_")
    return f"{system.capitalize()}: {action.replace('_', ' ')}" if action else tool


def plain(text: str, *, limit: int = LIMITS["section_text"]) -> dict[str, Any]:
    return {"type": "plain_text", "text": cut(visible(text or " "), limit), "emoji": False}


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": plain(text)}


def sections(text: str, *, most: int = LIMITS["blocks"]) -> list[dict[str, Any]]:
    """Long text as up to ``most`` sections (each within Slack's limit), split at line ends where
    possible; what does not fit is cut with a note."""
    limit = LIMITS["section_text"]
    parts: list[str] = []
    rest = visible(text or " ")  # before splitting: each hidden character is shown as 8
    while len(rest) > limit and len(parts) < most - 1:
        split = rest.rfind("\n", 0, limit)
        split = split if split > limit // 2 else limit
        parts.append(rest[:split])
        rest = rest[split:].lstrip("\n")
    parts.append(rest)
    return [section(part) for part in parts]


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": plain(text, limit=LIMITS["header_text"])}


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [plain(text, limit=LIMITS["context_text"])]}


def button(
    label: str, action_id: str, *, value: str | None = None, url: str | None = None, style: str | None = None
) -> dict[str, Any]:
    made: dict[str, Any] = {
        "type": "button",
        "text": plain(label, limit=LIMITS["button_text"]),
        "action_id": action_id,
    }
    if value is not None:
        made["value"] = value
    if url is not None:
        made["url"] = url
    if style is not None:
        made["style"] = style
    return made


def message(blocks: Sequence[dict[str, Any]], fallback: str) -> dict[str, Any]:
    """``text`` + ``blocks`` for chat.postMessage / chat.update, at most Slack's number of blocks."""
    kept = list(blocks)
    if len(kept) > LIMITS["blocks"]:
        kept = [*kept[: LIMITS["blocks"] - 1], context("…the rest was cut: Slack shows at most 50 blocks")]
    return {"text": cut(escape(visible(fallback)), LIMITS["fallback_text"]), "blocks": kept}


# --- approval cards ---------------------------------------------------------------------------------


def approval_card(request: ApprovalRequest, facts: CardFacts) -> dict[str, Any]:
    """The card approvers decide on: what will execute, why it needs them, and the buttons."""
    words = tool_in_words(request.tool)
    blocks = [header(f"Approval needed: {words}"), *_request_blocks(request, facts)]
    blocks.append(section(f"Still needed: {request.status_reason or 'nothing'}"))
    blocks.append(
        {"type": "actions", "block_id": f"approval:{request.id}"[:255], "elements": _buttons(request, facts)}
    )
    blocks.append(context(f"{request.id} · expires {request.expires_at:%Y-%m-%d %H:%M} UTC"))
    return message(blocks, f"Approval needed: {words} for {facts.requester_name} ({request.id})")


def veto_card(request: ApprovalRequest, facts: CardFacts) -> dict[str, Any]:
    """The card of a notify-tier call waiting out its veto window: what will run, when, and a Veto
    button (and Run now, which ends the wait) for the people the rule's ``veto_by`` names."""
    words = tool_in_words(request.tool)
    when = f"{request.expires_at:%H:%M} UTC"
    roles = " or ".join(role for requirement in request.requirements for role in requirement.roles)
    blocks = [header(f"Runs at {when} unless vetoed: {words}"), *_request_blocks(request, facts)]
    blocks.append(
        section(f"Runs at {when} ({request.expires_at:%Y-%m-%d}) unless vetoed by someone holding {roles}.")
    )
    buttons = [
        button("Veto", VETO, value=request.id, style="danger"),
        button("Run now", APPROVE, value=button_value(request)),
    ]
    if facts.review_url is not None:
        buttons.append(button("Open in review page", OPEN, value=request.id, url=facts.review_url))
    blocks.append({"type": "actions", "block_id": f"veto:{request.id}"[:255], "elements": buttons})
    blocks.append(context(f"{request.id} · veto window ends {request.expires_at:%Y-%m-%d %H:%M} UTC"))
    return message(blocks, f"Runs at {when} unless vetoed: {words} for {facts.requester_name} ({request.id})")


def outcome_card(request: ApprovalRequest, facts: CardFacts) -> dict[str, Any]:
    """The card once the request is final: the outcome and who decided, and no buttons."""
    words = tool_in_words(request.tool)
    outcome = decided(request)
    title = _title(request)
    blocks = [header(f"{title}: {words}"), section(outcome)]
    blocks += _request_blocks(request, facts)
    blocks.append(context(f"{request.id}"))
    return message(blocks, f"{title}: {words} ({request.id}). {outcome}")


def _title(request: ApprovalRequest) -> str:
    if request.veto_window:
        return "Vetoed" if request.status is ApprovalStatus.REJECTED else "Not vetoed, runs"
    return request.status.value.capitalize()


def progress_card(request: ApprovalRequest, facts: CardFacts) -> dict[str, Any]:
    """A pending card after an accepted vote: who approved so far, what is still needed."""
    card = approval_card(request, facts)
    voted = ", ".join(v.approver for v in request.counted_votes)
    if voted:
        card["blocks"].insert(1, section(f"Approved so far by {voted}"))
    return message(card["blocks"], card["text"])


def decided(request: ApprovalRequest) -> str:
    """Who decided, in one line (for the cards and the requester's thread)."""
    if request.veto_window and request.final:
        return _window_decided(request)
    if request.status is ApprovalStatus.APPROVED:
        edited = " (with edited arguments)" if any(v.edited for v in request.counted_votes) else ""
        return f"Approved by {', '.join(v.approver for v in request.counted_votes)}{edited}."
    if request.status is ApprovalStatus.REJECTED:
        rejecters = [v for v in request.votes if not v.approve]
        who = f" by {rejecters[-1].approver}" if rejecters else ""
        return f"Rejected{who}: {request.status_reason}"
    if request.status is ApprovalStatus.EXPIRED:
        return "Expired: nobody decided in time, so it will not run."
    return f"Waiting: {request.status_reason}"


def _window_decided(request: ApprovalRequest) -> str:
    """The outcome of a veto window: vetoed (by whom, why), run early (by whom), or its time ran out."""
    vetoes = [v for v in request.votes if not v.approve]
    if request.status is ApprovalStatus.REJECTED and vetoes:
        return (
            f"Vetoed by {vetoes[-1].approver}: {vetoes[-1].reason or request.status_reason}. It will not run."
        )
    if request.status is ApprovalStatus.APPROVED and request.counted_votes:
        return f"Run now by {request.counted_votes[-1].approver}, before its veto window ended."
    if request.status is ApprovalStatus.APPROVED:
        return f"Nobody vetoed it by {request.expires_at:%H:%M} UTC: it runs."
    return f"{request.status.value.capitalize()}: {request.status_reason}"


def _request_blocks(request: ApprovalRequest, facts: CardFacts) -> list[dict[str, Any]]:
    asked = facts.request_text if facts.request_text is not None else "(not recorded)"
    blocks = [
        section(f"Requested by {facts.requester_name} ({request.requester}): {asked}"),
        *sections(
            "Arguments, exactly as they will execute:\n"
            + json.dumps(dict(request.args), indent=2, ensure_ascii=False, sort_keys=True),
            most=_ARGUMENT_SECTIONS,
        ),
    ]
    amounts = amount_and_quantity(request.args)
    if amounts:
        blocks.append(section(amounts))
    blocks.append(section("Why: " + "\n".join(request.reasons or request.rule_ids)))
    return blocks


def _buttons(request: ApprovalRequest, facts: CardFacts) -> list[dict[str, Any]]:
    if facts.step_up:  # no one-click approval: the approver signs in on the review page
        if facts.step_up_url is None:
            return [button("Open the review page (OPSLAYER_PUBLIC_URL is not set)", OPEN, value=request.id)]
        return [
            button(
                "Review and decide (sign-in)", OPEN, value=request.id, url=facts.step_up_url, style="primary"
            )
        ]
    buttons = [
        button("Approve", APPROVE, value=button_value(request), style="primary"),
        button("Reject", REJECT, value=button_value(request), style="danger"),
        button("Edit", EDIT, value=button_value(request)),
    ]
    if facts.review_url is not None:
        buttons.append(button("Open in review page", OPEN, value=request.id, url=facts.review_url))
    return buttons


def amount_and_quantity(args: Mapping[str, Any]) -> str:
    """``Amount: 30,305.00 · Quantity: 22`` from the arguments that carry them, else ''. Numbers are
    shown exactly, with thousands separators: never rounded, never in exponent notation."""
    parts = []
    amount = args.get("total_amount", args.get("amount"))
    if _is_number(amount):
        parts.append(f"Amount: {exactly(amount, decimals=2)}")
    quantity = args.get("quantity")
    if not _is_number(quantity):
        lines = args.get("lines")
        counted = (
            [line.get("quantity") for line in lines if isinstance(line, Mapping)]
            if isinstance(lines, list)
            else []
        )
        numbers = [_decimal(q) for q in counted if _is_number(q)]
        quantity = sum(numbers, Decimal(0)) if numbers else None
    if quantity is not None and _is_number(quantity):
        parts.append(f"Quantity: {exactly(quantity)}")
    return " · ".join(parts)


def exactly(number: int | float | Decimal, *, decimals: int = 0) -> str:
    """``number`` with thousands separators and every digit it has (at least ``decimals`` of them):
    ``1234567`` → ``1,234,567``, ``30305.0`` → ``30,305.00`` (decimals=2), ``0.125`` → ``0.125``."""
    value = _decimal(number)
    if not value.is_finite():
        return str(value)
    exponent = value.normalize().as_tuple().exponent
    shown = max(-exponent if isinstance(exponent, int) else 0, decimals)
    return f"{value:,.{shown}f}"  # exact: as many decimals as it has, so nothing is rounded


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _decimal(number: Any) -> Decimal:
    """The decimal a JSON number was written as (``str`` of a float is its shortest exact form)."""
    return number if isinstance(number, Decimal) else Decimal(str(number))


# --- thread replies ---------------------------------------------------------------------------------


def reply(answer: str | None, references: Iterable[str], steps: Iterable[str]) -> dict[str, Any]:
    """A turn's reply in its thread: the answer, its sources, one line per governance step."""
    blocks = sections(answer) if answer else []
    refs = list(references)
    if refs:
        blocks.append(context("Sources:\n" + "\n".join(refs)))
    lines = list(steps)
    if lines:
        blocks.append(context("\n".join(lines)))
    fallback = answer or (lines[0] if lines else "done")
    return message(blocks or [section(fallback)], fallback)


def note(text: str) -> dict[str, Any]:
    """A one-line message (plain text)."""
    return message([section(text)], text)
