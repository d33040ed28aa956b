"""`make demo`: a scripted, offline walk-through on the embedded defaults.

It runs in its own folder (``$OPSLAYER_HOME/demo``): the systems, governance and checkpoint files are
re-created on every run; the knowledge store is kept, so re-ingesting the unchanged corpus is quick.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.rule import Rule
from rich.text import Text

from agent import wiring as services
from agent.cli.chat import print_turn
from agent.cli.render import print_decision
from agent.run.notifier import Notification
from agent.run.review import explain
from agent.run.session import AgentSession
from agent.settings import Settings
from governance.approvals import ApprovalError
from governance.policy import DEFAULT_POLICY_PATH
from tools.local import reset_local_systems


def _corpus() -> Path:
    """The shipped corpus (``knowledge/corpus``), found without importing the knowledge package."""
    spec = find_spec("knowledge")
    assert spec is not None and spec.submodule_search_locations is not None
    return Path(next(iter(spec.submodule_search_locations))) / "corpus"


FREEZE_TIME = datetime(2026, 12, 22, 10, 0, tzinfo=UTC)
PO_30K = {
    "supplier_id": "SUP-001",
    "cost_centre": "CC-IT-OPS",
    "total_amount": 30000.0,
    "lines": [{"sku": "LAP-14-PRO", "quantity": 20, "unit_price": 1500.0}],
}


def run_demo(base: Settings, console: Console) -> None:
    settings = base.model_copy(update={"home": base.home / "demo"})
    _fresh_state(settings)
    console.print(Rule(Text.assemble(("opslayer", "bold"), " — governed operations, offline walk-through")))
    summary = reset_local_systems(settings.systems_db)
    console.print(
        f"Seeded reference systems in {settings.home}: {summary.incidents} incidents, {summary.cis} CIs, "
        f"{summary.skus} SKUs, {summary.suppliers} suppliers, {summary.purchase_orders} purchase orders.\n"
        "The planner is the offline one (no OPENAI_API_KEY needed); it takes the same graph and policy."
    )
    _ingest(console, settings)
    session: AgentSession = services.open_session(settings)
    _step(
        console,
        "0. A question answered from the runbooks and past incidents, with citations",
        session,
        "checkout is returning 502s since the last deploy, what do we do?",
        "carol.desk",
    )
    _step(console, "1. A read runs alone (auto)", session, "summarise INC0010032", "carol.desk")
    _step(
        console,
        "2. An incident work note runs and notifies the incident managers (notify)",
        session,
        "add a note to INC0010047 saying drained two nodes from the LB pool",
        "carol.desk",
    )
    pending = _step(
        console,
        "3. A 55,000 EUR purchase order waits for two different people (approve)",
        session,
        "order 40 laptops for the Berlin office",
        "alice.requester",
    )
    approval_id = pending.pending[0].id
    _wrong_person(console, session, approval_id)
    _approve_elsewhere(console, settings, approval_id)
    _show_po_once(console, session)
    _denied_change(console, settings)
    _policy_examples(console, settings, session)
    _oversight(console, settings)
    _left_pending(console, settings, session)
    result = session.deps.audit.verify()
    console.print(Rule("10. The audit trail"))
    status = (
        Text("audit chain intact", "green") if result.ok else Text(f"audit chain broken: {result}", "red")
    )
    console.print(Text.assemble(status, f": {result.checked} events verified."))
    console.print(f"Explore them: OPSLAYER_HOME={settings.home} opslayer audit tail -n 40")
    _impact_report(console, settings)


def _fresh_state(settings: Settings) -> None:
    for name in ("systems.db", "governance.db", "checkpoints.db"):
        for suffix in ("", "-wal", "-shm"):
            (settings.home / f"{name}{suffix}").unlink(missing_ok=True)


def _ingest(console: Console, settings: Settings) -> None:
    from knowledge import ingest_incidents, ingest_paths

    console.print(Rule("Grounding: runbooks and resolved incidents go into the knowledge store"))
    store = services.open_knowledge_store(settings)
    for label, summary in (
        ("runbooks", ingest_paths(store, [_corpus()], kind="runbook", prune=True)),
        ("past incidents", ingest_incidents(store, services.open_systems(settings).itsm)),
    ):
        console.print(
            f"{label}: {summary.added} added, {summary.updated} updated, {summary.unchanged} unchanged, "
            f"{summary.removed} removed ({summary.chunks} chunks embedded in {summary.seconds:.1f}s)"
        )


def _step(console: Console, title: str, session: AgentSession, message: str, person: str) -> Any:
    console.print(Rule(title))
    console.print(Text.assemble((person, "bold"), f": {message}"))
    result = session.send(message, actor_id=person)
    print_turn(console, result)
    return result


def _wrong_person(console: Console, session: AgentSession, approval_id: str) -> None:
    console.print(Rule("4. The wrong person's approval is refused"))
    for person in ("alice.requester", "bob.requester"):
        try:
            session.deps.approvals.vote(
                approval_id,
                approver=session.deps.governance.directory.actor(person),
                approve=True,
                channel="cli",
            )
        except ApprovalError as exc:
            console.print(Text.assemble(("refused", "red"), f" {person}: {exc}"))


def _approve_elsewhere(console: Console, settings: Settings, approval_id: str) -> None:
    console.print(Rule("5. The right managers approve from a separate process; the thread resumes there"))
    env = {**os.environ, "OPSLAYER_HOME": str(settings.home)}
    for person in ("grace.procure", "heidi.finance"):
        command = ["approvals", "approve", approval_id, "--as", person, "--comment", "budgeted in Q4 plan"]
        console.print(Text(f"$ opslayer {' '.join(command)}", "dim"))
        done = subprocess.run(
            [sys.executable, "-m", "agent", *command], env=env, capture_output=True, text=True
        )
        # Already rendered by the other process: printed as it is (its [citation ids] are not markup).
        console.print(Text.from_ansi(done.stdout.rstrip() or done.stderr.rstrip()))


def _show_po_once(console: Console, session: AgentSession) -> None:
    orders = session.deps.systems.procurement.list_purchase_orders(requester="alice.requester", limit=50)
    laptops = [
        po for po in orders if any(line.sku == "LAP-14-PRO" and line.quantity == 40 for line in po.lines)
    ]
    count = Text.assemble((str(len(laptops)), "bold"), " (exactly once)")
    console.print(Text.assemble("Purchase orders for 40 × LAP-14-PRO in the procurement system: ", count))


def _denied_change(console: Console, settings: Settings) -> None:
    console.print(Rule("6. A change request during the year-end freeze is refused (deny)"))
    frozen: AgentSession = services.open_session(settings, clock=lambda: FREEZE_TIME)
    result = frozen.send("open a change to restart payments-api tonight", actor_id="ivan.ops")
    print_turn(console, result)


def _policy_examples(console: Console, settings: Settings, session: AgentSession) -> None:
    console.print(Rule("7. `opslayer policy explain`: a decision without running anything"))
    governance = session.deps.governance
    decision, _ = explain(
        governance,
        tool="procurement_create_purchase_order",
        raw_args=PO_30K,
        actor=governance.directory.actor("bob.requester"),
        now=datetime.now(UTC),
        systems=session.deps.systems,
        usage=session.deps.usage,
    )
    print_decision(console, decision, governance.directory, title="bob.requester → 30,000 EUR PO")


class _DemoClock:
    """The oversight steps' clock: it starts now and the demo moves it (no waiting for real)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, console: Console, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)
        console.print(Text(f"[the demo clock moves {minutes} minutes on]", style="dim"), highlight=False)


