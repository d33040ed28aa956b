"""The Slack app's tables behave the same on SQLite and PostgreSQL, across processes (each store here
has its own engine on one database, as two processes would).

Pins: an event id, a signed request and an audit event are each taken once; one Slack thread maps to one
agent thread whoever asks first; the poster's cursor has one holder at a time, is taken over when its lease
runs out, and the old holder can no longer move it; a step-up link is redeemed once; what is past its
retention is forgotten, asks still waiting and claims ahead of the cursor are not.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agent.slack.store import Ask, Card, Place, SlackStore, StepUpRefused
from tests.pg.engines import OpenEngine

LEASE = timedelta(seconds=30)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def two_stores(open_engine: OpenEngine, clock: Clock) -> tuple[SlackStore, SlackStore]:
    return SlackStore(open_engine(), clock=clock), SlackStore(open_engine(), clock=clock)


def test_deliveries_requests_and_events_are_taken_once(open_engine: OpenEngine) -> None:
    one, other = two_stores(open_engine, Clock())

    assert one.first_delivery("Ev01") and not other.first_delivery("Ev01") and other.first_delivery("Ev02")
    window = timedelta(minutes=5)
    assert one.admit("1700000000", "v0=aa", event_id="Ev03", window=window) == (True, True)
    assert other.admit("1700000000", "v0=aa", event_id="Ev03", window=window) == (False, False)  # replay
    assert other.admit("1700000009", "v0=bb", event_id="Ev03", window=window) == (True, False)  # a retry
    assert other.admit("1700000009", "v0=cc", event_id=None, window=window) == (True, True)  # a click
    assert [one.claim_event(7), other.claim_event(7), other.claim_event(8)] == [True, False, True]


def test_one_slack_thread_is_one_agent_thread(open_engine: OpenEngine) -> None:
    one, other = two_stores(open_engine, Clock())
    place = Place(channel="C0OPS", thread_ts="1700000000.000100")

    first = one.thread_for(place, "slack-aaa")
    second = other.thread_for(place, "slack-bbb")

    assert first == second == "slack-aaa" and other.place_of("slack-aaa") == place
    assert one.place_of("t-started-elsewhere") is None


def test_the_cursor_has_one_holder_until_its_lease_runs_out(open_engine: OpenEngine) -> None:
    clock = Clock()
    one, other = two_stores(open_engine, clock)

    assert one.cursor() is None  # no poster ran yet
    assert one.lease_cursor("a", start_at=41, lease_for=LEASE) == 41
    assert other.cursor() == 41
    assert other.lease_cursor("b", start_at=0, lease_for=LEASE) is None
    assert one.advance_cursor("a", 45)
    clock.now += LEASE
    assert other.lease_cursor("b", start_at=0, lease_for=LEASE) == 45
    assert not one.advance_cursor("a", 50) and one.lease_cursor("a", start_at=0, lease_for=LEASE) is None
    other.release_cursor("b")
    assert one.lease_cursor("a", start_at=0, lease_for=LEASE) == 45


def test_cards_and_step_up_links(open_engine: OpenEngine) -> None:
    clock = Clock()
    one, other = two_stores(open_engine, clock)
    one.add_card(Card(approval_id="APR-1", channel="D0GRACE01", ts="1.1", recipient="grace.procure"))
    other.add_card(Card(approval_id="APR-1", channel="C0OPS", ts="1.2", recipient=None))
    secret = one.issue_step_up("APR-1", valid_for=timedelta(minutes=10))

    assert {card.channel for card in other.cards("APR-1")} == {"D0GRACE01", "C0OPS"}
    assert other.redeem_step_up(secret) == "APR-1"
    try:
        one.redeem_step_up(secret)
    except StepUpRefused as refused:
        assert "used already" in str(refused)
    else:
        raise AssertionError("a step-up link was redeemed twice")


def test_what_is_past_its_retention_is_forgotten_and_waiting_asks_are_kept(open_engine: OpenEngine) -> None:
    clock = Clock()
    one, other = two_stores(open_engine, clock)
    place = Place(channel="C0OPS", thread_ts="1700000000.000100")
    for ask_id in ("Ev10", "Ev11"):
        assert one.first_delivery(ask_id)
        assert one.record_ask(Ask(ask_id=ask_id, slack_user="U0A", text="hi", place=place, message_ts=None))
    one.finish_ask("Ev10")  # Ev11 still waits for a worker
    spent = one.issue_step_up("APR-00000001", valid_for=timedelta(minutes=10))
    clock.now += timedelta(hours=25)
    assert other.first_delivery("Ev12")  # recent: kept
    fresh = other.issue_step_up("APR-00000002", valid_for=timedelta(minutes=10))

    assert other.forget(clock.now - timedelta(hours=24)) == 4  # two event ids, one ask, one link

    assert one.ask("Ev10") is None and one.ask("Ev11") is not None and one.open_asks() == 1
    assert one.first_delivery("Ev10") and not one.first_delivery("Ev12")
    with pytest.raises(StepUpRefused, match="not one opslayer issued"):
        one.redeem_step_up(spent)
    assert one.redeem_step_up(fresh) == "APR-00000002"
    assert other.forget(clock.now - timedelta(hours=24)) == 0


def test_claims_the_cursor_passed_are_forgotten_after_the_retention(open_engine: OpenEngine) -> None:
    clock = Clock()
    one, other = two_stores(open_engine, clock)
    assert one.lease_cursor("a", start_at=10, lease_for=LEASE) == 10
    for seq in (11, 12, 13):
        assert one.claim_event(seq)
    assert one.advance_cursor("a", 12)  # 13 is claimed, its post not yet done
    clock.now += timedelta(hours=1)
    assert other.claim_event(14)  # a recent claim
    assert one.advance_cursor("a", 14)

    assert other.forget(clock.now - timedelta(hours=24)) == 0  # every claim is younger than the retention
    clock.now += timedelta(hours=23, minutes=30)
    assert other.forget(clock.now - timedelta(hours=24)) == 3  # 11-13; 14 is 23.5 h old

    assert one.claim_event(14) is False and other.claim_event(15)
    clock.now += timedelta(hours=1)
    assert one.lease_cursor("a", start_at=0, lease_for=LEASE) == 14
    assert other.forget(clock.now - timedelta(hours=24)) == 1  # 14; 15 is ahead of the cursor, however old
    clock.now += timedelta(days=30)
    assert other.forget(clock.now - timedelta(hours=24)) == 0 and not one.claim_event(15)
