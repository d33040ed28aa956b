"""Restrictions in force: what a tripped monitor or a person's autonomy pause holds back, as plain values.

``decide`` takes them as an input, like usage (:class:`Oversight`), so the decision stays pure and
``explain`` and replay show them: a call matched by a restriction gets at least the restriction's
tier, its approvers, and a rule id naming where it came from (``monitor:<id>`` or ``pause:<id>``).
:mod:`governance.restrictions` stores them; this module only says what they are and whom they hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any

from governance.decision import ApprovalRequirement, Tier

SCOPES = ("thread", "person", "tool", "all")


@dataclass(frozen=True, kw_only=True, slots=True)
class Restriction:
    """Calls to ``tools`` (globs) within the scope need ``tier`` (approve or deny) until cleared.

    ``scope`` is ``thread`` / ``person`` / ``tool`` (with ``subject``: the thread id, person id or
    tool name) or ``all``. ``source`` is ``monitor`` or ``pause``; ``name`` the monitor id (or, for a
    pause, the person who paused).
    """

    id: str
    source: str
    name: str
    scope: str
    subject: str | None
    tools: tuple[str, ...]
    tier: Tier
    approvals: tuple[ApprovalRequirement, ...]
    reason: str
    created_at: datetime
    created_by: str

    @property
    def rule_id(self) -> str:
        """How decisions made under it name it: ``monitor:<monitor id>`` or ``pause:<restriction id>``."""
        return f"monitor:{self.name}" if self.source == "monitor" else f"pause:{self.id}"

    def holds(self, tool: str, actor_id: str, thread_id: str | None) -> bool:
        """Whether a call of ``tool`` by ``actor_id`` in ``thread_id`` falls under this restriction."""
        if not any(fnmatchcase(tool, pattern) for pattern in self.tools):
            return False
        if self.scope == "thread":
            return thread_id is not None and thread_id == self.subject
        if self.scope == "person":
            return actor_id == self.subject
        if self.scope == "tool":
            return tool == self.subject
        return True

    def describe(self) -> str:
        where = "everyone" if self.scope == "all" else f"{self.scope} {self.subject}"
        kind = f"autonomy paused by {self.name}"
        if self.source == "monitor":
            kind = f"monitor {self.name!r} tripped"
        return f"{kind}: {', '.join(self.tools)} for {where} need {self.tier.value} ({self.reason})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "name": self.name,
            "rule_id": self.rule_id,
            "scope": self.scope,
            "subject": self.subject,
            "tools": list(self.tools),
            "tier": self.tier.value,
            "approvals": [requirement.to_dict() for requirement in self.approvals],
            "reason": self.reason,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class Oversight:
    """The restrictions in force at the moment of a decision (read before ``decide``, passed in)."""

    restrictions: tuple[Restriction, ...] = ()

    def holding(self, tool: str, actor_id: str, thread_id: str | None) -> tuple[Restriction, ...]:
        if not self.restrictions:
            return ()
        return tuple(r for r in self.restrictions if r.holds(tool, actor_id, thread_id))


NO_OVERSIGHT = Oversight()
"""Nothing restricted: the default input of ``decide``."""
