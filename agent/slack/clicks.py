"""Clicks on approval cards: votes through the operations service, refusals told ephemerally.

A click names an approval id and the args digest of the arguments its card showed, and nothing else
that counts. The digest goes with the vote (``seen_digest``): if an edit replaced the arguments since
the card was drawn, the vote is refused, the request's cards are redrawn with the current arguments,
and the clicker is told to read them again. A card posted before buttons carried a digest votes
without one, as it always did. The voter is the Slack user of the verified
request, mapped through the directory; the operations service applies the same checks as everywhere
(role, not the requester, once per person, digest, expiry). A step-up request is never decided here:
its card has no Approve button, and a forged approve click is refused all the same.

A veto (a notify-tier call waiting out its veto window) opens a modal asking why, for the people the
rule's ``veto_by`` names only; a click by anyone else, or once the window is over, is answered
ephemerally with the reason and changes nothing (it is audited as ``access_denied``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agent.operations import Operations
from agent.operations.oversight import OversightInvalid
from agent.slack import cards, modals
from agent.slack.conversation import mapped_person
from governance.approvals import ApprovalError, ApprovalRequest, ArgumentsChanged
from tools.errors import InvalidArguments

log = logging.getLogger("opslayer.slack")

_GENERAL = "general"  # the modal block errors that concern no one field go to (the first input)


@dataclass(frozen=True, kw_only=True)
class Refusal:
    """Why a vote was not recorded, for the person who cast it. ``changed``: the arguments are no
    longer the ones they were shown (the cards are redrawn before they are told)."""

    text: str
    changed: bool = False


def changed_since_shown(approval_id: str) -> Refusal:
    return Refusal(
        text=f"Not recorded: the arguments of {approval_id} changed since this card showed them (someone "
        "edited them). The card now shows the current arguments: read them again before you decide.",
        changed=True,
    )


class Clicks:
    """Turns card clicks and modal submissions into votes; ``client`` is an AsyncWebClient, ``voted``
    is called after every accepted vote (the poster wakes up to update the cards), ``refresh`` redraws
    every card of a request from the store, and ``review_url`` links a request on the review page."""

    def __init__(
        self,
        ops: Operations,
        client: Any,
        *,
        voted: Callable[[], None],
        refresh: Callable[[str], Awaitable[None]],
        review_url: Callable[[str], str | None],
    ) -> None:
        self.ops = ops
        self.client = client
        self._voted = voted
        self._refresh = refresh
        self._review_url = review_url

    # --- buttons: ``value`` is the button's (cards.button_value) ------------------------------------

    async def approve(self, body: Mapping[str, Any], value: str) -> None:
        approval_id, seen = cards.read_value(value)
        refusal = await asyncio.to_thread(self.vote, _user(body), approval_id, approve=True, seen_digest=seen)
        await self._refused(body, approval_id, refusal)

    async def open_reject(self, body: Mapping[str, Any], value: str) -> None:
        approval_id, seen = cards.read_value(value)
        request = await self._shown_request(body, approval_id, seen)
        if request is None:
            return
        view = modals.reject_modal(approval_id, cards.tool_in_words(request.tool), _channel(body), seen)
        await self.client.views_open(trigger_id=body["trigger_id"], view=view)

    async def open_edit(self, body: Mapping[str, Any], value: str) -> None:
        approval_id, seen = cards.read_value(value)
        request = await self._shown_request(body, approval_id, seen)
        if request is None:
            return
        schema = await asyncio.to_thread(self._schema, request.tool)
        view = modals.edit_modal(
            approval_id,
            cards.tool_in_words(request.tool),
            schema,
            request.args,
            channel=_channel(body),
            digest=request.args_digest,  # what the modal is filled with: its edit replaces these
            review_url=self._review_url(approval_id),
        )
        await self.client.views_open(trigger_id=body["trigger_id"], view=view)

    async def _shown_request(
        self, body: Mapping[str, Any], approval_id: str, seen: str | None
    ) -> ApprovalRequest | None:
        """The request a card's button opens a modal for; None (the clicker told why) when there is
        none, or when its arguments are no longer the ones the card showed (the cards redrawn first):
        deciding in a modal would be refused anyway."""
        request = await asyncio.to_thread(self._request, approval_id)
        if request is None:
            await self._tell(body, f"There is no approval request {approval_id}.")
            return None
        if seen is not None and seen != request.args_digest:
            await self._refused(body, approval_id, changed_since_shown(approval_id))
            return None
        return request

    async def open_veto(self, body: Mapping[str, Any], value: str) -> None:
        """The Veto button: the reason modal, or (not entitled, window over) an ephemeral refusal."""
        approval_id, _ = cards.read_value(value)
        refusal = await asyncio.to_thread(self.veto_refusal, _user(body), approval_id)
        if refusal is not None:
            await self._tell(body, refusal)
            return
        request = await asyncio.to_thread(self._request, approval_id)
        assert request is not None  # veto_refusal found it
        view = modals.veto_modal(approval_id, cards.tool_in_words(request.tool), _channel(body))
        await self.client.views_open(trigger_id=body["trigger_id"], view=view)

    # --- modal submissions: answered in the modal (errors) before Slack's 3 s are up -----------------

    async def submit_veto(self, body: Mapping[str, Any]) -> dict[str, str]:
        """The errors to show in the modal (empty: the veto was recorded)."""
        approval_id = modals.read_metadata(body["view"]).approval_id
        reason = modals.reason_of(body["view"])
        if not reason:
            return {modals.REASON_BLOCK: "Say why: the requester and the agent are told the reason."}
        refusal = await asyncio.to_thread(self.veto, _user(body), approval_id, reason)
        return {} if refusal is None else {modals.REASON_BLOCK: refusal}

    async def submit_reject(self, body: Mapping[str, Any]) -> dict[str, str]:
        """The errors to show in the modal (empty: the rejection was recorded)."""
        opened = modals.read_metadata(body["view"])
        reason = modals.reason_of(body["view"])
        if not reason:
            return {modals.REASON_BLOCK: "Say why: the requester and the agent are told the reason."}
        refusal = await asyncio.to_thread(
            self.vote,
            _user(body),
            opened.approval_id,
            approve=False,
            reason=reason,
            seen_digest=opened.digest,
        )
        return await self._in_modal(opened.approval_id, refusal, block=modals.REASON_BLOCK)

    async def submit_edit(self, body: Mapping[str, Any]) -> dict[str, str]:
        opened = modals.read_metadata(body["view"])
        request = await asyncio.to_thread(self._request, opened.approval_id)
        if request is None:
            return {}
        schema = await asyncio.to_thread(self._schema, request.tool)
        args, errors = modals.edited_args(body["view"], schema, request.args)
        inputs = modals.input_blocks(body["view"])
        first = inputs[0] if inputs else _GENERAL
        if errors:
            return errors
        try:
            refusal = await asyncio.to_thread(
                self.vote,
                _user(body),
                opened.approval_id,
                approve=True,
                edited=args,
                seen_digest=opened.digest,
            )
        except InvalidArguments as invalid:
            return modals.problems_by_field(invalid.problems, fields=inputs, other=first)
        return await self._in_modal(opened.approval_id, refusal, block=first)

    async def _in_modal(self, approval_id: str, refusal: Refusal | None, *, block: str) -> dict[str, str]:
        """A modal's answer: no errors when the vote was recorded, else the refusal under ``block``
        (the cards redrawn first when the arguments changed)."""
        if refusal is None:
            return {}
        if refusal.changed:
            await self._refresh(approval_id)
        return {block: refusal.text}

    # --- the vote -----------------------------------------------------------------------------------

    def vote(
        self,
        slack_user: str,
        approval_id: str,
        *,
        approve: bool,
        reason: str | None = None,
        edited: Mapping[str, Any] | None = None,
        seen_digest: str | None = None,
    ) -> Refusal | None:
        """Vote as the person ``slack_user`` maps to, on the arguments of ``seen_digest`` (None: not
        given); None when accepted, else why not (for them)."""
        person = mapped_person(self.ops, slack_user)
        if person is None:
            return Refusal(
                text="Your Slack account is not in opslayer's directory, so you cannot decide approvals."
            )
        request = self._request(approval_id)
        if request is None:
            return Refusal(text=f"There is no approval request {approval_id}.")
        try:
            self.ops.vote(
                approval_id,
                voter=person.id,
                approve=approve,
                channel="slack",
                reason=reason,
                edited_args=edited,
                seen_digest=seen_digest,
            )
        except ArgumentsChanged:
            return changed_since_shown(request.id)
        except ApprovalError as refused:
            return Refusal(text=f"Not recorded: {refused}")
        self._voted()
        return None

    def veto(self, slack_user: str, approval_id: str, reason: str) -> str | None:
        """Veto as the person ``slack_user`` maps to; None when recorded, else why not (for them)."""
        refusal = self.veto_refusal(slack_user, approval_id)
        if refusal is not None:
            return refusal
        person = mapped_person(self.ops, slack_user)
        assert person is not None  # veto_refusal mapped them
        try:
            self.ops.oversight.veto(approval_id, voter=person.id, reason=reason, channel="slack")
        except (ApprovalError, OversightInvalid) as refused:
            return f"Not recorded: {refused}"
        self._voted()
        return None

    def veto_refusal(self, slack_user: str, approval_id: str) -> str | None:
        """Why this person may not veto this request now (None: they may). A mapped person's refusal
        is audited; nothing else changes."""
        person = mapped_person(self.ops, slack_user)
        if person is None:
            return "Your Slack account is not in opslayer's directory, so you cannot veto."
        request = self._request(approval_id)
        if request is None:
            return f"There is no approval request {approval_id}."
        why = _veto_refused(request, person.id, person.roles, self.ops.now())
        if why is not None:
            self.ops.refused(person.id, reason=why, approval_id=approval_id, channel="slack", action="veto")
            return f"Not recorded: {why}."
        return None

    def _request(self, approval_id: str) -> ApprovalRequest | None:
        try:
            return self.ops.approval(approval_id).request
        except ApprovalError:
            return None

    def _schema(self, tool: str) -> dict[str, Any]:
        return dict(self.ops.governance.registry.get(tool).args_model.model_json_schema())

    async def _refused(self, body: Mapping[str, Any], approval_id: str, refusal: Refusal | None) -> None:
        """A refused click told to the clicker; when the arguments changed, after the cards show the
        current ones (so what the message says is true when it is read)."""
        if refusal is None:
            return
        if refusal.changed:
            await self._refresh(approval_id)
        await self._tell(body, refusal.text)

    async def _tell(self, body: Mapping[str, Any], refusal: str | None) -> None:
        """A refused click: an ephemeral message to the clicker, in the card's channel."""
        if refusal is None:
            return
        channel = _channel(body)
        if channel is None:
            log.info("slack: a refused click had no channel to answer in: %s", refusal)
            return
        await self.client.chat_postEphemeral(channel=channel, user=_user(body), **cards.note(refusal))


def _veto_refused(request: ApprovalRequest, person: str, roles: frozenset[str], now: datetime) -> str | None:
    if not request.veto_window:
        return f"{request.id} is not waiting out a veto window"
    if request.final:
        return f"the veto window of {request.id} is over: {cards.decided(request).rstrip('.')}"
    if now >= request.expires_at:
        return f"the veto window of {request.id} ended at {request.expires_at:%H:%M} UTC: it runs"
    if person == request.requester:
        return f"{person} asked for this call and cannot veto it"
    entitled = {role for requirement in request.requirements for role in requirement.roles}
    if entitled.isdisjoint(roles):
        return f"only people holding {' or '.join(sorted(entitled))} may veto {request.id}"
    return None


def _user(body: Mapping[str, Any]) -> str:
    return str(body["user"]["id"])


def _channel(body: Mapping[str, Any]) -> str | None:
    channel = body.get("channel") or body.get("container") or {}
    found = channel.get("id") or channel.get("channel_id")
    return None if found is None else str(found)
