"""The kill switch and tripped monitors as inputs of decide: a pause turns an auto call into approve
(and explain shows it), a restriction names its monitor in every decision made under it, clearing
ends it, and only the roles the policy names may pause, resume or clear."""

from __future__ import annotations

from typing import Any

import pytest

from agent.operations import Operations
from agent.operations.oversight import OversightInvalid, OversightRefused
from agent.wiring import governance_engine
from agent.worker import Worker
from governance.audit import AuditLog, EventKind
from governance.decision import Tier
from governance.restrictions import AlreadyCleared
from tests.oversight.conftest import NOTE, NOTE_ASKS, PAUSES, Clock, KeptNotifier

TRANSFER: dict[str, Any] = {
    "sku": "SSD-1TB-NVME",
    "from_warehouse": "AMS-1",
    "to_warehouse": "BER-2",
    "quantity": 2,
    "reason": "rebalance",
}


def test_a_pause_turns_an_auto_call_into_approve_and_explain_shows_it(ops: Operations) -> None:
    before, _ = ops.explain("inventory_transfer_stock", TRANSFER, actor="carol.desk")
    assert before.tier is Tier.AUTO

    pause = ops.oversight.pause(by=PAUSES, reason="stock counts look wrong", tool="inventory_*")
    during, _ = ops.explain("inventory_transfer_stock", TRANSFER, actor="carol.desk")
    unrelated, _ = ops.explain("itsm_get_incident", {"number": "INC0010047"}, actor="carol.desk")

    assert during.tier is Tier.APPROVE
    assert f"pause:{pause.id}" in during.rule_ids and during.restrictions == (pause.id,)
    assert any(
        "autonomy paused by erin.change" in reason and "stock counts look wrong" in reason
        for reason in during.reasons
    )
    assert [r.roles for r in during.approvals] == [("change_manager",)]
    assert unrelated.tier is Tier.AUTO
    [paused] = ops.audit_events(kinds=[EventKind.AUTONOMY_PAUSED])
    assert paused.actor == PAUSES and paused.payload["restriction_id"] == pause.id

    ops.oversight.resume(pause.id, by=PAUSES, reason="recounted")
    after, _ = ops.explain("inventory_transfer_stock", TRANSFER, actor="carol.desk")
    assert after.tier is Tier.AUTO
    assert [e.payload["reason"] for e in ops.audit_events(kinds=[EventKind.AUTONOMY_RESUMED])] == [
        "recounted"
    ]


def test_a_pause_for_one_person_can_deny(ops: Operations) -> None:
    ops.oversight.pause(by=PAUSES, reason="account compromised?", person="bob.requester", deny=True)

    bob, _ = ops.explain("inventory_transfer_stock", TRANSFER, actor="bob.requester")
    carol, _ = ops.explain("inventory_transfer_stock", TRANSFER, actor="carol.desk")

    assert bob.tier is Tier.DENY and carol.tier is Tier.AUTO


def test_only_the_roles_the_policy_names_may_pause_and_bad_input_is_named(ops: Operations) -> None:
    with pytest.raises(OversightRefused, match="needs change_manager"):
        ops.oversight.pause(by="carol.desk", reason="I would like to")
    assert ops.audit_events(kinds=[EventKind.ACCESS_DENIED])[-1].actor == "carol.desk"
    with pytest.raises(OversightInvalid, match="matches no tool"):
        ops.oversight.pause(by=PAUSES, reason="x", tool="nosuch_*")
    with pytest.raises(OversightInvalid, match="reason"):
        ops.oversight.pause(by=PAUSES, reason="  ")
    assert ops.oversight.pauses() == []


def _refuse(ops: Operations, clock: Clock, thread: str, count: int) -> None:
    """Calls refused by validation, as a confused (or injected) model makes them, in the trail (at
    the test's clock: the service's trail keeps the real time)."""
    trail = AuditLog(governance_engine(ops.settings), clock=clock)
    for index in range(count):
        payload = {
            "stage": "validation",
            "tool_call_id": f"c{index}",
            "tool": "itsm_add_work_note",
            "tier": "deny",
            "reasons": ["bad arguments"],
            "args_digest": "0" * 64,
            "policy_version": ops.governance.policy.version,
        }
        trail.append(EventKind.DECISION, payload, thread_id=thread, actor="carol.desk")


