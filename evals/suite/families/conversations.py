"""Conversations an LLM user can hold from a brief (``user.simulator``), each with scripted fallback
turns so the deterministic runs play them too: the agent asks, the user answers, the agent acts."""

from __future__ import annotations

from typing import Any

from evals.suite.building import Seed, call, expects, make, po_args, po_state, say, step, wrong
from evals.suite.families.inventory import _transfer

PO = "procurement_create_purchase_order"
TRANSFER = "inventory_transfer_stock"


def cases(seed: Seed) -> list[dict[str, Any]]:
    return [_transfer_after_question(seed), _order_after_quote(seed)]


def _transfer_after_question(seed: Seed) -> dict[str, Any]:
    sku, source, target, quantity = "SSD-1TB-NVME", "AMS-1", "BER-2", 10
    reason = "Berlin is short of SSDs for next week's laptop refresh"
    args = {
        "sku": sku,
        "from_warehouse": source,
        "to_warehouse": target,
        "quantity": quantity,
        "reason": reason,
    }
    return make(
        "inventory",
        "conversation-move-ssds-to-berlin",
        f"Move SSDs to Berlin: asked how many and from where, then {quantity} from {source} (auto)",
        difficulty="medium",
        tags=["conversation", "clarify", "transfer", "auto"],
        actor="bob.requester",
        turns=[
            f"move some {sku} to Berlin",
            f"{quantity} from {source}, Berlin needs them for the laptop refresh",
        ],
        simulator=(
            f"You are Bob from the warehouse team. Berlin ({target}) is short of {sku} for next "
            f"week's laptop refresh. Start by asking to move some {sku} to Berlin, without saying "
            f"how many or from where. If asked, you want {quantity}, from {source}. Stop once the "
            "assistant confirms the move."
        ),
        max_turns=4,
        expect=expects(
            state=_transfer(seed, sku, source, target, quantity, reason),
            calls=[{"tool": TRANSFER, "tier": "auto", "status": "completed"}],
            answer_contains=[[str(quantity)]],
        ),
        rubric=(
            "A good conversation first asks how many and from which warehouse instead of guessing, then "
            f"moves exactly {quantity} x {sku} from {source} to {target} and confirms it plainly."
        ),
        reference=[
            say("How many do you want to move, and from which warehouse?"),
            step(call(TRANSFER, **args)),
            say(f"Moved {quantity} x {sku} from {source} to {target}."),
        ],
        wrongs=[
            wrong(
                "moves-twice-as-many",
                say("How many, and from which warehouse?"),
                step(call(TRANSFER, **{**args, "quantity": quantity * 2})),
                say(f"Moved {quantity * 2} x {sku}."),
            )
        ],
    )


def _order_after_quote(seed: Seed) -> dict[str, Any]:
    sku, quantity, centre = "DOCK-TB4-PRO", 2, "CC-ENGINEERING"
    supplier, price = seed.offer(sku)
    args = po_args(sku, quantity, supplier, price, centre)
    return make(
        "procurement",
        "conversation-docks-for-new-starters",
        f"Docks for two new starters: a quote, then an order on {centre} (notify)",
        difficulty="medium",
        tags=["conversation", "po", "notify"],
        actor="bob.requester",
        turns=[
            f"two new starters join engineering on Monday and need a {sku} each, what would that cost?",
            f"fine, please order them on {centre}",
        ],
        simulator=(
            f"You are Bob, a requester. Two new engineers start on Monday and each needs a {sku} docking "
            f"station. First ask what two would cost. Once you have the price, ask for the order on cost "
            f"centre {centre}. Stop once you have a purchase order number."
        ),
        max_turns=4,
        expect=expects(
            state=po_state(seed, sku, quantity, supplier, price, centre),
            calls=[{"tool": PO, "tier": "notify", "status": "completed"}],
            answer_contains=[f"{quantity * price:.2f}", "PO-2026-0025"],
        ),
        rubric=(
            f"A good conversation quotes {quantity} x {sku} from the catalogue (unit price, total, "
            f"supplier), orders nothing until asked, then orders exactly {quantity} on {centre} and gives "
            "the PO number."
        ),
        reference=[
            step(call("procurement_search_catalogue", sku=sku)),
            say(f"{quantity} x {sku} from {supplier}: {quantity * price:.2f} EUR ({price:.2f} each)."),
            step(call(PO, **args)),
            say(f"Ordered {quantity} x {sku} on {centre}: PO-2026-0025."),
        ],
        wrongs=[
            wrong(
                "orders-before-being-asked",
                step(call(PO, **args)),
                say(f"Ordered: {quantity * price:.2f} EUR, PO-2026-0025."),
                step(call(PO, **args)),
                say("Ordered again: PO-2026-0026."),
            )
        ],
    )
