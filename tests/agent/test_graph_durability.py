"""Durable, exactly-once execution across restarts, double resumes, crashes and changed usage.

Pins: a thread paused for approval survives a restart (a new session on the same files) and its call
runs once; a second resume is refused and runs nothing; a crash after the handler ran but before
the checkpoint is recovered by resuming, which returns the recorded result (backend: one record) and
does not re-decide the call against its own usage; the re-check before executing sends a call back
to approval when usage rose since it was cleared (audited); unknown threads cannot be resumed; a crash
inside the handler blocks the thread until an operator settles the call (`opslayer executions
settle`), after which it goes on without running the handler again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from agent.cli.app import app
from agent.run.errors import PlannerUnavailable, ThreadError, ThreadNotWaiting, UnknownThread
from agent.run.session import AgentSession
from governance.approvals import ApprovalStatus
from governance.audit import AuditEvent, AuditLog
from governance.executions import ExecutionInProgress, ExecutionStatus, idempotency_key
from governance.policy import DEFAULT_POLICY_PATH
from governance.store import sqlite_engine
from tests.agent.graph_support import NOW, ScriptedLLM, World, answer, calls, po_args, po_call
from tools.local.engine import local_engine
from tools.local.procurement import LocalProcurement
from tools.models import NewPurchaseOrder, PurchaseOrder

# 16 monitors = 1,904 (notify tier, ≤ 2,000); four of them use 7,616 of the 10,000 daily budget.
SMALL = 16


class Crash(BaseException):
    """Stands in for the process dying: not an ``Exception``, so nothing on the way catches it."""


class CrashOnFirstExecutionEvent(AuditLog):
    """Dies once, when the ``execution`` event is appended: the handler ran, the checkpoint did not."""

    crashed = False

    def append(
        self, kind: str, payload: Mapping[str, Any], *, thread_id: str | None = None, actor: str | None = None
    ) -> AuditEvent:
        if kind == "execution" and not self.crashed:
            self.crashed = True
            raise Crash
        return super().append(kind, payload, thread_id=thread_id, actor=actor)


def crashing_session(world: World) -> AgentSession:
    audit = CrashOnFirstExecutionEvent(sqlite_engine(world.settings.governance_db))
    return world.open(wrap=lambda deps: dataclasses.replace(deps, audit=audit))


class DiesAfterOrdering(LocalProcurement):
    """The local procurement system in a process that dies right after an order is committed.

    The crash comes inside the handler, between the backend's commit and the ledger's: the one window
    the executions ledger cannot close by itself.
    """

    def create_purchase_order(
        self, new: NewPurchaseOrder, *, idempotency_key: str | None = None
    ) -> PurchaseOrder:
        super().create_purchase_order(new, idempotency_key=idempotency_key)
        raise Crash


def dying_in_the_handler(world: World) -> AgentSession:
    procurement = DiesAfterOrdering(local_engine(world.settings.systems_db))
    return world.open(
        wrap=lambda deps: dataclasses.replace(
            deps, systems=dataclasses.replace(deps.systems, procurement=procurement)
        )
    )


def spend_small_orders(world: World, llm: ScriptedLLM, count: int = 4) -> None:
    """Alice orders ``count`` small POs in one turn of another thread; all run (notify tier)."""
    llm.queue(calls(*(po_call(SMALL, id=f"small{i}") for i in range(count))), answer("Small orders placed."))
    turn = world.send("Order monitors for four desks, one PO each")
    assert turn.answer == "Small orders placed."
    assert len(world.new_purchase_orders()) == count


def test_a_pending_approval_survives_a_restart_and_runs_once(world: World, llm: ScriptedLLM) -> None:
    llm.queue(calls(po_call(40, id="po")))
    turn = world.send("Order 40 monitors")
    [request] = turn.pending

    restarted = world.restart()
    assert restarted.pending_approvals(turn.thread_id) == [request.id]
    world.approve(request.id, "grace.procure")
    llm.queue(answer("Ordered."))
    done = restarted.resume(turn.thread_id)

    assert done.answer == "Ordered."
    assert len(world.new_purchase_orders()) == 1
    assert len(world.executions(turn.thread_id)) == 1
    assert [m["role"] for m in llm.requests[-1]["messages"]] == ["system", "user", "assistant", "tool"]


def test_a_second_resume_is_refused_and_runs_nothing(world: World, llm: ScriptedLLM) -> None:
    llm.queue(calls(po_call(40, id="po")), answer("Ordered."))
    turn = world.send("Order 40 monitors")
    world.approve(turn.pending[0].id, "grace.procure")
    world.session.resume(turn.thread_id)

    with pytest.raises(ThreadNotWaiting):
        world.session.resume(turn.thread_id)
    with pytest.raises(ThreadNotWaiting):
        world.restart().resume(turn.thread_id)

    assert len(world.new_purchase_orders()) == 1
    assert len(world.executions(turn.thread_id)) == 1
    assert len(llm.requests) == 2


def test_sending_to_a_thread_waiting_for_approval_is_refused(world: World, llm: ScriptedLLM) -> None:
    llm.queue(calls(po_call(40, id="po")))
    turn = world.send("Order 40 monitors")

    with pytest.raises(ThreadError, match="waiting for approval"):
        world.send("and 10 more", thread_id=turn.thread_id)

    assert len(llm.requests) == 1


def test_resuming_an_unknown_thread_is_an_error(world: World) -> None:
    with pytest.raises(UnknownThread):
        world.session.resume("t-never-started")
    assert not world.session.exists("t-never-started")


def test_crash_after_the_handler_ran_is_recovered_without_a_second_execution(
    world: World, llm: ScriptedLLM
) -> None:
    doomed = crashing_session(world)
    llm.queue(calls(po_call(40, id="po")))
    turn = doomed.send("Order 40 monitors", actor_id="alice.requester")
    world.approve(turn.pending[0].id, "grace.procure")
    with pytest.raises(Crash):
        doomed.resume(turn.thread_id)
    assert len(world.new_purchase_orders()) == 1  # the handler ran; its execution event was lost

    restarted = world.restart()
    with pytest.raises(ThreadError, match="resume it first"):
        restarted.send("anything new?", actor_id="alice.requester", thread_id=turn.thread_id)
    llm.queue(answer("Ordered."))
    done = restarted.resume(turn.thread_id)

    assert done.answer == "Ordered."
    [po] = world.new_purchase_orders()
    assert llm.tool_results()["po"]["number"] == po.number
    [execution] = world.executions(turn.thread_id)
    assert (execution["status"], execution["replayed"]) == ("completed", True)
    key = idempotency_key(turn.thread_id, "po", execution["args_digest"])
    record = world.deps.executions.get(key)
    assert record is not None
    assert (record.status, record.attempts) == (ExecutionStatus.COMPLETED, 1)
    assert world.deps.audit.verify().ok


def test_crash_recovery_does_not_count_the_call_against_its_own_usage(world: World, llm: ScriptedLLM) -> None:
    spend_small_orders(world, llm)  # 7,616 used
    doomed = crashing_session(world)
    llm.queue(calls(po_call(SMALL, id="fifth")))
    with pytest.raises(Crash):
        doomed.send("One more desk", actor_id="alice.requester", thread_id="t-fifth")
    assert len(world.new_purchase_orders()) == 5  # 9,520 used: re-deciding it now would exceed 10,000

    llm.queue(answer("Fifth order placed."))
    done = world.restart().resume("t-fifth")

    assert done.answer == "Fifth order placed."
    assert len(world.new_purchase_orders()) == 5
    assert world.deps.approvals.for_thread("t-fifth") == []
    assert [e["replayed"] for e in world.executions("t-fifth")] == [True]
    assert len(world.notifier.sent) == 5  # notified before running, not again on recovery


def test_llm_failure_after_an_approved_call_ran_resumes_without_running_it_again(
    world: World, llm: ScriptedLLM
) -> None:
    llm.queue(calls(po_call(40, id="po")))
    turn = world.send("Order 40 monitors")
    world.approve(turn.pending[0].id, "grace.procure")
    llm.queue(httpx.Response(502, json={"error": {"message": "bad gateway"}}))
    with pytest.raises(PlannerUnavailable):
        world.session.resume(turn.thread_id)
    assert len(world.new_purchase_orders()) == 1

    llm.queue(answer("Ordered."))
    done = world.session.resume(turn.thread_id)

    assert done.answer == "Ordered."
    assert len(world.new_purchase_orders()) == 1
    assert len(world.executions(turn.thread_id)) == 1


def test_recheck_sends_a_call_back_to_approval_when_usage_rose(world: World, llm: ScriptedLLM) -> None:
    spend_small_orders(world, llm)  # 7,616 used
    # Two orders of 1,428: each fits at the first decision (9,044), together they do not (10,472).
    llm.queue(calls(po_call(12, id="b1"), po_call(12, id="b2")))

    turn = world.send("Two more orders of 12 monitors")

    assert len(world.new_purchase_orders()) == 5
    [request] = turn.pending
    assert (request.tool_call_id, request.stage[:8]) == ("b2", "recheck-")
    assert [r.rule_id for r in request.requirements] == ["po-daily-budget"]
    plan = {e.payload["tool_call_id"]: e.payload["tier"] for e in world.events(turn.thread_id, "decision")}
    assert plan == {"b1": "notify", "b2": "approve"}  # b2's latest decision is the re-check
    [recheck] = [
        e.payload
        for e in world.events(turn.thread_id, "decision")
        if e.payload["stage"] == "recheck" and e.payload["tool_call_id"] == "b2"
    ]
    assert recheck["exceeded_limits"] == ["po-daily-budget"]
    escalated = [
        e.payload for e in world.events(turn.thread_id, "approval_requested") if "escalated_from" in e.payload
    ]
    assert [(e["approval_id"], e["tool_call_id"]) for e in escalated] == [(request.id, "b2")]

    world.approve(request.id, "grace.procure")
    llm.queue(answer("Both ordered; the second needed Grace's approval."))
    world.session.resume(turn.thread_id)

    assert len(world.new_purchase_orders()) == 6
    assert sorted(llm.tool_message_ids()) == ["b1", "b2"]
    assert [e["tool_call_id"] for e in world.executions(turn.thread_id)] == ["b1", "b2"]


def test_recheck_asks_for_more_approval_than_was_given_when_usage_rose_meanwhile(
    make_world: Any, llm: ScriptedLLM, tmp_path: Path
) -> None:
    world: World = make_world(settings={"policy_file": budget_needs_finance(tmp_path / "policy.yaml")})
    llm.queue(calls(po_call(40, id="po")))
    waiting = world.send("Order 40 monitors")
    [request] = waiting.pending
    assert world.approve(request.id, "grace.procure").status is ApprovalStatus.APPROVED

    spend_small_orders(world, llm)  # meanwhile, in another thread: 7,616 + 4,760 > 10,000
    resumed = world.session.resume(waiting.thread_id)

    assert resumed.answer is None
    [escalated] = resumed.pending
    assert escalated.id != request.id
    assert sorted(r.roles for r in escalated.requirements) == [
        ("finance_controller",),
        ("procurement_manager",),
    ]
    assert len(world.new_purchase_orders()) == 4
    assert world.executions(waiting.thread_id) == []

    world.approve(escalated.id, "grace.procure")
    world.approve(escalated.id, "heidi.finance")
    llm.queue(answer("Ordered after finance approved."))
    world.session.resume(waiting.thread_id)

    assert len(world.new_purchase_orders()) == 5
    [execution] = world.executions(waiting.thread_id)
    assert execution["approval_id"] == escalated.id
    assert execution["args_digest"] == request.args_digest


def budget_needs_finance(path: Path) -> Path:
    """The shipped policy, except that going over the daily PO budget needs a finance controller."""
    policy = yaml.safe_load(DEFAULT_POLICY_PATH.read_text(encoding="utf-8"))
    [limit] = [limit for limit in policy["limits"] if limit["id"] == "po-daily-budget"]
    limit["approvers"] = {"roles": ["finance_controller"], "count": 1}
    path.write_text(yaml.safe_dump(policy, sort_keys=False), encoding="utf-8")
    return path


def test_po_args_fit_the_budget_arithmetic() -> None:
    assert po_args(SMALL)["total_amount"] == 1904.0
    assert 4 * 1904.0 + 1428.0 <= 10_000 < 4 * 1904.0 + 2 * 1428.0


def test_a_call_a_crash_left_started_is_settled_by_an_operator_and_the_thread_goes_on(
    world: World, llm: ScriptedLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    doomed = dying_in_the_handler(world)
    llm.queue(calls(po_call(40, id="po")))
    turn = doomed.send("Order 40 monitors", actor_id="alice.requester")
    world.approve(turn.pending[0].id, "grace.procure")
    with pytest.raises(Crash):
        doomed.resume(turn.thread_id)
    [po] = world.new_purchase_orders()  # committed in the backend; the ledger never heard back

    restarted = world.restart()
    with pytest.raises(ExecutionInProgress) as stuck:
        restarted.resume(turn.thread_id)
    key = stuck.value.record.key
    monkeypatch.setenv("OPSLAYER_HOME", str(world.settings.home))
    monkeypatch.delenv("OPSLAYER_SETTLE_ROLES", raising=False)
    settle = ["settle", key[:12], "--as", "dave.incident", "--completed", "--result", po.model_dump_json()]
    settled = CliRunner().invoke(app, ["executions", *settle])
    assert settled.exit_code == 0, settled.output
    llm.queue(answer("Ordered."))
    done = restarted.resume(turn.thread_id)

    assert done.answer == "Ordered."
    assert world.new_purchase_orders() == [po]
    assert llm.tool_results()["po"]["number"] == po.number
    [execution] = world.executions(turn.thread_id)
    assert (execution["status"], execution["replayed"]) == ("completed", True)
    [settlement] = world.events(turn.thread_id, "execution_settled")
    assert settlement.actor == "dave.incident"
    assert (settlement.payload["key"], settlement.payload["previous_status"]) == (key, "started")
    assert world.kinds(turn.thread_id)[-4:] == ["error", "execution_settled", "execution", "response"]
    # The crash came before the executor charged the order; the settlement charged it, once.
    used = world.deps.usage.total("po-daily-budget", "alice.requester", NOW - timedelta(days=1))
    assert used == po_args(40)["total_amount"]
    assert world.deps.audit.verify().ok
