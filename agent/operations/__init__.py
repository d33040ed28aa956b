"""The operations service: the one API every front end calls (CLI today; HTTP API, review page, Slack
app and worker next). Front ends translate their protocol into these calls and render what comes back;
none decides, validates or audits on its own.

What it builds, it builds on first use: reading the approval queue, the audit trail or the executions
ledger opens the governance database only — never the chat model, the tool backends or Chroma.

Errors come from the trees of the layers below (documented in :mod:`agent.run.errors`,
:mod:`governance.approvals`, :mod:`governance.executions`, :mod:`tools.errors`) plus
``governance.directory.UnknownPerson``; front ends map them in one place.
"""

from agent.operations.access import AUDITOR_ROLE
from agent.operations.service import Operations, make_thread_id
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