def test_a_monitor_trips_restricts_its_thread_names_itself_and_is_cleared(
    ops: Operations, worker: Worker, clock: Clock, notifier: KeptNotifier
) -> None:
    first = ops.send("show INC0010047", actor=NOTE_ASKS)
    thread = first.thread_id
    _refuse(ops, clock, thread, 2)
    clock.advance(seconds=31)
    worker.run_once()
    assert [m.trips for m in ops.oversight.monitors()] == [()]  # 2 of 3: not yet

    _refuse(ops, clock, thread, 1)
    clock.advance(seconds=31)
    worker.run_once()
    [view] = ops.oversight.monitors()
    [trip] = view.trips
    assert (trip.scope, trip.subject, trip.tier) == ("thread", thread, Tier.APPROVE)
    [tripped] = ops.audit_events(kinds=[EventKind.MONITOR_TRIPPED])
    assert tripped.payload["monitor"] == "confused-thread"
    assert (tripped.payload["figure"], tripped.payload["threshold"]) == (3.0, 3.0)
    assert any("monitor confused-thread tripped" in text for text in notifier.to("dave.incident"))
    assert ops.metrics.value("opslayer_monitors_tripped", monitor="confused-thread") == 1

    clock.advance(seconds=31)
    worker.run_once()
    assert len(ops.audit_events(kinds=[EventKind.MONITOR_TRIPPED])) == 1  # once until cleared

    held = ops.send(NOTE, actor=NOTE_ASKS, thread=thread)  # notify alone; approve in this thread now
    [request] = held.pending
    assert not request.veto_window and "monitor:confused-thread" in request.rule_ids
    [decision] = [
        e for e in ops.audit_events(thread=thread, kinds=["decision"]) if e.payload.get("stage") == "plan"
    ][-1:]
    assert "monitor:confused-thread" in decision.payload["rule_ids"]
    elsewhere = ops.send(NOTE, actor=NOTE_ASKS)  # another thread: its veto window only
    assert elsewhere.pending[0].veto_window

    with pytest.raises(OversightRefused):
        ops.oversight.clear(trip.id, by="carol.desk", reason="fine")
    ops.oversight.clear(trip.id, by="dave.incident", reason="model fixed")
    with pytest.raises(AlreadyCleared):
        ops.oversight.clear(trip.id, by="dave.incident", reason="again")
    [cleared] = ops.audit_events(kinds=[EventKind.MONITOR_CLEARED])
    assert cleared.actor == "dave.incident" and cleared.payload["monitor"] == "confused-thread"
    assert ops.oversight.in_force().restrictions == ()
    clock.advance(seconds=31)
    worker.run_once()  # what was cleared does not trip it again within its window
    assert ops.metrics.value("opslayer_monitors_tripped", monitor="confused-thread") == 0
    _refuse(ops, clock, thread, 3)
    clock.advance(hours=1)  # a window after the clearance
    worker.run_once()
    assert len(ops.audit_events(kinds=[EventKind.MONITOR_TRIPPED])) == 2


def test_replay_decides_each_call_under_the_restrictions_in_force_when_it_was_made(ops: Operations) -> None:
    from governance.replay import replay

    pause = ops.oversight.pause(by=PAUSES, reason="counts look wrong", tool="inventory_*")
    held = ops.send("move 10 SSD-1TB-NVME from AMS-1 to BER-2", actor="carol.desk")
    ops.oversight.resume(pause.id, by=PAUSES, reason="recounted")
    free = ops.send("move 10 SSD-1TB-NVME from AMS-1 to BER-2", actor="carol.desk")

    replayed = {
        r.thread_id: r
        for r in replay(ops.stores.audit, ops.governance.policy, ops.governance.directory)
        if r.tool == "inventory_transfer_stock"
    }
    assert held.pending and replayed[held.thread_id].new_tier == "approve"
    assert f"pause:{pause.id}" in replayed[held.thread_id].new_rules
    assert replayed[free.thread_id].new_tier == "auto" and not replayed[free.thread_id].changed
    assert not replayed[held.thread_id].changed
