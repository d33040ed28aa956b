"""The errors the agent raises, in one tree.

::

    OpslayerError                 base of every error of ``agent/``
    ├── ConfigurationError        a setting, the home folder or the policy cannot be used; the
    │                             message names the setting or file (front ends: exit 2, HTTP 500)
    ├── ThreadError               a thread cannot be continued or resumed as asked (the caller acts)
    │   ├── UnknownThread
    │   ├── ThreadNotWaiting
    │   ├── ThreadBusy            it takes no new message now; the subclass says why:
    │   │   ├── ThreadRunning     another turn or a resume runs on it (send again in a moment)
    │   │   ├── ThreadWaiting     it waits for approval (``approval_ids``), or for its resume
    │   │   └── ThreadStopped     it stopped between tool calls and their answers (resume it)
    │   └── BadThreadId           blank, or longer than a thread id may be
    ├── PlannerUnavailable        the LLM endpoint failed; nothing was executed, the thread goes on
    ├── NotificationFailed        a notify-tier call was not announced, so it did not run; a resume
    │                             sends the notification again
    └── GovernanceViolation       an invariant broke: code tried to run a call no decision allows, or
                                  the graph was built or resumed wrongly. A bug, never a message to
                                  the model: it crashes the turn.

Errors of the governance stores (``governance.approvals.ApprovalError``, the executions ledger's
``ExecutionError``) and of the systems (``tools.errors.OpsError``) keep their own trees; front ends map
all of them in one place.
"""

from __future__ import annotations


class OpslayerError(Exception):
    """Base of the agent's errors; ``str(error)`` is one line for the person who must act."""


class ConfigurationError(OpslayerError, ValueError):
    """A setting needed for the chosen configuration is missing or unusable; the message names it."""


class ThreadError(OpslayerError, RuntimeError):
    """A thread cannot be resumed or continued as asked."""


class UnknownThread(ThreadError):
    def __init__(self, thread_id: str) -> None:
        super().__init__(f"no conversation thread {thread_id!r}: nothing to resume")


class ThreadNotWaiting(ThreadError):
    def __init__(self, thread_id: str) -> None:
        super().__init__(f"thread {thread_id!r} is not waiting for approval: nothing to resume")


class ThreadBusy(ThreadError):
    """The thread takes no new message now; the subclass says why, and what would let it."""


class ThreadRunning(ThreadBusy):
    """Another turn or a resume runs on the thread now, in some process: send again once it answered."""


class ThreadWaiting(ThreadBusy):
    """The thread waits for approval: ``approval_ids`` are the requests still pending; none when they
    are all decided and the thread waits for its resume (the worker's, or ``chat --resume``)."""

    def __init__(self, message: str, *, approval_ids: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.approval_ids = approval_ids


class ThreadStopped(ThreadBusy):
    """A run stopped between the thread's tool calls and their answers: it must be resumed first."""


class BadThreadId(ThreadError):
    """A thread id that is blank or too long (thread ids have at most 255 characters)."""


class PlannerUnavailable(OpslayerError, RuntimeError):
    """The LLM endpoint failed (timeout, rate limit, auth, malformed reply); nothing was executed."""


class NotificationFailed(OpslayerError, RuntimeError):
    """The notification a notify-tier call owes went out to nobody; the call did not run."""


class GovernanceViolation(OpslayerError, RuntimeError):
    """Code tried to execute a call without a decision that allows exactly that call."""
