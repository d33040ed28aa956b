"""The governance invariant: no backend write happens unless governance allowed exactly that call.

Hypothesis drives the real graph (real local systems, governance stores, audit trail and SQLite
checkpoints) with a scripted model that emits random tool calls — catalogue tools and unknown ones,
valid, broken, foreign and unparsable arguments, reused ids, amounts across every tier — for a random
person, and settles every approval request at random: approved by someone entitled, by anyone, rejected,
edited, left to expire. Every backend write method is wrapped and logged. Afterwards:

- every write matches, one to one and in order, an execution event of a write/financial tool, and
  wrote the arguments that event's decision was made on;
- every execution has an allowing re-check decision for that tool call and args digest (auto; notify
  with the notification sent first; approve with an approved, quorate approval of that digest), and
  the call was cleared that way (allowed when planned, or approved for that digest);
- nothing denied, rejected or expired ran; dry runs write nothing;
- every tool call of every model message was answered by exactly one tool message;
- the audit chain verifies.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from agent.run.notifier import LogNotifier
from agent.run.session import AgentSession, open_checkpointer
from agent.run.state import AgentDeps
from agent.settings import Settings
from agent.wiring import build_agent_deps
from evals.scripted import ScriptedChatModel
from governance.approvals import ApprovalError, ApprovalRequest
from governance.audit import AuditEvent
from governance.decision import (
    ApprovalRequirement,
    approval_satisfied,
    args_digest,
)
from tests.agent.graph_support import redecide
from tests.agent.invariant_support import (
    DIRECTORY,
    PEOPLE,
    SPECS,
    START_TIMES,
    TOOL_METHOD,
    VALID_ARGS,
    ScriptedCall,
    Write,
    ai_message,
    leaves,
    recording_systems,
    scripted_call,
)
from tools.errors import InvalidArguments
from tools.local import reset_local_systems
from tools.spec import SideEffect, canonical_args

_SETTLE_ROUNDS = 6
_MAX_EXPIRIES = 4
_EXPIRY = timedelta(hours=25)  # past the default 24 h lifetime of an approval request


@pytest.fixture(scope="session")
def seeded_systems(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seeded local systems, built once; every example works on its own copy."""
    path = tmp_path_factory.mktemp("invariant-seed") / "systems.db"
    reset_local_systems(path)
    return path


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


class Run:
    """One example's world: a copy of the seeded systems, fresh governance stores and checkpoints."""

    def __init__(self, home: Path, seeded: Path, *, start: datetime, dry_run: bool) -> None:
        settings = Settings(home=home, grounding=False, _env_file=None)
        shutil.copyfile(seeded, settings.systems_db)
        self.clock = Clock(start)
        self.writes: list[Write] = []
        self.model = ScriptedChatModel()
        deps: AgentDeps = build_agent_deps(
            settings, dry_run=dry_run, model=self.model, notifier=LogNotifier(), clock=self.clock
        )
        self.deps = replace(deps, systems=recording_systems(deps.systems, self.writes))
        self._checkpointer = open_checkpointer(settings.checkpoints_db)
        self.session = AgentSession(self.deps, self._checkpointer)

    def close(self) -> None:
        self._checkpointer.conn.close()


# --- the property ---------------------------------------------------------------------------------


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_no_write_without_an_allowing_decision_for_exactly_that_call(
    seeded_systems: Path, data: st.DataObject
) -> None:
    actor = data.draw(st.sampled_from(PEOPLE), label="actor")
    start = data.draw(st.sampled_from(START_TIMES), label="start")
    dry_run = data.draw(st.integers(0, 5).map(lambda n: n == 0), label="dry_run")
    with tempfile.TemporaryDirectory(prefix="opslayer-invariant-") as folder:
        run = Run(Path(folder), seeded_systems, start=start, dry_run=dry_run)
        try:
            threads = _converse(run, data, actor)
            _assert_governed(run, threads)
            _label(run)
        finally:
            run.close()


