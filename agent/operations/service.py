"""The :class:`Operations` class (see the package's docstring): its top layer, the executions ledger as
each person may see and settle it, over the layers of :mod:`agent.operations.core`."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

from agent.operations.conversations import Conversations
from agent.operations.views import ExecutionView
from governance.audit import EventKind

if TYPE_CHECKING:  # imported where used: reading the queue stays cheap
    from governance.executions import ExecutionRecord, ExecutionStatus


class Operations(Conversations):
    """Send, resume, review approvals, settle executions, read the audit trail, explain, look up people.

    ``model``, ``notifier`` and ``clock`` replace what the settings would build (tests, evals).
    ``metrics`` (a fresh :class:`~agent.metrics.Metrics` by default) counts what goes through it.
    """

    def executions(
        self,
        *,
        status: ExecutionStatus | None = None,
        thread: str | None = None,
        limit: int = 50,
        visible_to: str | None = None,
    ) -> builtins.list[ExecutionRecord]:
        """Executed calls, the most recently started first.

        ``visible_to``: only those that person may see (:meth:`may_see_execution`). For someone who sees
        only some, the ledger is read over the threads they may see, in one query, so the first
        ``limit`` are all there however many other people's calls ran since.
        """
        store = self.stores.executions
        if visible_to is None or self.is_auditor(visible_to) or self.may_settle(visible_to):
            return store.list(status=status, thread_id=thread, limit=limit)
        if thread is not None:
            threads = {thread} if self.may_see_thread(visible_to, thread) else set()
        else:  # as may_see_thread decides: the threads they sent to, and those of approvals they see
            threads = {r.thread_id for r in self.approvals(status=None, visible_to=visible_to)}
            after_seq: int | None = 0
            while after_seq is not None:
                sent = self.audit_query(
                    kinds=[EventKind.REQUEST], actor=visible_to, after_seq=after_seq, limit=1000
                )
                threads.update(e.thread_id for e in sent.events if e.thread_id is not None)
                after_seq = sent.next_seq
        return store.list(status=status, thread_ids=threads, limit=limit)

    def execution(self, key: str, *, visible_to: str | None = None) -> ExecutionView:
        """One execution by key or unique prefix (``UnknownExecution`` / ``AmbiguousKey`` otherwise).

        ``visible_to``: as that person may see the ledger. An execution they may not see is unknown, and
        a prefix is ambiguous only if they may see every execution it matches (unknown otherwise): the
        answer tells them nothing of other people's keys.
        """
        from governance.executions import AmbiguousKey, UnknownExecution
        from governance.executions.settlement import call_decision, settlement_of

        store = self.stores.executions
        try:
            record = store.resolve(key)
        except AmbiguousKey as ambiguous:
            matches = [store.get(k) for k in ambiguous.keys]
            if visible_to is not None and not all(
                m is not None and self.may_see_execution(visible_to, m) for m in matches
            ):
                raise UnknownExecution(key) from None
            raise
        if visible_to is not None and not self.may_see_execution(visible_to, record):
            raise UnknownExecution(key)
        audit = self.stores.audit
        return ExecutionView(
            record=record, decision=call_decision(audit, record), settlement=settlement_of(audit, record)
        )

    def settle(self, key: str, status: ExecutionStatus, *, text: str, operator: str) -> ExecutionRecord:
        """Record what the backend shows for a call a crash left ``started`` (role-checked, audited)."""
        from governance.executions.settlement import settle_execution

        stores = self.stores
        return settle_execution(
            stores.executions,
            stores.audit,
            stores.usage,
            stores.executions.resolve(key).key,
            status,
            text=text,
            operator=self.governance.directory.actor(operator),
            tools=self.governance.registry,
            entitled_roles=self.settings.settle_roles,
        )

    def may_see_execution(self, person_id: str, record: ExecutionRecord) -> bool:
        """Auditors and the settle roles see every execution; others those of threads they may see."""
        if self.is_auditor(person_id) or self.may_settle(person_id):
            return True
        return record.thread_id is not None and self.may_see_thread(person_id, record.thread_id)
