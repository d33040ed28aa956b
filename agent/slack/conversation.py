"""A turn asked for in Slack: who is asking, which agent thread, and the reply in the Slack thread.

The person always comes from the verified request's user id and the directory (``slack_user_id``); an
unmapped user is told so, politely, and nothing runs. Only the person who started an agent thread
continues it: a colleague answering in the Slack thread is asked to start their own.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from agent.operations import Operations
from agent.slack import cards
from agent.slack.store import Place, SlackStore
from governance.audit import EventKind
from governance.directory import Person, UnknownPerson

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
    """Runs turns asked for in Slack and replies in their threads; ``client`` is an AsyncWebClient."""

    def __init__(
        self,
        ops: Operations,
        store: SlackStore,
        client: Any,
        *,
        clock: Callable[[], datetime],
        turns_at_once: int = 2,
    ) -> None:
        self.ops = ops
        self.store = store
        self.client = client
        self._clock = clock
        # Turns run in their own threads: the short database calls that acknowledge requests (on the
        # default executor) never queue behind them.
        self._turns = ThreadPoolExecutor(max_workers=turns_at_once, thread_name_prefix="slack-turn")

    def close(self) -> None:
        """Stop taking turns; a turn running finishes in its thread."""
        self._turns.shutdown(wait=False, cancel_futures=True)

    async def ask(self, *, slack_user: str, text: str, place: Place, message_ts: str | None) -> str | None:
        """Run one turn for ``slack_user`` in the Slack thread ``place``; the agent thread id, or None when
        nothing ran. ``message_ts``: the message to react to while working."""
        person = await asyncio.to_thread(mapped_person, self.ops, slack_user)
        if person is None:
            await self._say(place, UNMAPPED.format(user=slack_user))
            return None
        thread = await asyncio.to_thread(self.store.thread_for, place, f"slack-{uuid.uuid4().hex[:12]}")
        owner = await asyncio.to_thread(self.ops.thread_owner, thread)
        if owner is not None and owner != person.id:
            await asyncio.to_thread(
                self.ops.refused, person.id, reason="not the thread's owner", thread=thread, channel="slack"
            )
            await self._say(
                place, f"This conversation is {owner}'s. Mention me outside this thread to start your own."
            )
            return None
        wait = await asyncio.to_thread(self._rate_limited, person.id)
        if wait is not None:
            allowed = self.ops.settings.send_rate_per_minute
            await self._say(place, f"At most {allowed} messages a minute: please try again in {wait} s.")
            return None
        await self._react(place, message_ts, WORKING_REACTION)
        try:
            send = functools.partial(self.ops.send, text, actor=person.id, thread=thread, channel="slack")
            result = await asyncio.get_running_loop().run_in_executor(self._turns, send)
        except Exception as exc:  # the person hears why; the worker resumes what can be resumed
            log.warning("slack turn in %s failed: %s", thread, exc, exc_info=not _expected(exc))
            await self._say(place, failure_text(exc))
            return thread
        answer = result.answer
        references = await asyncio.to_thread(self.references, thread, result.citations)
        steps = [step_line(call, self._still_needed(result.pending)) for call in result.calls]
        await self._post(place, cards.reply(answer, references, steps))
        await self._react(place, message_ts, DONE_REACTION)
        return thread

    def _rate_limited(self, person: str) -> int | None:
        """Seconds to wait when ``person`` sent their minute's messages already (the limit of the API,
        counted on the audit trail: every channel, every process), else None."""
        allowed = self.ops.settings.send_rate_per_minute
        now = self._clock()
        oldest = self.ops.requests_since(person, now - _MINUTE, nth_newest=allowed)
        return None if oldest is None else max(1, math.ceil((oldest + _MINUTE - now).total_seconds()))

    def references(self, thread: str, cited: Iterable[str]) -> list[str]:
        """Citation ids as people read them: ``source — section (id)``."""
        known: dict[str, Mapping[str, Any]] = {}
        for event in self.ops.audit_events(thread=thread, kinds=[EventKind.RETRIEVAL]):
            for citation in event.payload.get("citations", []):
                known.setdefault(str(citation.get("id")), citation)
        lines = []
        for cid in cited:
            found = known.get(cid)
            where = " — ".join(str(found[k]) for k in ("source", "section") if found and found.get(k))
            lines.append(f"{where} ({cid})" if where else cid)
        return lines

    @staticmethod
    def _still_needed(pending: Iterable[Any]) -> dict[str, str]:
        return {request.id: request.status_reason for request in pending}

    async def _say(self, place: Place, text: str) -> None:
        await self._post(place, cards.note(text))

    async def _post(self, place: Place, content: Mapping[str, Any]) -> None:
        await self.client.chat_postMessage(channel=place.channel, thread_ts=place.thread_ts, **content)

    async def _react(self, place: Place, ts: str | None, name: str) -> None:
        if ts is None:
            return
        try:
            await self.client.reactions_add(channel=place.channel, timestamp=ts, name=name)
        except Exception as exc:  # a missing reaction is cosmetic: the reply still comes
            log.info("could not add :%s: in %s: %s", name, place.channel, exc)


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
