"""What an approver decides on in Slack is what they were shown.

Pins: a card's buttons carry the digest of the arguments it shows, so a card still showing arguments an
edit replaced cannot approve the new ones (refused, audited, the card redrawn before the clicker is told
to read it again), nor open a Reject or Edit modal for them; an edit modal opened before someone
else's edit cannot approve over it; a button posted before buttons carried a digest still votes; the
edit modal never offers a value it cannot show whole (over 3,000 characters, or with hidden characters):
the edit keeps it as it is, whatever the submission says; hidden characters read as ``<U+XXXX>`` on
the card while the request keeps the real ones; quantities and amounts are printed exactly.
"""

from __future__ import annotations

import time
from typing import Any

from agent.slack import cards, modals
from evals.slack_standin import Call, click, mention, sign, submission
from governance.approvals import ApprovalStatus
from governance.audit import EventKind
from tests.slack.conftest import ALICE, GRACE, HEIDI, SECRET, World, eventually
from tests.slack.test_cards import facts, order_request
from tests.slack.test_flows import ORDER, approval_id, button_value, cards_of, dm, orders, replies_in

ERIN = "U0ERIN01"  # the change manager
HIDDEN = "\u202e\u200b\u200d\x1b"


def card_to(world: World, user: str) -> Call:
    """The approval card posted to ``user`` by direct message."""
    found: list[Call] = world.slack.wait_for(
        lambda s: [c for c in cards_of(s) if c.params["channel"] == user]
    )
    return found[0]


def grace_edits_to_26_laptops(world: World, request_id: str) -> None:
    """grace edits and approves 26 laptops (35,815): still over 25,000, so heidi must approve too."""
    world.interact(click(GRACE, "edit", button_value(card_to(world, GRACE), "edit"), channel=dm(GRACE)))
    opened = world.slack.wait_for(
        lambda s: [v for v in s.of("views.open") if v.params["trigger_id"].startswith(f"trigger-{GRACE}")]
    )
    view = opened[0].params["view"]
    values = {
        b["block_id"]: b["element"].get("initial_value", "") for b in view["blocks"] if b["type"] == "input"
    }
    values["lines"] = values["lines"].replace('"quantity": 22', '"quantity": 26')
    values["total_amount"] = "35815.0"
    assert world.interact(submission(GRACE, view, values)).status_code == 200
    request = world.ops.approval(request_id).request
    assert request.status is ApprovalStatus.PENDING and request.args["lines"][0]["quantity"] == 26


def ephemerals_to(world: World, user: str) -> list[Call]:
    return [c for c in world.slack.of("chat.postEphemeral") if c.params["user"] == user]


def heidi_votes(world: World, request_id: str) -> list[dict[str, Any]]:
    return [
        e.payload
        for e in world.ops.audit_events(kinds=[EventKind.APPROVAL_VOTE])
        if e.actor == "heidi.finance" and e.payload.get("request_id") == request_id
    ]


def test_a_card_showing_replaced_arguments_cannot_approve_the_new_ones(world: World) -> None:
    ts = world.next_ts()
    world.event(mention(ALICE, ORDER, ts=ts))
    stale = button_value(card_to(world, HEIDI), "approve")
    request_id = approval_id(card_to(world, HEIDI))
    world.settle()
    world.client.portal.call(world.front.stop)  # type: ignore[union-attr]  # the poster lags: no updates
    grace_edits_to_26_laptops(world, request_id)
    assert not world.slack.of("chat.update")  # heidi's card still shows the 22 laptops

    world.interact(click(HEIDI, "approve", stale, channel=dm(HEIDI)))

    [told] = world.slack.wait_for(lambda s: ephemerals_to(world, HEIDI))
    assert "Not recorded" in told.text and "changed since this card showed them" in told.text
    assert "now shows the current arguments" in told.text
    request = world.ops.approval(request_id).request
    assert request.status is ApprovalStatus.PENDING
    assert [v.approver for v in request.votes] == ["grace.procure"]
    assert [v["accepted"] for v in heidi_votes(world, request_id)] == [False]  # refused, audited
    # the click redrew the cards before heidi was told: hers shows the 26 laptops and their digest
    calls = world.slack.calls
    redrawn = [
        c
        for c in calls[: calls.index(told)]
        if c.method == "chat.update" and c.params["channel"] == dm(HEIDI) and '"quantity": 26' in c.text
    ]
    assert redrawn and button_value(redrawn[-1], "approve") == f"{request_id}:{request.args_digest}"
    world.client.portal.call(world.front.start)  # type: ignore[union-attr]

    world.interact(click(HEIDI, "approve", button_value(redrawn[-1], "approve"), channel=dm(HEIDI)))

    eventually(lambda: world.ops.approval(request_id).request.final)
    approved = world.ops.approval(request_id).request
    assert approved.status is ApprovalStatus.APPROVED and approved.args_digest == request.args_digest
    world.slack.wait_for(lambda s: [c for c in replies_in(s, ts) if "PO-" in c.text])  # it ran
    [order] = orders(world)
    assert order.status.value == "completed" and order.args_digest == request.args_digest  # 26 laptops


