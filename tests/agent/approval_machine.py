"""A hypothesis state machine that attacks approvals and limits through the real graph.

Two sessions of one requester (as two API workers would be) share one world: seeded local systems,
governance stores (SQLite, or any engine given) and checkpoints. A scripted model proposes purchase
orders across every tier with ids it chooses: fresh ones, ids of earlier calls of any thread, approval
request ids, request stages and old-style re-check keys. Approvers vote at random points; threads are
resumed one at a time or two at once from the two sessions. Every rule draws the same shape of data
whatever the world looks like (it picks from what exists by index, and does nothing when there is
nothing to pick), so the scheduling of two sessions at once cannot make hypothesis's data flaky.
After every step:

- every execution that needed approval ran on an approved request for its own args digest, consumed by
  exactly that execution (key = thread, call id, digest); no approval authorised two executions;
- what ran without an approval covering the daily budget sums to no more than the budget;
- every backend write matches one execution, and the audit chain verifies.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from langchain_core.messages import AIMessage
from sqlalchemy import Engine

from agent.run.notifier import LogNotifier
from agent.run.session import AgentSession, open_checkpointer
from agent.settings import Settings
from agent.wiring import build_agent_deps
from evals.scripted import ScriptedChatModel
from governance.approvals import ApprovalError, ApprovalStatus
from governance.executions import idempotency_key
from governance.store import engine_from_url
from tests.agent.graph_support import MONITOR, MONITOR_PRICE, SUPPLIER, on_engine

REQUESTER = "alice.requester"
APPROVERS = ("grace.procure", "leo.procure2", "heidi.finance", "alice.requester")
BUDGET_LIMIT, BUDGET = "po-daily-budget", 10_000.0
# 119 … 27,608: notify, big-po, the budget's edge, huge-po (two approvers).
QUANTITIES = (1, 5, 12, 16, 20, 60, 232)
NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
_INDEX = st.integers(0, 1_000)


def po(quantity: int, call_id: str) -> dict[str, Any]:
    args = {
        "supplier_id": SUPPLIER,
        "cost_centre": "CC-IT-OPS",
        "lines": [{"sku": MONITOR, "quantity": quantity, "unit_price": MONITOR_PRICE}],
        "total_amount": round(quantity * MONITOR_PRICE, 2),
    }
    return {"name": "procurement_create_purchase_order", "args": args, "id": call_id, "type": "tool_call"}


class _Lockstep:
    """Makes two resumes run at once read usage together: each resuming thread's first read of a
    limit's total waits (up to a moment) for the other's, so both decide at the same usage — the
    interleaving that two workers hit sooner or later, here every time."""

    def __init__(self) -> None:
        self._barrier: threading.Barrier | None = None
        self._local = threading.local()

    def start(self, parties: int) -> None:
        self._barrier = threading.Barrier(parties, timeout=2.0)

    def enter(self) -> None:
        self._local.waiting = True

    def wrap(self, usage: Any) -> Any:
        lockstep = self

        class Synchronised:
            def __getattr__(self, name: str) -> Any:
                return getattr(usage, name)

            def total(self, limit_id: str, key: str, since: datetime) -> float:
                used = float(usage.total(limit_id, key, since))
                lockstep.meet()
                return used

        return Synchronised()

    def meet(self) -> None:
        if self._barrier is None or not getattr(self._local, "waiting", False):
            return
        self._local.waiting = False
        with contextlib.suppress(threading.BrokenBarrierError):
            self._barrier.wait()


class ApprovalMachine(RuleBasedStateMachine):
    """Set ``home_root``, ``seeded`` and maybe ``new_database`` on a subclass (see :func:`machine_for`).

    ``new_database`` makes a fresh database for one example and returns the URL of it; without it the
    governance stores are SQLite files in the example's home.
    """

    home_root: Path
    seeded: Path
    new_database: Callable[[], str] | None = None

    def __init__(self) -> None:
        super().__init__()
        self.engines: list[Engine] = []
        self.database = None if self.new_database is None else self.new_database()
        self.home = self.home_root / uuid.uuid4().hex[:8]
        self.home.mkdir(parents=True)
        self.settings = Settings(home=self.home, grounding=False, _env_file=None)
        shutil.copyfile(self.seeded, self.settings.systems_db)
        self.now = NOW
        self.lockstep = _Lockstep()
        self.sessions = [self._open() for _ in range(2)]
        self.deps = self.sessions[0].deps
        self.version = self.deps.governance.policy.version
        self.threads: dict[str, int] = {}  # thread id → the session that started it
        self.ids: list[str] = []  # every call id proposed so far
        self.counter = 0  # ids are numbered, not random: the same steps give the same world

    def _open(self) -> AgentSession:
        deps = build_agent_deps(
            self.settings, model=ScriptedChatModel(), notifier=LogNotifier(), clock=lambda: self.now
        )
        if self.database is not None:  # each session on its own engine, as each process would be
            self.engines.append(engine_from_url(self.database))
            deps = on_engine(deps, self.engines[-1])
        deps = dataclasses.replace(deps, usage=self.lockstep.wrap(deps.usage))
        return AgentSession(deps, open_checkpointer(self.settings.checkpoints_db))

    # --- what the model proposes -------------------------------------------------------------------

    def _id_pool(self) -> list[str]:
        pool = list(self.ids)
        for request in self.deps.approvals.list():
            pool += [request.id, request.stage, request.tool_call_id]
            pool.append(f"{request.tool_call_id}#recheck-{self.version}-{BUDGET_LIMIT}")
        return pool

    def _calls(self, data: st.DataObject) -> list[dict[str, Any]]:
        pool = self._id_pool()
        calls = []
        for _ in range(data.draw(st.integers(1, 4), label="calls")):
            quantity = data.draw(st.sampled_from(QUANTITIES))
            reuse, pick = data.draw(st.booleans()), data.draw(_INDEX)
            calls.append(po(quantity, pool[pick % len(pool)] if reuse and pool else self._next("call")))
        self.ids += [call["id"] for call in calls]
        return calls

    def _next(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}_{self.counter}"

    def _say(self, session: AgentSession, calls: list[dict[str, Any]]) -> None:
        model = session.deps.model
        assert isinstance(model, ScriptedChatModel)
        model.load([AIMessage(content="", tool_calls=calls)])

    # --- rules -------------------------------------------------------------------------------------

    @initialize(data=st.data())
    def both_sessions_ask(self, data: st.DataObject) -> None:
        for which in (0, 1):
            self.ask(data, which)

    @rule(data=st.data(), which=st.integers(0, 1))
    def ask(self, data: st.DataObject, which: int) -> None:
        """A new request in a new thread: the model answers with purchase orders."""
        session = self.sessions[which]
        self._say(session, self._calls(data))
        thread_id = self._next("t")
        session.send("Order monitors", actor_id=REQUESTER, thread_id=thread_id)
        self.threads[thread_id] = which

    @rule(data=st.data(), pick=_INDEX)
    def continue_thread(self, data: st.DataObject, pick: int) -> None:
        """Another message in a finished thread, whose model may reuse that thread's ids."""
        calls = self._calls(data)
        idle = self._idle_threads()
        if not idle:
            return
        thread_id = idle[pick % len(idle)]
        session = self.sessions[self.threads[thread_id]]
        self._say(session, calls)
        session.send("And more", actor_id=REQUESTER, thread_id=thread_id)

    @rule(pick=_INDEX, person=st.sampled_from(APPROVERS), approve=st.booleans())
    def vote(self, pick: int, person: str, approve: bool) -> None:
        pending = self._pending()
        if not pending:
            return
        request = pending[pick % len(pending)]
        # Refused votes (wrong role, own request, voted already) are audited and change nothing.
        with contextlib.suppress(ApprovalError):
            self.deps.approvals.vote(
                request.id,
                approver=self.deps.governance.directory.actor(person),
                approve=approve,
                reason=None if approve else "no",
                channel="test",
            )

    @rule(pick=_INDEX)
    def approve_fully(self, pick: int) -> None:
        """Every approver votes yes on one pending request, as a busy approval queue would."""
        pending = self._pending()
        if not pending:
            return
        self._approve(pending[pick % len(pending)].id)

    def _approve(self, request_id: str) -> None:
        for person in APPROVERS:
            with contextlib.suppress(ApprovalError):
                self.deps.approvals.vote(
                    request_id,
                    approver=self.deps.governance.directory.actor(person),
                    approve=True,
                    channel="test",
                )

    @rule(pick=_INDEX, which=st.integers(0, 1))
    def resume(self, pick: int, which: int) -> None:
        waiting = self._waiting()
        if waiting:
            self.sessions[which].resume(waiting[pick % len(waiting)])

    @rule(pick=_INDEX, approve_first=st.booleans())
    def resume_two_at_once(self, pick: int, approve_first: bool) -> None:
        """Two waiting threads resumed at the same moment from the two sessions (maybe approved first:
        then both run their calls at once, racing for what is left of the budget)."""
        waiting = self._waiting()
        if len(waiting) < 2:
            return
        first = waiting[pick % len(waiting)]
        second = waiting[(pick + 1) % len(waiting)]
        for thread_id in (first, second) if approve_first else ():
            for request_id in self.sessions[self.threads[thread_id]].pending_approvals(thread_id):
                self._approve(request_id)
        failures: list[BaseException] = []

        self.lockstep.start(2)

        def resume(session: AgentSession, thread_id: str) -> None:
            self.lockstep.enter()
            try:
                session.resume(thread_id)
            except BaseException as exc:  # re-raised below, in the test's thread
                failures.append(exc)

        workers = [
            threading.Thread(target=resume, args=(self.sessions[n], thread_id))
            for n, thread_id in enumerate((first, second))
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
        if failures:
            raise failures[0]

    # --- invariants --------------------------------------------------------------------------------

    @invariant()
    def approvals_authorise_one_execution_of_their_own_digest(self) -> None:
        executions = self._executions()
        used = Counter(payload["approval_id"] for _, payload in executions if payload["approval_id"])
        assert all(count == 1 for count in used.values()), f"an approval ran twice: {used}"
        for thread_id, payload in executions:
            needed = self._recheck_tier(thread_id, payload) == "approve"
            approval_id = payload["approval_id"]
            assert approval_id or not needed, f"approve-tier execution without approval: {payload}"
            if approval_id:
                request = self.deps.approvals.get(approval_id)
                assert request is not None and request.status is ApprovalStatus.APPROVED
                assert request.args_digest == payload["args_digest"]
                key = idempotency_key(thread_id, payload["tool_call_id"], payload["args_digest"])
                assert request.consumed_by == key

    @invariant()
    def no_budget_exceeded_without_approval(self) -> None:
        unapproved = 0.0
        for _, payload in self._executions():
            request = self.deps.approvals.get(payload["approval_id"]) if payload["approval_id"] else None
            covered = request is not None and BUDGET_LIMIT in request.exceeded_limits
            if not covered:
                unapproved += self._amount(payload)
        assert unapproved <= BUDGET + 1e-6, f"{unapproved} ran past the budget without approval"
        window = self.now - timedelta(hours=24)
        charged = self.deps.usage.total(BUDGET_LIMIT, REQUESTER, window)
        assert charged >= unapproved - 1e-6

    @invariant()
    def audit_chain_verifies(self) -> None:
        assert self.deps.audit.verify().ok

    def teardown(self) -> None:
        for session in self.sessions:
            session.graph.checkpointer.conn.close()  # type: ignore[union-attr]
        for engine in self.engines:
            engine.dispose()
        shutil.rmtree(self.home, ignore_errors=True)

    # --- reading the world -------------------------------------------------------------------------

    def _executions(self) -> list[tuple[str, dict[str, Any]]]:
        events = self.deps.audit.events(kinds=["execution"])
        return [
            (str(event.thread_id), event.payload)
            for event in events
            if event.payload["status"] == "completed" and not event.payload["replayed"]
        ]

    def _recheck_tier(self, thread_id: str, execution: dict[str, Any]) -> str:
        decisions = [
            event.payload
            for event in self.deps.audit.events(thread_id=thread_id, kinds=["decision"])
            if event.payload.get("stage") == "recheck"
            and event.payload["tool_call_id"] == execution["tool_call_id"]
            and event.payload.get("args_digest") == execution["args_digest"]
        ]
        assert decisions, f"execution without a re-check decision: {execution}"
        return str(decisions[-1]["tier"])

    def _amount(self, execution: dict[str, Any]) -> float:
        number = str(_json(execution["result"])["number"])
        order = self.deps.systems.procurement.get_purchase_order(number)
        return float(order.total_amount)

    def _pending(self) -> list[Any]:
        return list(self.deps.approvals.list(status=ApprovalStatus.PENDING))

    def _waiting(self) -> list[str]:
        return sorted(t for t, n in self.threads.items() if self.sessions[n].pending_approvals(t))

    def _idle_threads(self) -> list[str]:
        return sorted(t for t, n in self.threads.items() if not self.sessions[n].pending_approvals(t))


def _json(text: str | None) -> dict[str, Any]:
    import json

    value = json.loads(text or "{}")
    return value if isinstance(value, dict) else {}


def machine_for(home_root: Path, seeded: Path, new_database: Callable[[], str] | None = None) -> type:
    """The machine class bound to a folder for its worlds, the seeded systems and maybe a database maker."""
    bound = {
        "home_root": home_root,
        "seeded": seeded,
        "new_database": staticmethod(new_database) if new_database else None,
    }
    return type("BoundApprovalMachine", (ApprovalMachine,), bound)
