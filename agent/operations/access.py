"""Who may see and act on what: the rules the operations service applies for every front end.

Pure functions of a person and a record; the service looks the person up and reads what a rule needs.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from governance.approvals import ApprovalRequest, vote_refusal
from governance.decision import Actor

if TYPE_CHECKING:  # the directory is loaded when a person is looked up, not to read the queue
    from governance.directory import Person

AUDITOR_ROLE = "auditor"
"""Reads the whole audit trail and every thread (and nothing more)."""


def is_auditor(person: Person) -> bool:
    return AUDITOR_ROLE in person.roles


def may_settle(person: Person, settle_roles: Collection[str]) -> bool:
    return not person.roles.isdisjoint(settle_roles)


def may_see_approval(person: Person, request: ApprovalRequest, granted: Collection[str] = ()) -> bool:
    """The requester, whoever holds a role it asks for or voted on it, auditors, and the people it was
    escalated to with the right to approve (``granted`` roles)."""
    return (
        bool(granted)
        or is_auditor(person)
        or request.requester == person.id
        or any(vote.approver == person.id for vote in request.votes)
        or any(role in person.roles for requirement in request.requirements for role in requirement.roles)
    )


def may_act(request: ApprovalRequest, person: Person, granted: Collection[str] = ()) -> bool:
    """Whether the person's approval would count now (the rules of a vote: pending, not their own, not
    yet voted on these arguments, filling a slot still open), with their own roles and the ``granted``
    ones (escalated to them): what waits for them."""
    return vote_refusal(request, _as_actor(person, granted), approve=True) is None


def may_reject(request: ApprovalRequest, person: Person, granted: Collection[str] = ()) -> bool:
    """Whether the person may reject it now: pending, not their own, holding a role of a requirement."""
    return vote_refusal(request, _as_actor(person, granted), approve=False) is None


def _as_actor(person: Person, granted: Collection[str]) -> Actor:
    return Actor(id=person.id, roles=person.roles | frozenset(granted))
