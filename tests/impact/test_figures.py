"""The impact figures of a hand-built trail, with the answers worked out by hand (tests/impact/trail.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from governance.audit import AuditLog
from governance.impact import Impact, compute_impact, system_of
from tests.impact.trail import DAY1, DAY2, EFFORT, EXPECTED, REVIEW_MINUTES, FakeClock, build_trail
from tests.pg.engines import OpenEngine


@pytest.fixture
def audit(open_engine: OpenEngine) -> AuditLog:
    clock = FakeClock(DAY1)
    log = AuditLog(open_engine(), clock=clock)
    build_trail(log, clock)
    return log


def _impact(audit: AuditLog, **options: object) -> Impact:
    return compute_impact(audit, effort_minutes=EFFORT, review_minutes=REVIEW_MINUTES, **options)  # type: ignore[arg-type]


def test_totals_match_the_hand_count(audit: AuditLog) -> None:
    totals = _impact(audit).totals.to_dict()
    assert {name: totals[name] for name in EXPECTED} == EXPECTED
    assert totals["without_human_share"] == pytest.approx(3 / 4)


def test_per_tool_an_approved_call_saves_its_effort_less_the_review(audit: AuditLog) -> None:
    tools = dict(_impact(audit).tools)
    po = tools["procurement_create_purchase_order"]
    assert (po.calls, po.by_tier["approve"], po.completed, po.completed_without_human) == (1, 1, 1, 0)
    assert (po.effort_minutes, po.review_minutes, po.minutes_saved) == (30.0, 5.0, 25.0)
    assert po.decision_p50_seconds == 1800.0
    adjust = tools["inventory_adjust_stock"]
    assert (adjust.rejected, adjust.reminders, adjust.escalations, adjust.minutes_saved) == (1, 1, 1, -5.0)
    update, note = tools["itsm_update_incident"], tools["itsm_add_work_note"]
    assert (update.veto_windows, update.vetoes, update.approvals_requested, update.rejected) == (1, 1, 0, 0)
    assert (note.completed, note.completed_without_human, note.approved) == (1, 1, 0)
    assert tools["inventory_transfer_stock"].denials == 1


def test_per_system_and_period(audit: AuditLog) -> None:
    impact = _impact(audit)
    itsm = dict(impact.systems)["itsm"]
    assert (itsm.calls, itsm.completed, itsm.failed_executions, itsm.vetoes) == (5, 3, 1, 1)
    assert [name for name, _ in impact.systems] == ["itsm", "inventory", "procurement"]  # ties by name
    periods = dict(impact.periods)
    assert (periods["2026-12-01"].requests, periods["2026-12-01"].calls) == (2, 5)
    assert (periods["2026-12-02"].requests, periods["2026-12-02"].calls) == (1, 4)
    assert periods["2026-12-02"].monitors_tripped == 2
    assert impact.monitors == (("refusals-per-thread", 2),)


def test_weeks_gather_their_days(audit: AuditLog) -> None:
    impact = _impact(audit, period="week")
    assert [name for name, _ in impact.periods] == ["2026-W49 (2026-11-30)"]
    assert impact.periods[0][1].calls == EXPECTED["calls"]


def test_since_drops_earlier_events_but_keeps_the_wait_of_a_request_made_before(audit: AuditLog) -> None:
    impact = _impact(audit, since=DAY2)
    assert (impact.totals.requests, impact.totals.calls, impact.totals.approvals_requested) == (1, 4, 1)
    assert impact.totals.decision_p50_seconds == 14400.0
    later = _impact(audit, since=DAY2 + timedelta(minutes=239))
    assert (later.totals.approvals_requested, later.totals.rejected) == (0, 1)
    assert later.totals.decision_p95_seconds == 14400.0


def test_until_is_excluded(audit: AuditLog) -> None:
    impact = _impact(audit, until=DAY2)
    assert (impact.totals.requests, impact.totals.vetoes, impact.totals.rejected) == (2, 0, 0)


def test_an_empty_trail_has_zero_figures_and_no_share(open_engine: OpenEngine) -> None:
    impact = compute_impact(AuditLog(open_engine()))
    assert impact.totals.calls == 0
    assert impact.totals.without_human_share is None
    assert impact.totals.decision_p50_seconds is None
    assert (impact.periods, impact.tools, impact.monitors) == ((), (), ())


def test_bad_options_are_named(audit: AuditLog) -> None:
    with pytest.raises(ValueError, match="period"):
        compute_impact(audit, period="month")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="review minutes"):
        compute_impact(audit, review_minutes=-1)
    with pytest.raises(ValueError, match="timezone"):
        compute_impact(audit, since=DAY1.replace(tzinfo=None))


def test_system_is_the_tool_prefix() -> None:
    assert system_of("procurement_create_purchase_order") == "procurement"
    assert system_of("knowledge_search") == "knowledge"
