"""The Slack app end to end against the stand-in, with the worker running.

Pins: a mention asking for a 30,305 purchase order gets cards to every eligible approver (grace and heidi
among them); both approve on their cards → exactly one order, every card updated with who decided, the
requester's thread told and the agent's continuation posted there; a rejection asks its reason in a
modal and the thread hears it; an edit opens a modal built from the argument schema and what runs is
the edited call; the requester clicking Approve on their own request is refused ephemerally; an
unmapped Slack user is told politely and nothing runs; a retried event runs once.
"""

from __future__ import annotations

from typing import Any

from agent.slack.cards import read_value
from evals.slack_standin import Call, SlackStandIn, click, direct_message, mention, submission
from governance.approvals import ApprovalStatus
from governance.audit import EventKind
from tests.slack.conftest import ALICE, GRACE, HEIDI, LEO, STRANGER, World, eventually

ORDER = "order 22 laptops for the Berlin office"  # 22 x 1,377.50 = 30,305: two approvers


def ask(world: World, user: str, text: str) -> tuple[str, str]:
    """A mention in #ops; (thread ts, approval id of the card that follows)."""
    ts = world.next_ts()
    assert world.event(mention(user, text, ts=ts)).status_code == 200
    return ts, ""


def cards_of(slack: SlackStandIn) -> list[Call]:
    return [c for c in slack.of("chat.postMessage") if any(b.get("type") == "actions" for b in c.blocks)]


def approval_id(card: Call) -> str:
    return read_value(button_value(card, "approve"))[0]


def button_value(card: Call, action_id: str) -> str:
    """The value of the card's button ``action_id`` (what Slack sends when it is clicked)."""
    [actions] = [b for b in card.blocks if b.get("type") == "actions"]
    [value] = [str(e["value"]) for e in actions["elements"] if e["action_id"] == action_id]
    return value


def dm(user: str) -> str:
    return "D" + user[1:]


def replies_in(slack: SlackStandIn, ts: str) -> list[Call]:
    return [c for c in slack.of("chat.postMessage") if c.params.get("thread_ts") == ts]


def orders(world: World) -> list[Any]:
    return [e for e in world.ops.executions() if e.tool == "procurement_create_purchase_order"]


def test_a_mention_asking_for_a_big_order_runs_it_once_after_both_approvers_click(world: World) -> None:
    big_order_flow(world)


def test_the_big_order_flow_on_postgresql(pg_world: World) -> None:
    big_order_flow(pg_world)


def big_order_flow(world: World) -> None:
    slack = world.slack
    ts, _ = ask(world, ALICE, ORDER)

    cards = slack.wait_for(lambda s: len(cards_of(s)) >= 3 and cards_of(s))
    request_id = approval_id(cards[0])
    assert {c.params["channel"] for c in cards} == {GRACE, HEIDI, LEO}  # eligible approvers, by DM
    card = cards[0]
    assert "30,305.00" in card.text and "Quantity: 22" in card.text and ORDER in card.text
    assert "big-po" in card.text and "huge-po" in card.text and "finance_controller" in card.text
    labels = [e["text"]["text"] for b in card.blocks if b["type"] == "actions" for e in b["elements"]]
    assert labels == ["Approve", "Reject", "Edit", "Open in review page"]
    reply = slack.wait_for(lambda s: replies_in(s, ts))
    assert "waiting for approval" in reply[0].text and request_id in reply[0].text
    assert slack.of("reactions.add")[0].params["name"] == "eyes"

    assert world.interact(click(GRACE, "approve", request_id, channel=dm(GRACE))).status_code == 200
    eventually(lambda: world.ops.approval(request_id).request.votes)  # clicks are voted after their ack
    assert world.interact(click(HEIDI, "approve", request_id, channel=dm(HEIDI))).status_code == 200

    continuation = slack.wait_for(lambda s: [c for c in replies_in(s, ts) if "PO-" in c.text])
    assert len(continuation) == 1 and "✓ procurement_create_purchase_order" in continuation[0].text
    assert [o.status.value for o in orders(world)] == ["completed"]
    told = [c for c in replies_in(slack, ts) if "Approved by grace.procure, heidi.finance" in c.text]
    assert len(told) == 1
    updated = slack.wait_for(
        lambda s: {
            (u.params["channel"], u.params["ts"]) for u in s.of("chat.update") if "Approved by" in u.text
        }
    )
    posted = {(dm(c.params["channel"]), f"{c.params.get('ts', '')}") for c in cards}
    assert {channel for channel, _ in updated} == {channel for channel, _ in posted}
    assert not [
        u
        for u in slack.of("chat.update")
        if u.params.get("ts")
        and "Approved by" in u.text
        and any(b.get("type") == "actions" for b in u.blocks)
    ]  # the outcome card has no buttons
    assert not slack.of("chat.postEphemeral")


def test_the_requester_clicking_approve_is_refused_and_nothing_changes(world: World) -> None:
    ask(world, ALICE, ORDER)
    request_id = approval_id(world.slack.wait_for(lambda s: cards_of(s))[0])

    world.interact(click(ALICE, "approve", request_id, channel="C0OPS"))

    [refusal] = world.slack.wait_for(lambda s: s.of("chat.postEphemeral"))
    assert refusal.params["user"] == ALICE and "Not recorded" in refusal.text
    request = world.ops.approval(request_id).request
    assert request.status is ApprovalStatus.PENDING and request.votes == ()
    refused = world.ops.audit_events(kinds=[EventKind.APPROVAL_VOTE])
    assert [e.payload["accepted"] for e in refused] == [False]