def test_a_stale_card_opens_no_modal_and_a_modal_opened_before_an_edit_cannot_decide_over_it(
    world: World,
) -> None:
    world.event(mention(ALICE, ORDER, ts=world.next_ts()))
    card = card_to(world, HEIDI)
    request_id = approval_id(card)
    shown = world.ops.approval(request_id).request.args_digest
    world.interact(click(HEIDI, "edit", button_value(card, "edit"), channel=dm(HEIDI)))
    world.interact(click(HEIDI, "reject", button_value(card, "reject"), channel=dm(HEIDI)))
    opened = world.slack.wait_for(lambda s: len(s.of("views.open")) == 2 and s.of("views.open"))
    views = {v.params["view"]["callback_id"]: v.params["view"] for v in opened}
    edit_view, reject_view = views[modals.EDIT_VIEW], views[modals.REJECT_VIEW]
    assert {modals.read_metadata(v).digest for v in views.values()} == {shown}
    grace_edits_to_26_laptops(world, request_id)

    inputs = {b["block_id"]: b["element"] for b in edit_view["blocks"] if b["type"] == "input"}
    values = {name: element.get("initial_value", "") for name, element in inputs.items()}
    edited = world.interact(submission(HEIDI, edit_view, {**values, "cost_centre": "CC-FIN"}))
    rejected = world.interact(submission(HEIDI, reject_view, {"reason": "too many laptops"}))
    again = click(HEIDI, "reject", button_value(card, "reject"), channel=dm(HEIDI))
    signed = sign(again, SECRET, timestamp=int(time.time()) - 1)  # a new click, not a replay of the first
    world.post("/slack/interactivity", again, form=True, headers=signed)

    for answer, block in ((edited, next(iter(inputs))), (rejected, modals.REASON_BLOCK)):
        assert answer.json()["response_action"] == "errors" and list(answer.json()["errors"]) == [block]
        assert "changed since this card showed them" in answer.json()["errors"][block]
    [told] = world.slack.wait_for(lambda s: ephemerals_to(world, HEIDI))
    assert "changed since this card showed them" in told.text
    assert len(world.slack.of("views.open")) == 3  # heidi's two and grace's: the stale click opened none
    request = world.ops.approval(request_id).request
    assert request.status is ApprovalStatus.PENDING
    assert request.args["cost_centre"] == "CC-IT-OPS" and request.args["lines"][0]["quantity"] == 26
    assert [v.approver for v in request.votes] == ["grace.procure"]
    assert [v["accepted"] for v in heidi_votes(world, request_id)] == [False, False]


def test_a_button_posted_before_buttons_carried_a_digest_still_votes(world: World) -> None:
    world.event(mention(ALICE, ORDER, ts=world.next_ts()))
    request_id = approval_id(card_to(world, HEIDI))

    world.interact(click(HEIDI, "approve", request_id, channel=dm(HEIDI)))  # the value: the id alone

    eventually(lambda: world.ops.approval(request_id).request.votes)
    assert [v.approver for v in world.ops.approval(request_id).request.votes] == ["heidi.finance"]
    world.settle()
    assert not world.slack.of("chat.postEphemeral")


def test_an_argument_slack_cannot_show_whole_is_kept_as_it_is_by_an_edit(world: World) -> None:
    asked = "open a change request for payments-api to " + "restart pods " * 700  # 9,000+ characters
    world.event(mention(ALICE, asked, ts=world.next_ts()))
    card = card_to(world, ERIN)
    request_id = approval_id(card)
    original = world.ops.approval(request_id).request.args
    assert len(original["description"]) == 4000

    world.interact(click(ERIN, "edit", button_value(card, "edit"), channel=dm(ERIN)))
    [opened] = world.slack.wait_for(lambda s: s.of("views.open"))
    view = opened.params["view"]
    inputs = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    [note] = [b for b in view["blocks"] if b.get("block_id") == modals.KEPT_BLOCK]
    assert "description" not in inputs and "short_description" in inputs
    assert "description (4,000 characters" in note["text"]["text"]
    assert f"review page: https://ops.example.com/approvals/{request_id}" in note["text"]["text"]
    assert note["accessory"]["url"] == f"https://ops.example.com/approvals/{request_id}"
    values = {name: element.get("initial_value", "") for name, element in inputs.items()}
    forged = {**values, "risk": "low", "description": "only this"}  # not an input: ignored

    assert world.interact(submission(ERIN, view, forged)).status_code == 200

    request = world.ops.approval(request_id).request
    assert [(v.approver, v.edited) for v in request.votes] == [("erin.change", True)]
    assert request.args["risk"] == "low" and request.args["description"] == original["description"]


