"""What is asked in Slack is kept until a worker has run its turn, and runs once.

Pins: the request process only records the ask and queues it (with no worker, Slack still gets its
200 and the ask waits, nothing runs); any worker runs it later and the answer is posted once; a
worker taking over an ask from one that died part-way continues the turn when the message got in
(one request on the thread, not two) and sends it when it did not.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from agent import wiring
from agent.slack.store import Ask, Place, SlackStore
from agent.worker import Worker
from evals.slack_standin import SlackStandIn, mention
from governance.audit import EventKind
from governance.work import RESUME, SLACK_TURN
from tests.slack.conftest import ALICE, World, eventually, make_world
from tests.slack.test_flows import ORDER, orders, replies_in

QUESTION = "how many 14-inch Pro laptops are in Amsterdam?"


@pytest.fixture
def idle_world(
    tmp_path: Path, systems_template: Path, standin: tuple[SlackStandIn, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[World]:
    """The app with no worker of its own: as if every worker had died (the test runs one)."""
    yield from make_world(tmp_path, systems_template, standin, monkeypatch, worker=False)


def requests(world: World) -> list[str]:
    return [str(e.payload.get("text")) for e in world.ops.audit_events(kinds=[EventKind.REQUEST])]


def answers_in(world: World, ts: str) -> list[str]:
    return [c.text for c in replies_in(world.slack, ts) if "LAP-14-PRO" in c.text]


def store(world: World) -> SlackStore:
    return SlackStore(wiring.governance_engine(world.settings), clock=world.ops.now)


def test_an_ask_waits_for_a_worker_and_then_runs_once(idle_world: World) -> None:
    world = idle_world
    ts = world.next_ts()

    assert world.event(mention(ALICE, QUESTION, ts=ts, event_id="Ev0DURABLE1")).status_code == 200
    eventually(lambda: world.ops.stores.work.get(SLACK_TURN, "Ev0DURABLE1"))

    assert requests(world) == [] and store(world).open_asks() == 1  # kept, nothing ran

    Worker(world.settings, operations=world.ops, worker_id="later").run_once()
    world.settle()

    assert requests(world) == [QUESTION]
    assert len(answers_in(world, ts)) == 1 and store(world).open_asks() == 0
    reactions = [c.params["name"] for c in world.slack.of("reactions.add") if c.params["timestamp"] == ts]
    assert reactions == ["eyes", "white_check_mark"]


def started_ask(world: World, ask_id: str, text: str = QUESTION) -> tuple[str, str]:
    """An ask a worker started (its thread recorded, no request audited yet) and then died holding:
    (the Slack thread ts, the agent thread)."""
    ts = world.next_ts()
    place = Place(channel="C0OPS", thread_ts=ts)
    asks = store(world)
    asks.record_ask(Ask(ask_id=ask_id, slack_user=ALICE, text=text, place=place, message_ts=ts))
    thread = asks.thread_for(place, f"slack-{ask_id.lower()}")
    asks.start_ask(ask_id, thread_id=thread, requests_before=0)
    world.ops.queue(SLACK_TURN, ask_id)  # its lease ran out: the work is due again
    return ts, thread


def test_a_worker_taking_over_continues_a_turn_whose_message_got_in(idle_world: World) -> None:
    world = idle_world
    ts, thread = started_ask(world, "Ev0TAKEOVER")
    world.ops.send(QUESTION, actor="alice.requester", thread=thread, channel="slack")  # it got that far

    Worker(world.settings, operations=world.ops, worker_id="next").run_once()
    world.settle()

    assert requests(world) == [QUESTION]  # not asked twice
    assert len(answers_in(world, ts)) == 1 and store(world).open_asks() == 0


def test_a_worker_taking_over_sends_a_message_that_never_got_in(idle_world: World) -> None:
    world = idle_world
    ts, _ = started_ask(world, "Ev0LOST")  # it died before the message reached the agent

    Worker(world.settings, operations=world.ops, worker_id="next").run_once()
    world.settle()

    assert requests(world) == [QUESTION]
    assert len(answers_in(world, ts)) == 1 and store(world).open_asks() == 0


def test_a_worker_taking_over_leaves_a_thread_another_worker_is_resuming(idle_world: World) -> None:
    """The takeover resumes under the thread's own lease: never a second writer of its checkpoints."""
    world = idle_world
    _, thread = started_ask(world, "Ev0HELD", text=ORDER)
    [request] = world.ops.send(ORDER, actor="alice.requester", thread=thread, channel="slack").pending
    for voter in ("grace.procure", "heidi.finance"):
        world.ops.vote(request.id, voter=voter, approve=True, channel="api")  # final: a resume is queued
    held = world.ops.stores.work.lease_now(RESUME, thread, "worker-elsewhere", lease_for=timedelta(minutes=1))
    assert held is not None

    Worker(world.settings, operations=world.ops, worker_id="next").run_once()
    world.settle()

    assert orders(world) == [] and store(world).open_asks() == 0  # left to the worker holding the thread
    still = world.ops.stores.work.get(RESUME, thread)
    assert still is not None and (still.leased_by, still.lease_seq) == ("worker-elsewhere", held.lease_seq)
