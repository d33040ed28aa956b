"""Three attacks a malicious model made on approvals and limits, over the real OpenAI client path.

Each one broke the promise that a call runs only if the policy allows exactly its arguments and, for
approval, the required people approved exactly those arguments, once:

1. one approval, two purchase orders: the model replays the key of a re-check approval as a new
   tool-call id and gets a second order on the same approval;
2. an approval moved to other arguments: the model pre-claims the re-check key of a small order with
   a 27,608 order, so approving the escalated small order runs the big one twice;
3. the daily budget races: two sessions of one requester decide at the same usage and both run.

Each scenario runs twice (``world``): with the governance stores (audit, usage, approvals, executions)
on SQLite under the world's home, and on a fresh PostgreSQL database, each session on its own engine
as each process would (skipped, naming what is missing, where no server can run). The graph, the
local systems and the checkpoints stay on SQLite.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest

from governance.approvals import ApprovalRequest, ApprovalStatus
from governance.decision import args_digest
from tests.agent.graph_support import MONITOR_PRICE, ScriptedLLM, World, answer, calls, po_args, po_call

SMALL = 16  # monitors: 1,904 an order
BUDGET = 10_000.0


@pytest.fixture
def world(world_on_each_engine: World) -> World:
    """Governance on SQLite and on PostgreSQL: every attack must fail on both."""
    return world_on_each_engine


def spend_small_orders(world: World, llm: ScriptedLLM, count: int = 4) -> None:
    """Alice orders ``count`` small POs in one turn of another thread (7,616 for four); all run."""
    llm.queue(calls(*(po_call(SMALL, id=f"small{i}") for i in range(count))), answer("Small orders placed."))
    assert world.send("Order monitors for four desks, one PO each").answer == "Small orders placed."


def approve_fully(world: World, request: ApprovalRequest) -> None:
    """Approve as every eligible person in turn until the request is approved."""
    for person in ("grace.procure", "leo.procure2", "heidi.finance"):
        current = world.deps.approvals.get(request.id)
        assert current is not None
        if current.status is ApprovalStatus.APPROVED:
            return
        try:
            world.approve(request.id, person)
        except Exception:  # not entitled to what is still needed: the next person
            continue
    assert world.deps.approvals.get(request.id).status is ApprovalStatus.APPROVED  # type: ignore[union-attr]


def resume_all(world: World, thread_id: str, times: int = 3) -> Any:
    """Resume as `chat --resume` would, as often as the thread stays paused (up to ``times``)."""
    turn = None
    for _ in range(times):
        if not world.session.pending_approvals(thread_id) and turn is not None:
            break
        turn = world.session.resume(thread_id)
        if turn.answer is not None:
            break
    return turn


def assert_each_approval_used_once_for_its_digest(world: World) -> None:
    executions = [e for e in world.executions() if e["status"] == "completed" and not e["replayed"]]
    used = Counter(e["approval_id"] for e in executions if e["approval_id"])
    assert all(count == 1 for count in used.values()), used
    for execution in executions:
        if execution["approval_id"]:
            approval = world.deps.approvals.get(execution["approval_id"])
            assert approval is not None and approval.status is ApprovalStatus.APPROVED
            assert approval.args_digest == execution["args_digest"]


def test_a_recheck_approval_replayed_as_a_call_id_creates_nothing(world: World, llm: ScriptedLLM) -> None:
    spend_small_orders(world, llm)  # 7,616 used
    # b1 fits (9,044); b2 crosses the budget at its re-check before running and waits for approval.
    llm.queue(calls(po_call(12, id="b1"), po_call(12, id="b2")))
    turn = world.send("Two more orders of 12 monitors")
    [escalated] = turn.pending
    approve_fully(world, escalated)

    # Resumed, b2 runs on its approval; the model then calls again with the approval's old key.
    version = world.deps.governance.policy.version
    replay = po_call(12, id=f"b2#recheck-{version}-po-daily-budget")
    llm.queue(calls(replay), answer("Ordered again."))
    resume_all(world, turn.thread_id)

    assert len(world.new_purchase_orders()) == 6  # four small, b1 and b2: not a seventh
    assert_each_approval_used_once_for_its_digest(world)
    [waiting] = [
        r for r in world.deps.approvals.for_thread(turn.thread_id) if r.status is ApprovalStatus.PENDING
    ]
    assert waiting.id != escalated.id and waiting.tool_call_id == replay["id"]
    assert world.deps.approvals.get(escalated.id).consumed_by is not None  # type: ignore[union-attr]
    assert world.deps.audit.verify().ok


def test_a_preclaimed_recheck_key_cannot_move_an_approval_to_other_arguments(
    world: World, llm: ScriptedLLM
) -> None:
    spend_small_orders(world, llm)  # 7,616 used
    version = world.deps.governance.policy.version
    big = po_call(232, id=f"b2#recheck-{version}-po-daily-budget")  # 27,608: two approvers needed
    llm.queue(calls(po_call(12, id="b1"), po_call(12, id="b2"), big))
    turn = world.send("Two orders of 12 monitors and one of 232")

    requests = {request.tool_call_id: request for request in turn.pending}
    assert set(requests) == {"b2", big["id"]}
    assert requests["b2"].args_digest == args_digest(po_args(12))  # b2's own arguments, not the big ones
    assert requests[big["id"]].args_digest == args_digest(po_args(232))
    for request in turn.pending:
        approve_fully(world, request)
    llm.queue(answer("Ordered."))
    resume_all(world, turn.thread_id)

    quantities = Counter(po.lines[0].quantity for po in world.new_purchase_orders())
    assert quantities == {SMALL: 4, 12: 2, 232: 1}
    assert_each_approval_used_once_for_its_digest(world)
    assert world.deps.audit.verify().ok


class _Lockstep:
    """A usage reader that holds each session's first ``rounds`` reads until both sessions made them.

    So both sessions decide (plan and re-check) at the same usage before either runs, the
    interleaving two API workers would hit sooner or later. A read past that goes straight through;
    a session that never arrives lets the other go after ``timeout`` seconds.
    """

    def __init__(self, parties: int, rounds: int = 2, timeout: float = 20.0) -> None:
        self._barrier = threading.Barrier(parties, timeout=timeout)
        self._rounds = rounds
        self._reads = threading.local()

    def wrap(self, usage: Any) -> Any:
        lockstep = self

        class Synchronised:
            def __getattr__(self, name: str) -> Any:
                return getattr(usage, name)

            def total(self, limit_id: str, key: str, since: datetime) -> float:
                used = usage.total(limit_id, key, since)
                lockstep.wait()
                return float(used)

        return Synchronised()

    def wait(self) -> None:
        count = getattr(self._reads, "count", 0)
        self._reads.count = count + 1
        if count < self._rounds:
            with contextlib.suppress(threading.BrokenBarrierError):
                self._barrier.wait()


def test_two_sessions_racing_for_the_last_of_a_budget_never_both_pass(world: World, llm: ScriptedLLM) -> None:
    spend_small_orders(world, llm)  # 7,616 used: room for one order of 1,428, not two
    lockstep = _Lockstep(parties=2)
    sessions = [
        world.open(wrap=lambda deps: dataclasses.replace(deps, usage=lockstep.wrap(deps.usage)))
        for _ in range(2)
    ]
    llm.queue(calls(po_call(12, id="x")), calls(po_call(12, id="y")))
    llm.forever(lambda n: answer("Ordered."))
    results: list[Any] = []
    failures: list[BaseException] = []

    def run(session: Any) -> None:
        try:
            results.append(session.send("Order 12 monitors", actor_id="alice.requester"))
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(session,)) for session in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not failures, failures
    orders = world.new_purchase_orders()
    assert len(orders) == 5  # four small ones and exactly one of the two racers
    assert sum(po.total_amount for po in orders) == 4 * SMALL * MONITOR_PRICE + 12 * MONITOR_PRICE <= BUDGET
    [waiting] = [turn for turn in results if turn.answer is None]
    [request] = waiting.pending
    assert [r.rule_id for r in request.requirements] == ["po-daily-budget"]
    window_start = world.clock.now - timedelta(hours=24)
    assert world.deps.usage.total("po-daily-budget", "alice.requester", window_start) <= BUDGET