def _label(run: Run) -> None:
    """What the example exercised (``pytest --hypothesis-show-statistics`` tallies these)."""
    for item in run.deps.audit.events(kinds=["decision", "approval_final", "execution"]):
        if item.kind == "decision":
            event(f"decision {item.payload.get('stage')} {item.payload.get('tier')}")
        elif item.kind == "approval_final":
            event(f"approval {item.payload['status']}")
        elif not item.payload["replayed"] and _is_write(item.payload["tool"]):
            event(f"write {item.payload['status']}")
    event(f"writes: {min(len(run.writes), 5)}{'+' if len(run.writes) >= 5 else ''}")


# --- driving the graph ----------------------------------------------------------------------------


def _converse(run: Run, data: st.DataObject, actor: str) -> set[str]:
    """One or two user turns on one thread, each settled until the thread no longer waits."""
    used_ids: list[str] = []
    thread_id: str | None = None
    for turn in range(data.draw(st.integers(1, 2), label="turns")):
        script = [ai_message(calls) for calls in _rounds(data, used_ids, at_least=1 - min(turn, 1))]
        run.model.load([*script, AIMessage(content=f"Answer to turn {turn}.")])
        calls_before = run.model.calls
        result = run.session.send(f"request {turn}", actor_id=actor, thread_id=thread_id)
        thread_id = result.thread_id
        _settle(run, data, thread_id)
        assert run.model.calls - calls_before == len(script) + 1, "the graph skipped or repeated a plan step"
    assert thread_id is not None
    return {thread_id}


def _rounds(data: st.DataObject, used_ids: list[str], *, at_least: int) -> list[list[ScriptedCall]]:
    rounds = []
    for _ in range(data.draw(st.integers(at_least, 3), label="tool rounds")):
        calls = [scripted_call(_call_id(data, used_ids)) for _ in range(data.draw(st.integers(1, 3)))]
        rounds.append([data.draw(call, label="tool call") for call in calls])
    return rounds


def _call_id(data: st.DataObject, used_ids: list[str]) -> str:
    """Mostly fresh ids; sometimes one already used in this thread (models do repeat themselves)."""
    if used_ids and data.draw(st.integers(0, 7), label="reuse id?") == 0:
        return data.draw(st.sampled_from(used_ids), label="reused id")
    used_ids.append(f"call_{len(used_ids) + 1}")
    return used_ids[-1]


def _settle(run: Run, data: st.DataObject, thread_id: str) -> None:
    """Vote at random on what the thread waits for and resume; finally let leftovers expire."""
    for _ in range(_SETTLE_ROUNDS):
        waiting = run.session.pending_approvals(thread_id)
        if not waiting:
            return
        for approval_id in waiting:
            _act_on(run, data, approval_id)
        run.session.resume(thread_id)
    for _ in range(_MAX_EXPIRIES):
        if not run.session.pending_approvals(thread_id):
            return
        run.clock.now += _EXPIRY
        run.session.resume(thread_id)
    raise AssertionError(f"thread {thread_id} still waits after every approval expired")


def _act_on(run: Run, data: st.DataObject, approval_id: str) -> None:
    request = run.deps.approvals.get(approval_id)
    if request is None or request.final:
        return
    action = data.draw(st.sampled_from(["entitled", "anyone", "reject", "edit", "expire", "wait"]))
    if action == "expire":
        run.clock.now += _EXPIRY
    elif action != "wait":
        try:
            _vote(run, data, request, action)
        except ApprovalError as refused:  # self-approval, wrong role, ...: audited, changes nothing
            event(f"vote {action} refused: {type(refused).__name__}")
        except InvalidArguments:  # an edit the backend's facts refuse (an inactive supplier): no vote
            event(f"vote {action} refused: InvalidArguments")
        else:
            event(f"vote {action} accepted")


