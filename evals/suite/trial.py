"""One trial: a case, a planner and a fresh home; the conversation, the approvals script, the
final state. Nothing here scores; :mod:`evals.suite.scoring` does.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Callable
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from evals.suite.case import ApprovalStep, Case
from evals.suite.planners import PlannerSpec
from evals.suite.state import apply_records, diff, matches, snapshot
from evals.suite.users import ScriptedUser, SimulatedUser, User

_MAX_RESUMES = 8


@dataclasses.dataclass(frozen=True, kw_only=True)
class Observed:
    """What a trial left: transcript, audit events, final-state diff and raw snapshots."""

    transcript: list[dict[str, Any]]
    events: list[dict[str, Any]]
    approvals: list[dict[str, Any]]
    diff: list[dict[str, Any]]
    pre: dict[str, Any]
    post: dict[str, Any]
    answer: str | None
    citations: list[str]
    error: str | None
    seconds: float
    user: str = "scripted"  # scripted | simulated: who wrote the user turns


def run_trial(
    case: Case,
    planner: PlannerSpec,
    *,
    template: Path,
    home: Path,
    knowledge: Path | None = None,
    policy: Path | None = None,
    user: User | None = None,
    keep: bool = False,
) -> Observed:
    """Run ``case`` with ``planner`` in ``home`` (created; removed afterwards unless ``keep``).

    ``template`` is the seeded systems file, copied; ``knowledge`` an ingested knowledge store,
    copied for cases with ``world.grounding`` (without it they are grounded on an empty store);
    ``policy`` replaces the shipped policy for cases that bring none of their own; ``user`` writes the
    user turns (default: the case's scripted turns)."""
    started = time.perf_counter()
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    try:
        systems_db = home / "systems.db"
        shutil.copyfile(template, systems_db)
        apply_records(systems_db, case.world.records)
        if case.world.grounding and knowledge is not None:
            shutil.copytree(knowledge, home / "knowledge")
            _add_runbooks(home / "knowledge", [case.file(name) for name in case.world.knowledge])
        pre = snapshot(systems_db)
        ops = _operations(case, planner, home, policy)
        transcript: list[dict[str, Any]] = []
        error = None
        try:
            _converse(ops, case, transcript, user or ScriptedUser(case.user.turns))
        except Exception as exc:  # a crash of the run is the trial's result, not the runner's
            error = f"{type(exc).__name__}: {exc}"
        events = [e.to_dict() for e in ops.audit_events()]
        approvals = [_approval(r) for r in ops.approvals(status=None)]
        _close(ops)
        post = snapshot(systems_db)
        answers = [t["answer"] for t in transcript if t.get("answer")]
        answer = answers[-1] if answers else None
        from agent.run.grounding import cited_ids

        return Observed(
            transcript=transcript,
            events=events,
            approvals=approvals,
            diff=diff(pre, post),
            pre=pre,
            post=post,
            answer=answer,
            citations=sorted({c for a in answers for c in cited_ids(a)}),
            error=error,
            seconds=round(time.perf_counter() - started, 3),
            user="simulated" if isinstance(user, SimulatedUser) else "scripted",
        )
    finally:
        if not keep:
            shutil.rmtree(home, ignore_errors=True)


def _add_runbooks(store_dir: Path, files: list[Path]) -> None:
    """Ingest a case's own runbooks (hostile ones, say) into its copy of the knowledge store."""
    if not files:
        return
    from knowledge import ingest_paths, open_store

    ingest_paths(open_store(store_dir, embedder=_embedder()), files)


@cache
def _embedder() -> Any:
    from knowledge import MiniLMEmbedder

    return MiniLMEmbedder()


def _operations(case: Case, planner: PlannerSpec, home: Path, policy: Path | None) -> Any:
    from agent.operations import Operations
    from agent.run.session import AgentSession, open_checkpointer
    from agent.settings import Settings
    from agent.wiring import build_agent_deps

    world = case.world
    settings = Settings(
        home=home,
        grounding=world.grounding,
        openai_api_key=None,
        policy_file=case.file(world.policy) if world.policy else policy,
        directory_file=case.file(world.directory) if world.directory else None,
    )
    clock = _Clock(world.clock)
    ops = Operations(settings, model=planner.build(case), clock=clock)
    # Policy and directory are immutable once compiled: one per process per (policy, directory).
    ops.__dict__["governance"] = _governance(settings.policy_file, settings.directory_file)
    deps = build_agent_deps(
        settings, model=ops._model, clock=clock, stores=ops.stores, governance=ops.governance
    )
    if world.tool_failures:
        deps = dataclasses.replace(deps, systems=_failing(deps.systems, case))
    ops.__dict__["checkpoints"] = open_checkpointer(settings.checkpoints_db)
    ops.__dict__["session"] = AgentSession(deps, ops.checkpoints)
    return ops


@cache
def _governance(policy: Path | None, directory: Path | None) -> Any:
    from agent.settings import Settings
    from agent.wiring import load_governance

    return load_governance(Settings(policy_file=policy, directory_file=directory))


@dataclasses.dataclass
class _Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


def _converse(ops: Any, case: Case, transcript: list[dict[str, Any]], user: User) -> None:
    person, thread, used = case.user, None, set[int]()
    conversation: list[tuple[str, str]] = []
    while (text := user.next_message(conversation)) is not None:
        result = ops.send(text, actor=person.actor, thread=thread, channel=person.channel)
        thread = result.thread_id
        transcript.append(_turn("user", text, result))
        for _ in range(_MAX_RESUMES):
            if not result.pending:
                break
            if not _vote(ops, case.approvals, result.pending, used):
                break  # nobody in the script acts on what it waits for: the trial ends waiting
            if ops.waiting_for(thread) and any(not r.final for r in _pending(ops, thread)):
                break
            result = ops.resume(thread)
            transcript.append(_turn("resume", None, result))
        conversation += [
            ("user", text),
            ("agent", result.answer or "(Your request is waiting for approval.)"),
        ]


def _pending(ops: Any, thread: str) -> list[Any]:
    return [ops.approval(i).request for i in ops.waiting_for(thread)]


def _vote(ops: Any, script: tuple[ApprovalStep, ...], pending: list[Any], used: set[int]) -> bool:
    """Apply the first unused script step matching each pending request; False if none matched."""
    acted = False
    for request in pending:
        for n, step in enumerate(script):
            if n in used or step.tool != request.tool or not matches(step.match, dict(request.args)):
                continue
            used.add(n)
            acted = True
            for voter in step.by:
                if step.decision == "reject":
                    ops.vote(request.id, voter=voter, approve=False, channel="eval", reason=step.reason)
                else:
                    edited = step.args if step.decision == "edit" else None
                    ops.vote(request.id, voter=voter, approve=True, channel="eval", edited_args=edited)
                if ops.approval(request.id).request.final:
                    break
            break
    return acted


def _turn(role: str, text: str | None, result: Any) -> dict[str, Any]:
    return {
        "role": role,
        "text": text,
        "thread": result.thread_id,
        "answer": result.answer,
        "calls": [dataclasses.asdict(c) for c in result.calls],
        "pending": [r.id for r in result.pending],
    }


def _approval(request: Any) -> dict[str, Any]:
    return {
        "id": request.id,
        "tool": request.tool,
        "tool_call_id": request.tool_call_id,
        "args": dict(request.args),
        "status": request.status.value,
        "stage": request.stage,
        "requester": request.requester,
        "votes": [{"approver": v.approver, "approve": v.approve} for v in request.votes],
    }


def _close(ops: Any) -> None:
    """Release the SQLite files so the home can be removed (engines hold pooled connections)."""
    with _suppress():
        ops.close()


class _suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return True


def _failing(systems: Any, case: Case) -> Any:
    """``systems`` whose backends raise each configured failure (as a ``ToolError`` the model reads)."""
    from tools.errors import ToolError

    wrapped = {}
    for system in ("itsm", "inventory", "procurement"):
        failing = {
            f.method.split(".")[1]: f.message for f in case.world.tool_failures if f.method.startswith(system)
        }
        backend = getattr(systems, system)
        wrapped[system] = _FailingBackend(backend, failing, ToolError) if failing else backend
    return dataclasses.replace(systems, **wrapped)


class _FailingBackend:
    """Passes everything through to ``inner`` except the methods in ``failing``, which raise."""

    def __init__(self, inner: Any, failing: dict[str, str], error: type[Exception]) -> None:
        self._inner, self._failing, self._error = inner, failing, error

    def __getattr__(self, name: str) -> Any:
        if name in self._failing:
            return _raiser(self._error, self._failing[name])
        return getattr(self._inner, name)


def _raiser(error: type[Exception], message: str) -> Callable[..., Any]:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise error(message)

    return fail
