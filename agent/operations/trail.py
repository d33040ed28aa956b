"""The audit trail read and queried, the policy in force and explained, API tokens, and the roles that
see everything (a layer of :class:`~agent.operations.Operations`, see :mod:`agent.operations.core`)."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from agent.operations import access
from agent.operations.core import Core
from agent.operations.views import AuditPage, PolicyInForce
from governance.audit import AuditEvent, ChainHead, EventKind, VerifyResult

if TYPE_CHECKING:  # imported where used: reading the queue stays cheap
    from governance.decision import Decision
    from governance.directory import Person
    from governance.tokens import IssuedToken, TokenRecord


class Trail(Core):
    """The audit trail, the policy in force, API tokens."""

    def audit_events(
        self, *, thread: str | None = None, kinds: Sequence[str] | None = None
    ) -> builtins.list[AuditEvent]:
        return list(self.stores.audit.events(thread_id=thread, kinds=kinds))

    def verify(self, *, head: ChainHead | None = None) -> VerifyResult:
        return self.stores.audit.verify(head=head)

    def head(self) -> ChainHead:
        return self.stores.audit.head()

    def requests_since(self, person_id: str, since: datetime, *, nth_newest: int) -> datetime | None:
        """When ``person_id`` sent the ``nth_newest`` of their messages since ``since`` (every channel,
        every process); None when they sent fewer: what a send rate limit needs."""
        audit = self.stores.audit
        return audit.count_recent(actor=person_id, kind=EventKind.REQUEST, since=since, nth_newest=nth_newest)

    def audit_query(
        self,
        *,
        thread: str | None = None,
        kinds: Sequence[str] | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after_seq: int = 0,
        limit: int = 50,
    ) -> AuditPage:
        """Matching events oldest first, ``limit`` at a time from ``after_seq``; ``until`` excluded."""
        events, next_seq = self.stores.audit.query(
            thread_id=thread,
            kinds=kinds,
            actor=actor,
            since=since,
            until=until,
            after_seq=after_seq,
            limit=limit,
        )
        return AuditPage(events=tuple(events), next_seq=next_seq)

    def refused(self, person_id: str | None, *, reason: str, **about: Any) -> None:
        """Record a refused access (``access_denied``): who, why, and what they asked for."""
        self.stores.audit.append(EventKind.ACCESS_DENIED, {"reason": reason, **about}, actor=person_id)

    def policy(self) -> PolicyInForce:
        compiled = self.governance.policy
        return PolicyInForce(version=compiled.version, document=compiled.policy.model_dump(mode="json"))

    def explain(
        self, tool: str, raw_args: Mapping[str, Any], *, actor: str, look_up_facts: bool = True
    ) -> tuple[Decision, builtins.list[str]]:
        """The decision ``actor`` would get for this call now, without running anything."""
        from agent.run.review import explain

        return explain(
            self.governance,
            tool=tool,
            raw_args=raw_args,
            actor=self.governance.directory.actor(actor),
            now=self._clock(),
            systems=self.systems if look_up_facts else None,
            usage=self.stores.usage,
        )

    def is_auditor(self, person_id: str) -> bool:
        return access.is_auditor(self.person(person_id))

    def may_settle(self, person_id: str) -> bool:
        return access.may_settle(self.person(person_id), self.settings.settle_roles)

    def create_token(
        self, person_id: str, *, expires_in: timedelta | None, label: str | None = None, by: str | None = None
    ) -> IssuedToken:
        """A new token for a person of the directory (audited; the secret is in the result only)."""
        person = self.person(person_id)
        issued = self.stores.tokens.create(person.id, expires_in=expires_in, label=label)
        payload = {
            "token_id": issued.record.id,
            "person": person.id,
            "expires_at": issued.record.to_dict()["expires_at"],
        }
        self.stores.audit.append(EventKind.TOKEN_CREATED, {**payload, "label": label}, actor=by or person.id)
        return issued

    def tokens(self, *, person: str | None = None) -> builtins.list[TokenRecord]:
        return self.stores.tokens.list(person=person)

    def revoke_token(self, token_id: str, *, by: str, person: str | None = None) -> TokenRecord:
        """Revoke (``person``: only one of theirs; ``NoSuchToken`` otherwise); audited when this call
        revoked it. A token already revoked stays as it was: its ``revoked_by`` names who did."""
        record, revoked = self.stores.tokens.revoke(token_id, by=by, person=person)
        if revoked:
            payload = {"token_id": record.id, "person": record.person}
            self.stores.audit.append(EventKind.TOKEN_REVOKED, payload, actor=by)
        return record

    def authenticate(self, token: str) -> Person:
        """The person a token belongs to: ``TokenError`` for a bad token, ``UnknownPerson`` for a
        token of someone no longer in the directory."""
        return self.signed_in(token)[0]

    def signed_in(self, token: str) -> tuple[Person, TokenRecord]:
        """As :meth:`authenticate`, with the token's record (what a session made with it names)."""
        record = self.stores.tokens.authenticate(token)
        return self.person(record.person), record