def _vote(run: Run, data: st.DataObject, request: ApprovalRequest, action: str) -> None:
    approvals = run.deps.approvals
    entitled = _entitled(request)
    if action != "anyone" and entitled:
        voter = data.draw(st.sampled_from(entitled), label="entitled voter")
    else:
        voter = data.draw(st.sampled_from(PEOPLE), label="any voter")
    approver = DIRECTORY.actor(voter)
    if action == "reject":
        approvals.vote(request.id, approver=approver, approve=False, reason="not this week", channel="cli")
        return
    edited = _edited_args(data, request) if action == "edit" else None
    approvals.vote(
        request.id,
        approver=approver,
        approve=True,
        channel="cli",
        edited_args=edited,
        redecide=(lambda args: redecide(run.session.deps, request, args)) if edited is not None else None,
    )


def _entitled(request: ApprovalRequest) -> list[str]:
    roles = {role for requirement in request.requirements for role in requirement.roles}
    voted = {vote.approver for vote in request.votes if vote.args_digest == request.args_digest}
    return [
        person.id
        for person in DIRECTORY
        if person.id != request.requester and person.id not in voted and roles & set(person.roles)
    ]


def _edited_args(data: st.DataObject, request: ApprovalRequest) -> dict[str, Any] | None:
    raw = data.draw(VALID_ARGS[request.tool], label="edited args")
    try:
        return canonical_args(SPECS[request.tool].parse_args(raw))
    except InvalidArguments:
        return None


# --- the invariant --------------------------------------------------------------------------------


def _assert_governed(run: Run, threads: set[str]) -> None:
    events = list(run.deps.audit.events())
    runs = [e for e in events if e.kind == "execution" and not e.payload["replayed"]]
    write_runs = [e for e in runs if _is_write(e.payload["tool"])]
    if run.deps.dry_run:
        assert run.writes == [] and write_runs == [], "a dry run wrote to a backend"
    _assert_writes_match_executions(events, run.writes, write_runs)
    for execution in runs:
        _assert_allowed(run, events, execution)
    _assert_refusals_never_ran(events, runs)
    for thread_id in threads:
        _assert_every_call_answered_once(run, thread_id)
    verified = run.deps.audit.verify()
    assert verified.ok, f"audit chain broken: {verified}"


def _assert_writes_match_executions(
    events: list[AuditEvent], writes: list[Write], write_runs: list[AuditEvent]
) -> None:
    """One backend write per execution of a write/financial tool, in order, with the decided arguments."""
    assert [w.method for w in writes] == [TOOL_METHOD[e.payload["tool"]] for e in write_runs], (
        f"writes {[w.method for w in writes]} do not match executions "
        f"{[e.payload['tool'] for e in write_runs]}"
    )
    completed = sum(e.payload["status"] == "completed" for e in write_runs)
    assert sum(w.ok for w in writes) == completed
    for write, execution in zip(writes, write_runs, strict=True):
        assert write.ok == (execution.payload["status"] == "completed")
        decided = _recheck_decision(events, execution).payload["args"]
        missing = leaves(decided) - write.leaves()
        assert not missing, f"{write.method} wrote other arguments than decided: missing {missing}"


def _assert_allowed(run: Run, events: list[AuditEvent], execution: AuditEvent) -> None:
    """The call ran on an allowing re-check decision for exactly its digest, after being cleared."""
    decision = _recheck_decision(events, execution)
    digest, tier = execution.payload["args_digest"], decision.payload["tier"]
    assert args_digest(decision.payload["args"]) == digest == decision.payload["args_digest"]
    assert decision.payload["tool"] == execution.payload["tool"]
    before = _thread_events_before(events, execution)
    if tier == "notify":
        assert any(e.kind == "notification" and e.payload["args_digest"] == digest for e in before), (
            "a notify-tier call ran before its notification was sent"
        )
    elif tier == "approve":
        assert any(_approval_covers(run, e, decision) for e in _approved(before, digest)), (
            f"{execution.payload['tool']} ran on an approve decision without a quorate approval of {digest}"
        )
    else:
        assert tier == "auto", f"{execution.payload['tool']} ran on a {tier} decision"
    assert _cleared(before, execution.payload["tool_call_id"], digest), (
        f"{execution.payload['tool_call_id']} ran although it was never allowed at plan time or approved"
    )


