"""Oversight over time, as the operations service offers it: vetoes, the autonomy kill switch,
tripped monitors, and the worker's oversight pass (``Operations.oversight``).

Errors: :class:`OversightRefused` (the person may not do this: audited as ``access_denied``),
:class:`OversightInvalid` (bad input, named), and from below ``UnknownRestriction``,
``AlreadyCleared`` (:mod:`governance.restrictions`) and the approval errors of a veto.
"""

from __future__ import annotations

import builtins
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

from governance.approvals import ApprovalRequest, ApprovalStatus, Nudge, UnknownRequest
from governance.decision import ApprovalRequirement, Tier
from governance.escalation import Step, due_steps
from governance.monitors import Reading, evaluate
from governance.oversight import Oversight, Restriction
from governance.policy import Monitor, tools_matching
from governance.restrictions import MONITOR, PAUSE, RestrictionStore

if TYPE_CHECKING:
    from agent import wiring
    from agent.metrics import Metrics
    from agent.operations.views import VoteOutcome
    from agent.run.governance import Governance
    from agent.settings import Settings
    from governance.directory import Person


class OversightHost(Protocol):
    """What oversight needs of :class:`~agent.operations.Operations` (which owns it)."""

    settings: Settings

    @property
    def metrics(self) -> Metrics: ...

    @property
    def stores(self) -> wiring.Stores: ...

    @property
    def governance(self) -> Governance: ...

    @property
    def notifier(self) -> Any | None: ...

    def now(self) -> datetime: ...

    def person(self, person_id: str) -> Person: ...

    def refused(self, person_id: str | None, *, reason: str, **about: Any) -> None: ...

    def vote(
        self,
        request_id: str,
        *,
        voter: str,
        approve: bool,
        channel: str,
        comment: str | None = None,
        reason: str | None = None,
        edited_args: Mapping[str, Any] | None = None,
    ) -> VoteOutcome: ...


log = logging.getLogger("opslayer.oversight")

ANNOUNCE = "announce"
"""The nudge step of a veto window's notification."""
_MAX_REASON = 2000


class OversightRefused(PermissionError):
    """The person holds none of the roles the policy names for this (``autonomy`` section)."""


