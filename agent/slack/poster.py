"""The poster: tells Slack what happened, from the audit trail, once per event, whichever process did it.

It tails the audit trail by ``seq`` from a cursor kept in the database, under a lease (one poster at a
time across processes; another takes over when a holder dies), and claims each event before posting
it, so no event is posted twice. What it posts:

- ``approval_requested`` → an approval card to each eligible approver by direct message and to the
  channels the rule names with ``notify`` (every card is stored, to be updated later); for a
  notify-tier call waiting out its veto window, a veto card (what will run, when, a Veto button) to the
  people ``veto_by`` names and everyone and every channel the rule's ``notify`` names: it is that
  window's announcement in Slack;
- ``approval_vote`` (accepted) and ``approval_final`` → every card of the request updated for everyone
  with its state read afresh (who approved so far; the outcome and who decided);
- ``approval_final`` of a thread started in Slack → the requester's thread is told (approved, rejected
  with the reason, expired);
- ``response`` of a Slack thread → the answer posted in the thread with its references and one line
  per governance step, whether the turn was asked there or continued after an approval or an error.

A card is a view of a durable approval, never the approval itself: it is rendered from the store each
time, so updates converge whatever order they arrive in.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from agent.operations import Operations
from agent.run.notifier import recipients
from agent.run.session import TurnResult
from agent.slack import cards
from agent.slack.conversation import references, step_line
from agent.slack.store import Card, Place, SlackStore
from governance.approvals import ApprovalRequest
from governance.audit import AuditEvent, EventKind

log = logging.getLogger("opslayer.slack")

KINDS = (EventKind.APPROVAL_REQUESTED, EventKind.APPROVAL_VOTE, EventKind.APPROVAL_FINAL, EventKind.RESPONSE)
_PAGE = 100


class Poster:
    """Posts the audit trail's news to Slack (see the module docstring). ``review_url`` and
    ``step_up_url`` make the links of a card (None: no link)."""

    def __init__(
        self,
        ops: Operations,
        store: SlackStore,
        client: Any,
        *,
        review_url: Callable[[str], str | None],
        step_up_url: Callable[[str, datetime], str | None],
        poll_s: float = 0.5,
        lease_for: timedelta = timedelta(seconds=30),
    ) -> None:
        self.ops = ops
        self.store = store
        self.client = client
        self._review_url = review_url
        self._step_up_url = step_up_url
        self._poll_s = poll_s
        self._lease_for = lease_for
        self.holder = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def wake(self) -> None:
        """Look at the trail now rather than at the next poll (callable from any thread)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            while not stop.is_set():
                try:
                    posted = await self.sweep()
                except Exception:  # Slack or the database went away: keep trying
                    log.exception("slack poster %s: sweep failed", self.holder)
                    posted = 0
                if not posted:
                    await self._pause(stop)
        finally:
            await asyncio.to_thread(self.store.release_cursor, self.holder)

    async def _pause(self, stop: asyncio.Event) -> None:
        waits = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
        await asyncio.wait(waits, timeout=self._poll_s, return_when=asyncio.FIRST_COMPLETED)
        for waiting in waits:
            waiting.cancel()
        self._wake.clear()

    async def sweep(self) -> int:
        """Post what happened since the cursor (if this poster holds the lease); how many events it read."""
        head = await asyncio.to_thread(self.ops.head)
        if await asyncio.to_thread(self.store.cursor) == head.seq:
            return 0  # nothing new: an idle poll writes nothing (SQLite has one writer)
        after = await asyncio.to_thread(
            self.store.lease_cursor, self.holder, start_at=head.seq, lease_for=self._lease_for
        )
        if after is None:
            return 0
        page = await asyncio.to_thread(self.ops.audit_query, kinds=list(KINDS), after_seq=after, limit=_PAGE)
        for event in page.events:
            if await asyncio.to_thread(self.store.claim_event, event.seq):
                try:
                    await self.post(event)
                except Exception:  # one event Slack refused must not hold up the others
                    log.exception("slack poster: could not post %s event %s", event.kind, event.seq)
            if not await asyncio.to_thread(self.store.advance_cursor, self.holder, event.seq):
                return 0  # the lease went to another poster
        last = page.events[-1].seq if page.events else after
        if page.next_seq is None and head.seq > last:  # the events after it up to the head concern no one
            await asyncio.to_thread(self.store.advance_cursor, self.holder, head.seq)
        return len(page.events)

    async def post(self, event: AuditEvent) -> None:
        if event.kind == EventKind.APPROVAL_REQUESTED:
            await self._cards_for(str(event.payload.get("request_id")))
        elif event.kind == EventKind.APPROVAL_VOTE and event.payload.get("accepted"):
            await self._update_cards(str(event.payload.get("request_id")), final=False)
        elif event.kind == EventKind.APPROVAL_FINAL:
            request_id = str(event.payload.get("request_id"))
            await self._update_cards(request_id, final=True)
            await self._tell_requester(request_id)
        elif event.kind == EventKind.RESPONSE and event.thread_id is not None:
            await self._answer(event)

    # --- cards --------------------------------------------------------------------------------------

    async def _cards_for(self, request_id: str) -> None:
        view = await asyncio.to_thread(self.ops.approval, request_id)
        request = view.request
        if request.final:
            return
        for channel, recipient in await asyncio.to_thread(self._destinations, request):
            facts = await asyncio.to_thread(self._facts, request, view.request_text, fresh_link=True)
            card_of = cards.veto_card if request.veto_window else cards.approval_card
            try:
                posted = await self.client.chat_postMessage(channel=channel, **card_of(request, facts))
            except Exception:  # one unreachable approver must not keep the card from the others
                log.exception("slack poster: the card of %s could not go to %s", request.id, channel)
                continue
            card = Card(
                approval_id=request.id,
                channel=str(posted["channel"]),
                ts=str(posted["ts"]),
                recipient=recipient,
            )
            await asyncio.to_thread(self.store.add_card, card)

    async def refresh(self, request_id: str) -> None:
        """Redraw every card of the request from the store now (a click found its card out of date)."""
        await self._update_cards(request_id, final=True)

    def _destinations(self, request: ApprovalRequest) -> list[tuple[str, str | None]]:
        """(channel, person) for each card: eligible approvers by DM, then the channels the rule names."""
        directory = self.ops.governance.directory
        roles = {role for requirement in request.requirements for role in requirement.roles}
        people = sorted(
            {
                p.id: p
                for role in roles
                for p in directory.people_with_role(role)
                if p.id != request.requester
            }.values(),
            key=lambda p: p.id,
        )
        if request.veto_window:  # the window's announcement: to everyone the rule notifies, too
            told = {p.id for p in people}
            people += [
                directory.people[person]
                for person in recipients(request.notify, directory)
                if person in directory.people and person not in told and person != request.requester
            ]
        found: list[tuple[str, str | None]] = [(p.slack_user_id, p.id) for p in people if p.slack_user_id]
        found += [(target, None) for target in request.notify if target.startswith("#")]
        return found

    async def _update_cards(self, request_id: str, *, final: bool) -> None:
        """Render every card of the request afresh. For a vote (``final`` False) on a request decided
        since, nothing: its final event shows the outcome, once."""
        view = await asyncio.to_thread(self.ops.approval, request_id)
        request = view.request
        if request.final and not final:
            return
        for card in await asyncio.to_thread(self.store.cards, request_id):
            facts = await asyncio.to_thread(self._facts, request, view.request_text, fresh_link=False)
            if request.final:
                content = cards.outcome_card(request, facts)
            elif facts.step_up:
                continue  # its single-use link must not be replaced by a new one on every vote
            else:
                content = cards.progress_card(request, facts)
            try:
                await self.client.chat_update(channel=card.channel, ts=card.ts, **content)
            except Exception:  # a deleted message, say: the other cards are still updated
                log.exception("slack poster: card %s in %s could not be updated", card.ts, card.channel)

    def _facts(
        self, request: ApprovalRequest, request_text: str | None, *, fresh_link: bool
    ) -> cards.CardFacts:
        step_up = self.ops.needs_step_up(request)
        try:
            name = self.ops.person(request.requester).display_name
        except KeyError:
            name = request.requester
        return cards.CardFacts(
            request_text=request_text,
            requester_name=name,
            review_url=self._review_url(request.id),
            step_up_url=self._step_up_url(request.id, request.expires_at) if step_up and fresh_link else None,
            step_up=step_up,
        )

    # --- the requester's thread ---------------------------------------------------------------------

    async def _tell_requester(self, request_id: str) -> None:
        request = (await asyncio.to_thread(self.ops.approval, request_id)).request
        place = await asyncio.to_thread(self.store.place_of, request.thread_id)
        if place is None:
            return
        words = cards.tool_in_words(request.tool)
        await self._say(place, cards.note(f"{words} ({request.id}): {cards.decided(request)}"))

    async def _answer(self, event: AuditEvent) -> None:
        thread = str(event.thread_id)
        place = await asyncio.to_thread(self.store.place_of, thread)
        if place is None:
            return  # a thread started elsewhere (the API, the CLI)
        turn = await asyncio.to_thread(self._turn_ending, event)
        cited = await asyncio.to_thread(references, self.ops, thread, turn.citations)
        still_needed = await asyncio.to_thread(self._still_needed, turn)
        steps = [step_line(call, still_needed) for call in turn.calls]
        await self._say(place, cards.reply(turn.answer, cited, steps))

    def _turn_ending(self, response: AuditEvent) -> TurnResult:
        """The turn that ended in ``response``: its events since the request, the approval or the error
        that began it."""
        thread = str(response.thread_id)
        kinds = [EventKind.REQUEST, EventKind.APPROVAL_FINAL, EventKind.ERROR, EventKind.RESPONSE]
        since = max(
            (e.seq for e in self.ops.audit_events(thread=thread, kinds=kinds) if e.seq < response.seq),
            default=0,
        )
        events = self._events_between(thread, since, response.seq)
        return TurnResult(thread_id=thread, answer=str(response.payload.get("text") or ""), events=events)

    def _still_needed(self, turn: TurnResult) -> dict[str, str]:
        """What each approval the turn waits for still needs, read now."""
        waiting = {call.approval_id for call in turn.calls if call.status == "waiting" and call.approval_id}
        return {request_id: self.ops.approval(request_id).request.status_reason for request_id in waiting}

    def _events_between(self, thread: str, after: int, until: int) -> list[AuditEvent]:
        return [e for e in self.ops.audit_events(thread=thread) if after < e.seq <= until]

    async def _say(self, place: Place, content: dict[str, Any]) -> None:
        await self.client.chat_postMessage(channel=place.channel, thread_ts=place.thread_ts, **content)