def test_a_stranger_in_the_channel_cannot_decide_whatever_they_click(world: World) -> None:
    ask(world, ALICE, ORDER)
    request_id = approval_id(world.slack.wait_for(lambda s: cards_of(s))[0])

    world.interact(click(STRANGER, "approve", request_id, channel="C0OPS"))
    world.interact(click("U0BOB01", "approve", request_id, channel="C0OPS"))  # mapped, not entitled

    refusals = world.slack.wait_for(
        lambda s: len(s.of("chat.postEphemeral")) == 2 and s.of("chat.postEphemeral")
    )
    assert {r.params["user"] for r in refusals} == {STRANGER, "U0BOB01"}
    assert world.ops.approval(request_id).request.votes == ()


def test_reject_asks_the_reason_and_the_requester_hears_it(world: World) -> None:
    ts, _ = ask(world, ALICE, ORDER)
    request_id = approval_id(world.slack.wait_for(lambda s: cards_of(s))[0])

    world.interact(click(GRACE, "reject", request_id, channel=dm(GRACE)))
    [opened] = world.slack.wait_for(lambda s: s.of("views.open"))
    view = opened.params["view"]
    blank = world.interact(submission(GRACE, view, {"reason": "  "}))
    done = world.interact(submission(GRACE, view, {"reason": "Use the framework agreement <!channel>"}))

    assert blank.json()["response_action"] == "errors" and "reason" in blank.json()["errors"]
    assert done.status_code == 200 and not done.content
    told = world.slack.wait_for(
        lambda s: [c for c in replies_in(s, ts) if "Rejected by grace.procure" in c.text]
    )
    assert "Use the framework agreement <!channel>" in told[0].text
    assert "&lt;!channel&gt;" in told[0].params["text"]  # the fallback text is escaped: no @channel
    assert world.ops.approval(request_id).request.status is ApprovalStatus.REJECTED
    world.slack.wait_for(lambda s: [u for u in s.of("chat.update") if "Rejected by grace.procure" in u.text])
    assert orders(world) == []


def test_edit_opens_a_modal_from_the_schema_and_the_edited_call_runs(world: World) -> None:
    ts, _ = ask(world, ALICE, ORDER)
    request_id = approval_id(world.slack.wait_for(lambda s: cards_of(s))[0])

    world.interact(click(GRACE, "edit", request_id, channel=dm(GRACE)))
    [opened] = world.slack.wait_for(lambda s: s.of("views.open"))
    view = opened.params["view"]
    inputs = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    assert {"supplier_id", "lines", "cost_centre", "total_amount"} <= set(inputs)
    lines = inputs["lines"]["initial_value"]
    assert '"quantity": 22' in lines and inputs["total_amount"]["type"] == "number_input"
    values = {name: element.get("initial_value", "") for name, element in inputs.items()}
    bad = world.interact(submission(GRACE, view, {**values, "lines": "[not json"}))
    assert "lines" in bad.json()["errors"]
    negative = lines.replace('"quantity": 22', '"quantity": -3')
    invalid = world.interact(submission(GRACE, view, {**values, "lines": negative}))
    assert (
        list(invalid.json()["errors"]) == ["lines"] and "greater than 0" in invalid.json()["errors"]["lines"]
    )
    assert world.ops.approval(request_id).request.votes == ()
    # 18 laptops (24,795): under 25,000 a procurement manager alone approves, and grace is one
    edited = {**values, "lines": lines.replace('"quantity": 22', '"quantity": 18'), "total_amount": "24795.0"}
    assert world.interact(submission(GRACE, view, edited)).status_code == 200

    request = world.ops.approval(request_id).request
    assert request.status is ApprovalStatus.APPROVED and request.args["lines"][0]["quantity"] == 18
    world.slack.wait_for(lambda s: [c for c in replies_in(s, ts) if "PO-" in c.text])
    assert [c for c in replies_in(world.slack, ts) if "with edited arguments" in c.text]
    [order] = orders(world)
    assert order.status.value == "completed" and order.args_digest == request.args_digest


def test_an_unmapped_user_is_told_politely_and_nothing_runs(world: World) -> None:
    ts = world.next_ts()
    world.event(direct_message(STRANGER, ORDER, ts=ts))

    [told] = world.slack.wait_for(lambda s: replies_in(s, ts))
    assert "not in opslayer's directory" in told.text and STRANGER in told.text
    assert world.ops.audit_events(kinds=[EventKind.REQUEST]) == []
    assert [e.payload["slack_user"] for e in world.ops.audit_events(kinds=[EventKind.ACCESS_DENIED])] == [
        STRANGER
    ]


def test_a_retried_event_is_handled_once(world: World) -> None:
    ts = world.next_ts()
    body = mention(ALICE, "how many 14-inch Pro laptops are in Amsterdam?", ts=ts, event_id="Ev0RETRY")
    first = world.event(body)
    retry = world.post(
        "/slack/events", body, form=False, headers={**_resigned(body), "X-Slack-Retry-Num": "1"}
    )

    assert first.status_code == retry.status_code == 200
    world.slack.wait_for(lambda s: replies_in(s, ts))
    world.settle()
    assert len(replies_in(world.slack, ts)) == 1
    assert len(world.ops.audit_events(kinds=[EventKind.REQUEST])) == 1


def _resigned(body: str) -> dict[str, str]:
    """Slack signs a retry afresh (another timestamp): not a replay, the same event id."""
    import time

    from evals.slack_standin import sign
    from tests.slack.conftest import SECRET

    return sign(body, SECRET, timestamp=int(time.time()) - 10)