class OversightInvalid(ValueError):
    """Input that cannot be used; ``field`` names it (``reason``, ``tool``) when it is one."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class OversightConflict(OversightInvalid):
    """The request or restriction is not in the state the action needs (a monitor trip to resume, a
    request outside a veto window to veto)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class MonitorView:
    """A monitor of the policy and its trips in force."""

    monitor: Monitor
    trips: tuple[Restriction, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class PassReport:
    """What one oversight pass did."""

    announced: tuple[str, ...] = ()
    reminded: tuple[str, ...] = ()
    escalated: tuple[str, ...] = ()
    tripped: tuple[Restriction, ...] = ()


class OversightService:
    """Veto, pause/resume autonomy, clear monitors, and the pass the worker runs; ``ops.oversight``."""

    def __init__(self, ops: OversightHost) -> None:
        self._ops = ops

    @cached_property
    def store(self) -> RestrictionStore:
        ops = self._ops
        engine = ops.stores.every_table()  # the monitors read approvals, executions, usage and the trail
        return RestrictionStore(engine, audit=ops.stores.audit, clock=ops.now)

    def in_force(self) -> Oversight:
        """The restrictions ``decide`` gets (read before every decision)."""
        return self.store.oversight()

    # --- the kill switch ----------------------------------------------------------------------------

    def pause(
        self, *, by: str, reason: str, tool: str | None = None, person: str | None = None, deny: bool = False
    ) -> Restriction:
        """Pause autonomy: matched calls need approval (``deny``: are refused) until resumed."""
        autonomy = self._ops.governance.policy.policy.autonomy
        self._entitled(by, autonomy.pause_roles, "pause autonomy", field="autonomy.pause_roles")
        reason = _reason(reason)
        tools = (tool,) if tool is not None else ("*",)
        if tool is not None and not tools_matching(tool, self._catalogue()):
            raise OversightInvalid(f"tool {tool!r} matches no tool in the catalogue", field="tool")
        if person is not None:
            self._ops.person(person)  # UnknownPerson names it
        approvals = _requirements(autonomy.approvers)
        tier = Tier.DENY if deny else Tier.APPROVE
        return self.store.pause(
            by=by, reason=reason, tools=tools, person=person, tier=tier, approvals=approvals
        )

    def resume(self, restriction_id: str, *, by: str, reason: str) -> Restriction:
        """End a pause (``autonomy_resumed``)."""
        autonomy = self._ops.governance.policy.policy.autonomy
        self._entitled(by, autonomy.pause_roles, "resume autonomy", field="autonomy.pause_roles")
        if self.store.get(restriction_id).source != PAUSE:
            raise OversightConflict(f"{restriction_id} is a monitor trip, not a pause: clear it instead")
        return self.store.clear(restriction_id, by=by, reason=_reason(reason))

    def clear(self, restriction_id: str, *, by: str, reason: str) -> Restriction:
        """Clear a tripped monitor (``monitor_cleared``); its restriction ends."""
        autonomy = self._ops.governance.policy.policy.autonomy
        self._entitled(by, autonomy.clear_roles, "clear monitors", field="autonomy.clear_roles")
        if self.store.get(restriction_id).source != MONITOR:
            raise OversightConflict(
                f"{restriction_id} is an autonomy pause, not a monitor trip: resume it instead"
            )
        return self.store.clear(restriction_id, by=by, reason=_reason(reason))

    def may_pause(self, person_id: str) -> bool:
        """Whether the person may pause and resume autonomy (a read: nothing is audited)."""
        return not self._ops.person(person_id).roles.isdisjoint(self._autonomy().pause_roles)

    def may_clear(self, person_id: str) -> bool:
        """Whether the person may clear tripped monitors (a read: nothing is audited)."""
        return not self._ops.person(person_id).roles.isdisjoint(self._autonomy().clear_roles)

    def _autonomy(self) -> Any:
        return self._ops.governance.policy.policy.autonomy

    def pauses(self) -> builtins.list[Restriction]:
        return [r for r in self.store.list() if r.source == PAUSE]

    def monitors(self) -> builtins.list[MonitorView]:
        trips = [r for r in self.store.list() if r.source == MONITOR]
        return [
            MonitorView(monitor=m, trips=tuple(t for t in trips if t.name == m.id))
            for m in self._ops.governance.policy.policy.monitors
        ]

    # --- vetoes -------------------------------------------------------------------------------------

    def veto(self, request_id: str, *, voter: str, reason: str, channel: str) -> VoteOutcome:
        """Stop a call waiting out its veto window: a rejection with a reason, which the agent is told."""
        request = self._ops.stores.approvals.get(request_id)
        if request is None:
            raise UnknownRequest(f"no approval request {request_id!r}", request_id=request_id)
        if not request.veto_window:
            raise OversightConflict(f"{request.id} is not in a veto window; reject it instead")
        return self._ops.vote(request.id, voter=voter, approve=False, reason=reason, channel=channel)

    # --- the worker's pass --------------------------------------------------------------------------

    def run_pass(self) -> PassReport:
        """Announce new veto windows, remind and escalate undecided requests, evaluate every monitor.

        Each step is claimed in the database before anyone is told, so workers racing on one pass
        tell people once.
        """
        now = self._ops.now()
        pending = self._ops.stores.approvals.list(status=ApprovalStatus.PENDING)
        taken = self._ops.stores.approvals.nudges([r.id for r in pending])
        announced = [r.id for r in pending if r.veto_window and self._announce(r, taken.get(r.id, []))]
        reminded: builtins.list[str] = []
        escalated: builtins.list[str] = []
        for request in pending:
            steps = {n.step for n in taken.get(request.id, [])}
            for step in due_steps(request, self._ops.governance.policy.policy, self._directory(), now, steps):
                if self._escalate(request, step, now):
                    (reminded if step.level == 0 else escalated).append(f"{request.id}:{step.step}")
        tripped = self._monitor(now)
        return PassReport(
            announced=tuple(announced),
            reminded=tuple(reminded),
            escalated=tuple(escalated),
            tripped=tuple(tripped),
        )

    def _announce(self, request: ApprovalRequest, taken: builtins.list[Nudge]) -> bool:
        if any(n.step == ANNOUNCE for n in taken):
            return False
        from agent.run.notifier import recipients

        people = recipients(request.notify, self._directory())
        if not self._ops.stores.approvals.nudge(
            Nudge(request_id=request.id, step=ANNOUNCE, at=self._ops.now(), people=people, grants=())
        ):
            return False
        roles = " or ".join(request.requirements[0].roles)
        text = (
            f"{request.requester} is about to run {request.tool} {_args(request)}; it runs at "
            f"{request.expires_at.isoformat()} unless someone holding {roles} vetoes {request.id}"
        )
        self._send(request, request.notify, people, text, announces=request.id)
        return True

    def _escalate(self, request: ApprovalRequest, step: Step, now: datetime) -> bool:
        from governance.audit import EventKind

        nudge = Nudge(request_id=request.id, step=step.step, at=now, people=step.people, grants=step.grants)
        if not self._ops.stores.approvals.nudge(nudge):
            return False  # another worker took this step
        targets = tuple(f"user:{p}" for p in step.people) + step.channels
        verb = (
            "is waiting for your decision"
            if step.kind is EventKind.APPROVAL_REMINDER
            else "was escalated to you"
        )
        may = " You may approve it." if step.grants else ""
        text = f"{request.id} ({request.tool} for {request.requester}) {verb}.{may}"
        payload: dict[str, Any] = {
            "request_id": request.id,
            "tool": request.tool,
            "step": step.step,
            "level": step.level,
            "rule_id": step.rule_id,
            "people": list(step.people),
            "channels": list(step.channels),
            "may_approve": bool(step.grants),
            "granted_roles": list(step.grants),
            "waiting_seconds": int((now - request.created_at).total_seconds()),
        }
        self._ops.stores.audit.append(step.kind, payload, thread_id=request.thread_id)
        self._send(request, targets, (*step.people, *step.channels), text)
        return True

    def _monitor(self, now: datetime) -> builtins.list[Restriction]:
        policy = self._ops.governance.policy.policy
        if not policy.monitors:
            return []
        active = self.store.active_keys()
        longest = max(m.window_length for m in policy.monitors)
        cleared = self.store.cleared_since(now - longest)
        tripped = []
        for reading in evaluate(policy, self.store.engine, now):
            key = (reading.monitor.id, reading.scope, reading.subject)
            if key in active:
                continue
            # A person cleared this trip having seen what is in the window: it trips again once a
            # whole window has passed since (a problem that goes on is caught then).
            if key in cleared and cleared[key] > now - reading.monitor.window_length:
                continue
            trip = self._trip(reading)
            if trip is not None:
                tripped.append(trip)
        counts = Counter(r.name for r in self.store.list() if r.source == MONITOR)
        self._ops.metrics.set_monitors_tripped({m.id: counts.get(m.id, 0) for m in policy.monitors})
        return tripped

    def _trip(self, reading: Reading) -> Restriction | None:
        monitor = reading.monitor
        restrict = monitor.restrict
        autonomy = self._ops.governance.policy.policy.autonomy
        scope, subject = reading.scope, reading.subject
        if restrict is not None and restrict.scope == "all":  # widen to everyone
            scope, subject = "all", None
        trip = self.store.trip(
            monitor=monitor.id,
            scope=scope,
            subject=subject,
            tools=restrict.tools if restrict is not None else (),
            tier=restrict.tier if restrict is not None else Tier.NOTIFY,
            approvals=_requirements(monitor.approvers or autonomy.approvers) if restrict is not None else (),
            reason=monitor.reason or reading.detail,
            figure=reading.figure,
            threshold=reading.threshold,
            payload={"kind": monitor.kind, "detail": reading.detail, "on_trip": monitor.on_trip},
        )
        if trip is not None and monitor.notify:
            from agent.run.notifier import recipients

            people = recipients(monitor.notify, self._directory())
            text = f"monitor {monitor.id} tripped: {reading.detail}" + (
                f"; {', '.join(trip.tools)} now need {trip.tier.value} until cleared ({trip.id})"
                if restrict is not None
                else f" (clear with: opslayer monitors clear {trip.id})"
            )
            self._notify(subject or "oversight", "-", "opslayer", monitor.notify, people, text)
        return trip

    # --- helpers ------------------------------------------------------------------------------------

    def _send(
        self,
        request: ApprovalRequest,
        targets: tuple[str, ...],
        people: tuple[str, ...],
        text: str,
        *,
        announces: str | None = None,
    ) -> None:
        self._notify(
            request.thread_id, request.tool, request.requester, targets, people, text, announces=announces
        )

    def _notify(
        self,
        thread_id: str,
        tool: str,
        requester: str,
        targets: tuple[str, ...],
        people: tuple[str, ...],
        text: str,
        *,
        announces: str | None = None,
    ) -> None:
        from agent.run.notifier import Notification

        notification = Notification(
            thread_id=thread_id,
            tool=tool,
            requester=requester,
            targets=targets,
            recipients=people,
            text=text,
            announces=announces,
        )
        try:
            self._notifier.send(notification)
        except Exception:  # recorded in the trail already; telling people is best effort here
            log.exception("oversight notification to %s failed", ", ".join(people))

    @cached_property
    def _notifier(self) -> Any:
        """The service's notifier, else the one the settings configure (Slack when a bot token is set:
        people by direct message, channels), else the log."""
        if self._ops.notifier is not None:
            return self._ops.notifier
        from agent import wiring

        return wiring.default_notifier(self._ops.settings, self._directory())

    def _entitled(self, person_id: str, roles: tuple[str, ...], what: str, *, field: str) -> None:
        person = self._ops.person(person_id)
        if person.roles.isdisjoint(roles):
            needed = " or ".join(roles) if roles else f"nobody (the policy names no {field})"
            reason = f"{person_id} may not {what}: it needs {needed}"
            self._ops.refused(person_id, reason=reason, action=what)
            raise OversightRefused(reason)

    def _directory(self) -> Any:
        return self._ops.governance.directory

    def _catalogue(self) -> dict[str, Any]:
        return {name: plan for name, plan in self._ops.governance.policy.plans.items()}


def _reason(reason: str) -> str:
    text = (reason or "").strip()
    if not text:
        raise OversightInvalid("reason: required; it is recorded in the audit trail", field="reason")
    if len(text) > _MAX_REASON:
        raise OversightInvalid(f"reason: at most {_MAX_REASON} characters", field="reason")
    return text


def _requirements(approvers: Any) -> tuple[ApprovalRequirement, ...]:
    return tuple(ApprovalRequirement(roles=a.roles, count=a.count, rule_id="autonomy") for a in approvers)


def _args(request: ApprovalRequest) -> str:
    import json

    return json.dumps(dict(request.args), ensure_ascii=False, sort_keys=True)