def _assert_refusals_never_ran(events: list[AuditEvent], runs: list[AuditEvent]) -> None:
    refusals = [
        (e, e.payload["tool_call_id"], e.payload["args_digest"])
        for e in events
        if e.kind == "decision" and e.payload.get("stage") == "plan" and e.payload["tier"] == "deny"
    ]
    refusals += [
        (e, _base_call_id(e.payload["tool_call_id"]), e.payload["args_digest"])
        for e in events
        if e.kind == "approval_final" and e.payload["status"] in ("rejected", "expired")
    ]
    for refusal, call_id, digest in refusals:
        ran = [
            r
            for r in runs
            if r.seq > refusal.seq
            and r.thread_id == refusal.thread_id
            and r.payload["tool_call_id"] == call_id
            and r.payload["args_digest"] == digest
        ]
        assert not ran, f"{call_id} ran after it was {refusal.kind} {refusal.payload.get('status', 'deny')}"


def _assert_every_call_answered_once(run: Run, thread_id: str) -> None:
    messages = run.session.graph.get_state({"configurable": {"thread_id": thread_id}}).values["messages"]
    for index, message in enumerate(messages):
        if not isinstance(message, AIMessage):
            continue
        asked = {c["id"] or "" for c in message.tool_calls} | {
            c["id"] or "" for c in message.invalid_tool_calls
        }
        answered = []
        for later in messages[index + 1 :]:
            if isinstance(later, AIMessage | HumanMessage):
                break
            if isinstance(later, ToolMessage):
                answered.append(later.tool_call_id)
        assert sorted(answered) == sorted(asked), f"calls {sorted(asked)} answered by {answered}"


# --- reading the audit trail ----------------------------------------------------------------------


def _is_write(tool: str) -> bool:
    spec = SPECS.get(tool)
    return spec is not None and spec.side_effect is not SideEffect.READ


def _thread_events_before(events: list[AuditEvent], event: AuditEvent) -> list[AuditEvent]:
    return [e for e in events if e.seq < event.seq and e.thread_id == event.thread_id]


def _recheck_decision(events: list[AuditEvent], execution: AuditEvent) -> AuditEvent:
    """The last re-check decision for the executed tool call before it ran."""
    call_id = execution.payload["tool_call_id"]
    rechecks = [
        e
        for e in _thread_events_before(events, execution)
        if e.kind == "decision"
        and e.payload.get("stage") == "recheck"
        and e.payload["tool_call_id"] == call_id
    ]
    assert rechecks, f"{call_id} ran without a re-check decision"
    return rechecks[-1]


def _approved(before: list[AuditEvent], digest: str) -> Iterator[AuditEvent]:
    for item in before:
        approved = item.kind == "approval_final" and item.payload["status"] == "approved"
        if approved and item.payload["args_digest"] == digest:
            yield item


def _approval_covers(run: Run, final: AuditEvent, decision: AuditEvent) -> bool:
    request = run.deps.approvals.get(final.payload["request_id"])
    assert request is not None
    approvers = final.payload["approvers"]
    requirements = [
        ApprovalRequirement(roles=tuple(r["roles"]), count=r["count"], rule_id=r["rule_id"])
        for r in decision.payload["approvals"]
    ]
    votes = [(who, DIRECTORY.actor(who).roles) for who in approvers]
    return (
        request.requester not in approvers
        and approval_satisfied(requirements, votes, request.requester).satisfied
    )


def _cleared(before: list[AuditEvent], call_id: str, digest: str) -> bool:
    allowed_at_plan = any(
        e.kind == "decision"
        and e.payload.get("stage") == "plan"
        and e.payload["tool_call_id"] == call_id
        and e.payload["args_digest"] == digest
        and e.payload["tier"] in ("auto", "notify")
        for e in before
    )
    approved = any(_base_call_id(e.payload["tool_call_id"]) == call_id for e in _approved(before, digest))
    return allowed_at_plan or approved


def _base_call_id(tool_call_id: str) -> str:
    """Re-check escalations request approval under ``<id>#recheck-…``; they belong to ``<id>``."""
    return tool_call_id.split("#", 1)[0]
