"""Figures of turns the agent really ran (offline planner): the payloads it writes are the ones counted."""

from __future__ import annotations

from agent.operations import Operations
from agent.operations.impact import impact


def test_real_turns_are_counted(ops: Operations) -> None:
    ops.send("summarise INC0010032", actor="carol.desk")
    turn = ops.send("write off 3 damaged MON-27-4K at AMS-1", actor="carol.desk")
    [request] = turn.pending
    ops.vote(request.id, voter="frank.warehouse", approve=True, channel="test")
    ops.resume(turn.thread_id)

    totals = impact(ops).totals
    assert totals.requests == 2
    assert (totals.approvals_requested, totals.approved, totals.by_tier["approve"]) == (1, 1, 1)
    assert totals.by_tier["auto"] >= 1 and totals.calls == sum(totals.by_tier.values())
    assert totals.completed == totals.completed_without_human + 1  # the write-off needed frank
    assert totals.decision_p50_seconds is not None and totals.decision_p50_seconds >= 0
    assert totals.review_minutes == ops.settings.impact_review_minutes
    effort = ops.governance.policy.policy.effort_minutes
    tools = dict(impact(ops).tools)
    assert tools["inventory_adjust_stock"].effort_minutes == effort["inventory_adjust_stock"]
