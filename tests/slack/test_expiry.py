"""What time does: an approval nobody decides expires, and Slack is told; step-up links expire.

Pins: when a request expires (the worker expires it), every card shows it expired and the requester's
thread is told, then the agent's continuation is posted there; a step-up link past its time, or used,
leads nowhere (the store's clock is the test's).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent import wiring
from agent.slack.store import SlackStore, StepUpRefused
from agent.worker import Worker
from evals.slack_standin import SlackStandIn, mention
from tests.slack.conftest import ALICE, World, make_world, slack_settings
from tests.slack.test_flows import ORDER, cards_of, replies_in


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def timed_world(
    tmp_path: Path,
    systems_template: Path,
    standin: tuple[SlackStandIn, str],
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[World]:
    """The operations service on the test's clock, and no worker in the app (the test runs one)."""
    yield from make_world(tmp_path, systems_template, standin, monkeypatch, worker=False, clock=clock)


def test_an_expired_request_updates_its_cards_and_tells_the_requester(
    timed_world: World, clock: Clock
) -> None:
    world = timed_world
    ts = world.next_ts()
    world.event(mention(ALICE, ORDER, ts=ts))
    worker = Worker(world.settings, operations=world.ops, clock=clock)
    worker.run_once()  # the turn asked in Slack
    cards = world.slack.wait_for(lambda s: len(cards_of(s)) >= 3 and cards_of(s))

    clock.now += timedelta(hours=25)
    worker.run_once()  # expires it, resumes the thread

    told = world.slack.wait_for(
        lambda s: [c for c in replies_in(s, ts) if "Expired: nobody decided" in c.text]
    )
    updated = world.slack.wait_for(
        lambda s: len({u.params["ts"] for u in s.of("chat.update") if "Expired" in u.text}) == len(cards)
    )
    assert len(told) == 1 and updated
    world.slack.wait_for(lambda s: len(replies_in(s, ts)) >= 3)  # the agent's continuation after the expiry
    assert [e for e in world.ops.executions() if e.tool == "procurement_create_purchase_order"] == []


def test_a_step_up_link_expires_and_is_used_once(tmp_path: Path) -> None:
    now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    settings = slack_settings(tmp_path / "home", _empty_systems(tmp_path), "http://127.0.0.1:9/api/")
    store = SlackStore(wiring.governance_engine(settings), clock=lambda: now)
    late = store.issue_step_up("APR-00000001", valid_for=timedelta(minutes=10))
    fresh = store.issue_step_up("APR-00000002", valid_for=timedelta(minutes=10))

    now += timedelta(minutes=5)
    assert store.redeem_step_up(fresh) == "APR-00000002"
    with pytest.raises(StepUpRefused, match="used already"):
        store.redeem_step_up(fresh)
    now += timedelta(minutes=5)
    with pytest.raises(StepUpRefused, match="expired"):
        store.redeem_step_up(late)


def _empty_systems(tmp_path: Path) -> Path:
    path = tmp_path / "systems.db"
    path.touch()
    return path