class _PrintingNotifier:
    """Shows what would reach people (a Slack DM or channel post when the Slack app is configured)."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def send(self, notification: Notification) -> None:
        to = ", ".join(notification.recipients)
        self.console.print(Text.assemble(("notify ", "magenta"), (to, "bold"), f": {notification.text}"))


def _oversight_policy(settings: Settings) -> Path:
    """The shipped policy plus a 15-minute veto window on incident work notes, write-offs escalated to
    the warehouse managers' manager after an hour, a deny rule for bulk write-offs, and the
    confused-thread monitor tripping at 3 refusals."""
    document = yaml.safe_load(DEFAULT_POLICY_PATH.read_text(encoding="utf-8"))
    document["label"] = "2026-11 baseline + oversight demo"
    for rule in document["rules"]:
        if rule["id"] == "incident-edits-notify":
            rule |= {"veto_window": "15m", "veto_by": {"roles": ["incident_manager"]}}
        if rule["id"] == "write-off":
            rule |= {"escalate_after": "1h", "escalate_to": "manager"}
    document["rules"].append(
        {
            "id": "no-bulk-write-offs",
            "tools": ["inventory_adjust_stock"],
            "when": "args.kind == 'write_off' && args.delta < -100",
            "tier": "deny",
            "reason": "Write-offs of more than 100 units go through a stock audit, not a chat.",
        }
    )
    for monitor in document["monitors"]:
        if monitor["id"] == "confused-thread":
            monitor["threshold"] = 3
            monitor["reason"] = "Three refused calls in one thread within an hour: its writes need approval."
    path = settings.home / "oversight-policy.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def _oversight(console: Console, base: Settings) -> None:
    """Veto window, escalation and a tripped monitor, with the worker doing its rounds on a demo clock."""
    from agent.operations import Operations
    from agent.worker import Worker

    settings = base.model_copy(update={"policy_file": _oversight_policy(base)})
    clock = _DemoClock()
    ops = Operations(settings, clock=clock, notifier=_PrintingNotifier(console))
    worker = Worker(settings, operations=ops, worker_id="demo-worker", clock=clock)
    console.print(Rule("8. Oversight over time: a monitor that trips, a veto window, an escalation"))
    console.print(Text(f"policy: {settings.policy_file} (the worker runs on a demo clock)", "dim"))
    # The worker, the stores and the audit trail all keep the demo clock: moving it moves them together.
    _monitor(console, ops, worker, clock)
    _veto_window(console, ops, worker, clock)
    _escalation(console, ops, worker, clock)


def _veto_window(console: Console, ops: Any, worker: Any, clock: _DemoClock) -> None:
    console.print(Rule("8b. A work note waits its 15-minute veto window, then runs", style="dim"))
    turn = ops.send("add a note to INC0010047 saying rebooted the pool members", actor="carol.desk")
    [request] = turn.pending
    console.print(f"{request.id}: {request.status_reason}")
    worker.run_once()  # announces the window
    clock.advance(console, 16)
    worker.run_once()
    after = ops.stores.approvals.get(request.id)
    console.print(f"{request.id}: {after.status.value} ({after.status_reason}); the note ran once:")
    console.print(Text(_answer(ops, turn.thread_id)))
    vetoed = ops.send("add a note to INC0010047 saying restarting all pool members now", actor="carol.desk")
    [second] = vetoed.pending
    outcome = ops.oversight.veto(
        second.id, voter="dave.incident", reason="not during peak traffic", channel="cli"
    )
    console.print(Text.assemble(("veto ", "red"), f"dave.incident: {outcome.request.status_reason}"))
    worker.run_once()
    console.print(Text(_answer(ops, vetoed.thread_id)))


def _answer(ops: Any, thread: str) -> str:
    return str(ops.audit_events(thread=thread, kinds=["response"])[-1].payload["text"])


def _escalation(console: Console, ops: Any, worker: Any, clock: _DemoClock) -> None:
    console.print(
        Rule("8c. An undecided write-off: reminder after 30 minutes, escalation after 1 hour", style="dim")
    )
    [request] = ops.send("write off 2 damaged SSD-1TB-NVME at AMS-1", actor="carol.desk").pending
    console.print(f"{request.id} waits for a warehouse manager")
    for _ in range(2):
        clock.advance(console, 30)
        worker.run_once()
    ops.vote(request.id, voter="frank.warehouse", approve=True, channel="cli", comment="after the escalation")
    worker.run_once()
    ran = [e for e in ops.executions(thread=request.thread_id) if e.tool == "inventory_adjust_stock"]
    console.print(f"{request.id}: approved by frank.warehouse; the write-off ran {len(ran)} time(s)")


def _monitor(console: Console, ops: Any, worker: Any, clock: _DemoClock) -> None:
    console.print(Rule("8a. A thread that keeps asking for refused calls trips a monitor", style="dim"))
    thread = None
    for _ in range(3):
        turn = ops.send("write off 500 damaged SSD-1TB-NVME at AMS-1", actor="bob.requester", thread=thread)
        thread = turn.thread_id
    console.print(f"thread {thread}: 3 calls refused by policy")
    clock.advance(console, 1)
    worker.run_once()
    [view] = [v for v in ops.oversight.monitors() if v.monitor.id == "confused-thread"]
    [trip] = view.trips
    held = ops.send("write off 2 damaged SSD-1TB-NVME at AMS-1", actor="bob.requester", thread=thread)
    console.print(f"the next write-off in that thread needs approval under {held.pending[0].rule_ids}")
    ops.vote(
        held.pending[0].id,
        voter="frank.warehouse",
        approve=False,
        channel="cli",
        reason="the stock audit comes first",
    )
    ops.oversight.clear(trip.id, by="dave.incident", reason="bob confirmed the stock audit is booked")
    console.print(
        f"{trip.id} cleared by dave.incident (`opslayer monitors clear`); "
        "every trip and clearance is in the audit trail"
    )


def _left_pending(console: Console, settings: Settings, session: AgentSession) -> None:
    """One request is left waiting, for a manager to decide on the review page."""
    pending = _step(
        console,
        "9. Left for you: a purchase order waits for a procurement manager",
        session,
        "order 25 monitors for the Berlin office",
        "bob.requester",
    )
    if not pending.pending:
        return
    home = settings.home
    console.print(
        Text(
            f"Decide {pending.pending[0].id} on the review page:\n"
            f"  OPSLAYER_HOME={home} opslayer tokens create --as grace.procure\n"
            f"  OPSLAYER_HOME={home} opslayer serve      # then sign in at http://127.0.0.1:8080/login"
        )
    )


def _impact_report(console: Console, settings: Settings) -> None:
    """The last step: what the walk-through did, as the CIO/COO report (`opslayer report --html`)."""
    from agent.operations import Operations
    from agent.operations.impact import impact
    from agent.operations.report import write_html

    console.print(Rule("Impact: what it did for you (`opslayer report`)"))
    ops = Operations(settings)
    first = ops.audit_query(limit=1).events
    since = datetime.fromisoformat(first[0].at) if first else None
    figures = impact(ops, since=since)
    path = write_html(
        figures,
        settings.home / "impact-report.html",
        generated_at=datetime.now(UTC),
        policy_version=ops.policy().version,
    )
    totals = figures.totals
    share = "–" if totals.without_human_share is None else f"{totals.without_human_share:.0%}"
    console.print(
        f"{totals.calls} tool calls decided, {share} of completed ones without a human decision, "
        f"{totals.approvals_requested} approvals, {totals.denials} denials, "
        f"about {totals.minutes_saved:,.0f} human minutes saved.",
        highlight=False,
    )
    console.print(Text.assemble("HTML report written to ", (str(path.resolve()), "bold")))
