"""A turn asked for in Slack: who is asking, which agent thread, and the reply in the Slack thread.

The person always comes from the verified request's user id and the directory (``slack_user_id``); an
unmapped user is told so, politely, and nothing runs. Only the person who started an agent thread
continues it: a colleague answering in the Slack thread is asked to start their own.

The request process records what was asked (:class:`~agent.slack.store.Ask`) and queues it; a worker
runs the turn (:class:`Conversations`) and the poster posts the answer from the audit trail.
"""

from __future__ import annotations

import logging
import math
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from agent.operations import Operations
from agent.slack import cards
from agent.slack.store import Ask, Place, SlackStore
from governance.audit import EventKind
from governance.directory import Person, UnknownPerson

if TYPE_CHECKING:
    from agent.run.session import TurnResult

log = logging.getLogger("opslayer.slack")


_MENTION = re.compile(r"<@[UWB][A-Z0-9]+>")
_MINUTE = timedelta(minutes=1)
WORKING_REACTION = "eyes"
DONE_REACTION = "white_check_mark"
UNMAPPED = (
    "Sorry, I don't know who you are yet: your Slack account is not in opslayer's directory, so I can't "
    "act for you. Ask your opslayer administrator to add your Slack user id ({user}) to the directory."
)


def mapped_person(ops: Operations, slack_user: str) -> Person | None:
    """The directory's person for a Slack user id, or None (refusal audited)."""
    try:
        return ops.governance.directory.by_slack_user(slack_user)
    except UnknownPerson:
        ops.refused(None, reason="Slack user not in the directory", slack_user=slack_user)
        return None


def without_mentions(text: str) -> str:
    return _MENTION.sub("", text).strip()


class Conversations:
    """Runs the turns asked for in Slack, in a worker (work of kind ``governance.work.SLACK_TURN``, one
    per ask); ``client`` is a synchronous slack_sdk ``WebClient``.

    The answer is not posted here: the poster posts every answer of a Slack thread from the audit
    trail, once, whichever process ran the turn. A worker that takes over an ask from one that died
    never asks the agent twice: the ask records the thread and how many requests it had when the turn
    started, so a message that got in is continued (resumed), not sent again. ``resume`` continues it
    under the thread's own work lease (:meth:`agent.worker.Worker.resume_now`), so a worker resuming
    the thread for another reason at the same moment is never a second writer of it; None when that
    worker holds it.
    """

    def __init__(
        self,
        ops: Operations,
        store: SlackStore,
        client: Any,
        *,
        clock: Callable[[], datetime],
        resume: Callable[[str], TurnResult | None],
    ) -> None:
        self.ops = ops
        self.store = store
        self.client = client
        self._clock = clock
        self._resume = resume

    def run(self, ask_id: str) -> None:
        """The turn of one ask (nothing when it is unknown or done already)."""
        ask = self.store.ask(ask_id)
        if ask is None or ask.done:
            return
        person = mapped_person(self.ops, ask.slack_user)
        if person is None:
            self._say(ask.place, UNMAPPED.format(user=ask.slack_user))
        elif ask.thread_id is None:
            self._start(ask, person)
        elif self._requests(ask.thread_id) > (ask.requests_before or 0):
            self._continue(ask, ask.thread_id)  # the message got in before the last worker stopped
        else:
            self._send(ask, person, ask.thread_id)
        self.store.finish_ask(ask.ask_id)

    def _start(self, ask: Ask, person: Person) -> None:
        thread = self.store.thread_for(ask.place, f"slack-{uuid.uuid4().hex[:12]}")
        owner = self.ops.thread_owner(thread)
        if owner is not None and owner != person.id:
            self.ops.refused(person.id, reason="not the thread's owner", thread=thread, channel="slack")
            self._say(
                ask.place,
                f"This conversation is {owner}'s. Mention me outside this thread to start your own.",
            )
            return
        wait = self._rate_limited(person.id)
        if wait is not None:
            allowed = self.ops.settings.send_rate_per_minute
            self._say(ask.place, f"At most {allowed} messages a minute: please try again in {wait} s.")
            return
        self.store.start_ask(ask.ask_id, thread_id=thread, requests_before=self._requests(thread))
        self._react(ask, WORKING_REACTION)
        self._send(ask, person, thread)

    def _send(self, ask: Ask, person: Person, thread: str) -> None:
        try:
            result = self.ops.send(ask.text, actor=person.id, thread=thread, channel="slack")
        except Exception as exc:  # the person hears why; the worker resumes what can be resumed
            log.warning("slack turn in %s failed: %s", thread, exc, exc_info=not _expected(exc))
            self._say(ask.place, failure_text(exc))
            return
        self._tell_if_paused(ask.place, result)
        self._react(ask, DONE_REACTION)

    def _continue(self, ask: Ask, thread: str) -> None:
        from agent.run.errors import ThreadNotWaiting, UnknownThread

        try:
            result = self._resume(thread)
        except (ThreadNotWaiting, UnknownThread):
            return  # it had finished: its answer is on the audit trail, for the poster
        if result is not None:  # None: the worker holding the thread continues it, and the poster says so
            self._tell_if_paused(ask.place, result)

    def _tell_if_paused(self, place: Place, result: TurnResult) -> None:
        """A turn that stopped for approvals has no answer on the audit trail yet: its steps are said
        here (the poster says an answer)."""
        if result.answer is not None:
            return
        cited = references(self.ops, result.thread_id, result.citations)
        needed = {request.id: request.status_reason for request in result.pending}
        steps = [step_line(call, needed) for call in result.calls]
        self.client.chat_postMessage(
            channel=place.channel, thread_ts=place.thread_ts, **cards.reply(None, cited, steps)
        )

    def _requests(self, thread: str) -> int:
        return len(self.ops.audit_events(thread=thread, kinds=[EventKind.REQUEST]))

    def _rate_limited(self, person: str) -> int | None:
        """Seconds to wait when ``person`` sent their minute's messages already (the limit of the API,
        counted on the audit trail: every channel, every process), else None."""
        allowed = self.ops.settings.send_rate_per_minute
        now = self._clock()
        oldest = self.ops.requests_since(person, now - _MINUTE, nth_newest=allowed)
        return None if oldest is None else max(1, math.ceil((oldest + _MINUTE - now).total_seconds()))

    def _say(self, place: Place, text: str) -> None:
        self.client.chat_postMessage(channel=place.channel, thread_ts=place.thread_ts, **cards.note(text))

    def _react(self, ask: Ask, name: str) -> None:
        if ask.message_ts is None:
            return
        try:
            self.client.reactions_add(channel=ask.place.channel, timestamp=ask.message_ts, name=name)
        except Exception as exc:  # a missing reaction is cosmetic: the answer still comes
            log.info("could not add :%s: in %s: %s", name, ask.place.channel, exc)


