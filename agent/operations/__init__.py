"""The operations service: the one API every front end calls (the CLI, the HTTP API, the review page,
the Slack app and the worker). Front ends translate their protocol into these calls and render what
comes back; none decides, validates or audits on its own.

:class:`Operations` is built in layers, one concern a module, each on the one before:
:mod:`~agent.operations.core` (what it is built from, people, the work queue),
:mod:`~agent.operations.trail` (the audit trail, the policy, tokens), :mod:`~agent.operations.reviews`
(approvals and votes), :mod:`~agent.operations.conversations` (turns and threads) and
:mod:`~agent.operations.service` (executions). Oversight, impact and who may see what are in
:mod:`~agent.operations.oversight`, :mod:`~agent.operations.impact` and :mod:`~agent.operations.access`.

What it builds, it builds on first use: reading the approval queue, the audit trail or the executions
ledger opens the governance database only — never the chat model, the tool backends or Chroma.

Errors come from the trees of the layers below (documented in :mod:`agent.run.errors`,
:mod:`governance.approvals`, :mod:`governance.executions`, :mod:`tools.errors`) plus
``governance.directory.UnknownPerson``; front ends map them in one place.
"""

from agent.operations.access import AUDITOR_ROLE
from agent.operations.conversations import make_thread_id
from agent.operations.service import Operations
from agent.operations.views import (
    ApprovalView,
    AuditPage,
    ExecutionView,
    PolicyInForce,
    ThreadView,
    VoteOutcome,
)

__all__ = [
    "AUDITOR_ROLE",
    "ApprovalView",
    "AuditPage",
    "ExecutionView",
    "Operations",
    "PolicyInForce",
    "ThreadView",
    "VoteOutcome",
    "make_thread_id",
]
