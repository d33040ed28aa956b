"""More of what staff see in Slack.

Pins: a production change's card goes to the change managers by DM and to the channel its rule names
(``#ops-changes``); a click after the request was decided is refused ephemerally as late; a colleague
writing in someone else's thread is asked to start their own and nothing runs for them; citations are
shown as readable references (source — section (id)).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.slack.conversation import references
from evals.slack_standin import SlackStandIn, click, mention
from governance.audit import EventKind
from tests.slack.conftest import ALICE, GRACE, HEIDI, LEO, World, eventually, make_world
from tests.slack.test_flows import ORDER, approval_id, cards_of, dm, replies_in

CHANGE = "open a change to restart payments-api tonight"  # prod-change: change managers, notify #ops-changes


def test_a_change_card_goes_to_the_change_managers_and_the_rules_channel(world: World) -> None:
    world.event(mention(ALICE, CHANGE, ts=world.next_ts()))

    cards = world.slack.wait_for(lambda s: len(cards_of(s)) >= 2 and cards_of(s))
    assert {c.params["channel"] for c in cards} == {"U0ERIN01", "#ops-changes"}


def test_a_click_after_the_decision_is_refused_as_late(world: World) -> None:
    world.event(mention(ALICE, ORDER, ts=world.next_ts()))
    request_id = approval_id(world.slack.wait_for(lambda s: cards_of(s))[0])
    world.interact(click(GRACE, "approve", request_id, channel=dm(GRACE)))
    world.interact(click(HEIDI, "approve", request_id, channel=dm(HEIDI)))
    eventually(lambda: world.ops.approval(request_id).request.final)

    world.interact(click(LEO, "approve", request_id, channel=dm(LEO)))

    [late] = world.slack.wait_for(lambda s: s.of("chat.postEphemeral"))
    assert late.params["user"] == LEO and "approved" in late.text.lower() and "Not recorded" in late.text


def test_a_colleague_in_someone_elses_thread_is_asked_to_start_their_own(world: World) -> None:
    ts = world.next_ts()
    world.event(mention(ALICE, "how many 14-inch Pro laptops are in Amsterdam?", ts=ts))
    world.slack.wait_for(lambda s: replies_in(s, ts))
    world.event(mention("U0BOB01", ORDER, ts=world.next_ts(), thread_ts=ts))

    told = world.slack.wait_for(lambda s: [c for c in replies_in(s, ts) if "alice.requester's" in c.text])
    assert "start your own" in told[0].text
    assert [e.actor for e in world.ops.audit_events(kinds=[EventKind.REQUEST])] == ["alice.requester"]


def test_citations_read_as_source_section_and_id(world: World) -> None:
    thread = "slack-cited"
    citation = {
        "id": "rb:payments.md#restart",
        "source": "runbooks/payments.md",
        "section": "Restart",
        "snippet": "…",
    }
    world.ops.stores.audit.append(EventKind.RETRIEVAL, {"citations": [citation]}, thread_id=thread)

    shown = references(world.ops, thread, ["rb:payments.md#restart", "inc:INC0099"])

    assert shown == ["runbooks/payments.md — Restart (rb:payments.md#restart)", "inc:INC0099"]


@pytest.fixture
def strict_world(
    tmp_path: Path, systems_template: Path, standin: tuple[SlackStandIn, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[World]:
    """One message a minute per person."""
    yield from make_world(tmp_path, systems_template, standin, monkeypatch, send_rate_per_minute=1)


def test_the_send_rate_limit_holds_in_slack_too(strict_world: World) -> None:
    world = strict_world
    first, second = world.next_ts(), world.next_ts()
    world.event(mention(ALICE, "how many 14-inch Pro laptops are in Amsterdam?", ts=first))
    world.slack.wait_for(lambda s: replies_in(s, first))

    world.event(mention(ALICE, ORDER, ts=second))

    [told] = world.slack.wait_for(lambda s: replies_in(s, second))
    assert "At most 1 messages a minute" in told.text
    assert len(world.ops.audit_events(kinds=[EventKind.REQUEST])) == 1