def test_the_edit_modal_keeps_values_with_hidden_characters_out_of_its_inputs() -> None:
    schema = {"properties": {"note": {"type": "string"}, "ci": {"type": "string"}}, "required": ["note"]}
    args = {"note": f"restart pods {HIDDEN}enilno peek", "ci": "payments-api"}
    view = modals.edit_modal(
        "APR-1", "Itsm: add work note", schema, args, channel=None, digest="d" * 64, review_url=None
    )

    assert [b["block_id"] for b in view["blocks"] if b["type"] == "input"] == ["ci"]
    [note] = [b for b in view["blocks"] if b.get("block_id") == modals.KEPT_BLOCK]
    assert "note (it holds control, zero-width or bidi characters" in note["text"]["text"]
    assert "edit them on the review page" in note["text"]["text"] and "accessory" not in note
    submitted = {"state": {"values": {"ci": {"value": {"value": "db-1"}}, "note": {"value": {"value": "x"}}}}}
    assert modals.edited_args(submitted, schema, args) == ({"note": args["note"], "ci": "db-1"}, {})


def test_a_text_of_several_lines_is_edited_in_a_multiline_input() -> None:
    schema = {"properties": {"note": {"type": "string"}, "ci": {"type": "string"}}}
    args = {"note": "restart pods\n\nthen check the queue", "ci": "payments-api"}
    view = modals.edit_modal(
        "APR-1", "Itsm: add work note", schema, args, channel=None, digest="d" * 64, review_url=None
    )

    inputs = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    assert inputs["note"]["multiline"] and inputs["note"]["initial_value"] == args["note"]
    assert not inputs["ci"]["multiline"]


def test_hidden_characters_read_as_code_points_on_the_card_and_run_as_written(world: World) -> None:
    asked = f"open a change request for payments-api to restart pods {HIDDEN}enilno peek"
    world.event(mention(ALICE, asked, ts=world.next_ts()))
    card = card_to(world, ERIN)
    request = world.ops.approval(approval_id(card)).request

    assert HIDDEN in request.args["description"]  # the request (and its digest) keep the real text
    texts = [
        card.params["text"],
        *(b["text"]["text"] for b in card.blocks if b["type"] in ("section", "header")),
    ]
    assert not [t for t in texts if any(ch in t for ch in HIDDEN)]
    shown = "\n".join(texts)
    assert "restart pods <U+202E><U+200B><U+200D><U+001B>enilno peek" in shown
    assert shown.count("<U+202E>") >= 3  # the request text and the arguments (description, summary)
    assert button_value(card, "approve") == f"{request.id}:{request.args_digest}"


def test_reasons_and_request_text_on_a_card_show_hidden_characters() -> None:
    request = order_request(reasons=(f"big-po: over 2,000 {HIDDEN}",))
    card = cards.approval_card(request, facts(request_text=f"order {HIDDEN} laptops"))

    shown = [b["text"]["text"] for b in card["blocks"] if b["type"] == "section"]
    assert (
        "Requested by Alice Andersen (alice.requester): order <U+202E><U+200B><U+200D><U+001B> laptops"
        in shown
    )
    assert "Why: big-po: over 2,000 <U+202E><U+200B><U+200D><U+001B>" in shown


def test_quantities_and_amounts_are_printed_exactly() -> None:
    lines = [{"sku": f"SKU-{i}", "quantity": 100_000, "unit_price": 1.0} for i in range(12)]
    lines.append({"sku": "SKU-12", "quantity": 34_567, "unit_price": 1.0})
    args = {"lines": lines, "total_amount": 1_234_567.125}

    assert cards.amount_and_quantity(args) == "Amount: 1,234,567.125 · Quantity: 1,234,567"
    assert (
        cards.amount_and_quantity({"quantity": 22, "amount": 30305.0}) == "Amount: 30,305.00 · Quantity: 22"
    )
    assert cards.amount_and_quantity({"quantity": 2.5, "amount": 1e20}) == (
        "Amount: 100,000,000,000,000,000,000.00 · Quantity: 2.5"
    )
    assert cards.amount_and_quantity({"quantity": True}) == ""  # a flag is not a number
    card = cards.approval_card(order_request(args=args), facts())
    assert "Quantity: 1,234,567" in card["text"] + str(card["blocks"])