def references(ops: Operations, thread: str, cited: Iterable[str]) -> list[str]:
    """Citation ids as people read them: ``source — section (id)``."""
    known: dict[str, Mapping[str, Any]] = {}
    for event in ops.audit_events(thread=thread, kinds=[EventKind.RETRIEVAL]):
        for citation in event.payload.get("citations", []):
            known.setdefault(str(citation.get("id")), citation)
    lines = []
    for cid in cited:
        found = known.get(cid)
        where = " — ".join(str(found[k]) for k in ("source", "section") if found and found.get(k))
        lines.append(f"{where} ({cid})" if where else cid)
    return lines


def step_line(call: Any, still_needed: Mapping[str, str]) -> str:
    """One line per governance step of a turn (a ``CallOutcome``)."""
    tool = call.tool
    if call.status == "refused":
        return f"✗ {tool}: refused because {'; '.join(call.reasons) or 'the policy denies it'}"
    if call.status == "waiting":
        needed = still_needed.get(call.approval_id or "", "")
        return f"⏳ {tool}: waiting for approval ({call.approval_id}) — {needed or 'see the approval card'}"
    notified = f", after notifying {', '.join(call.notified)}" if call.notified else ""
    if call.status == "completed":
        approved = f" on approval {call.approval_id}" if call.approval_id else ""
        return f"✓ {tool}: ran ({call.tier}){notified}{approved}"
    if call.status == "failed":
        return f"✗ {tool}: failed{notified}"
    return f"• {tool}: {call.tier or 'not decided'}{notified}"


def failure_text(exc: Exception) -> str:
    from agent.run.errors import OpslayerError

    if isinstance(exc, OpslayerError):
        return f"I could not finish that: {exc}"
    return "Something went wrong on my side; it has been logged. Please try again in a moment."


def _expected(exc: Exception) -> bool:
    from agent.run.errors import OpslayerError

    return isinstance(exc, OpslayerError)
