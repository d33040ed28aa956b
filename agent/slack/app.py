"""The slack-bolt app (async): listeners for mentions, direct messages, ``/opslayer``, card buttons and
modals, and :class:`SlackFrontEnd`, which holds it with the store, the Web API client and the poster.

Over HTTP, :mod:`agent.slack.routes` verifies every request, deduplicates events by id, answers an
event at once and then hands it to :meth:`SlackFrontEnd.on_event`; over Socket Mode bolt's listeners
receive events and deduplicate them. Either way what was asked is only recorded and queued: a worker
runs the turn (in this process or another, see :mod:`agent.slack.conversation`) and the poster posts
its answer. Button clicks are acknowledged first and voted after; modal submissions vote before
answering, so a refusal shows in the modal. Bolt's own request verification is off: the routes do it,
with replay detection and audit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.web.async_client import AsyncWebClient

from agent.operations import Operations
from agent.run.errors import ConfigurationError
from agent.settings import Settings
from agent.slack import api_base_url, cards, modals
from agent.slack.clicks import Clicks
from agent.slack.conversation import UNMAPPED, mapped_person, without_mentions
from agent.slack.poster import Poster
from agent.slack.store import Ask, Place, SlackStore
from governance.work import SLACK_TURN

log = logging.getLogger("opslayer.slack")

COMMAND = "/opslayer"
STEP_UP_PATH = "/slack/step-up/"
_STEP_UP_LONGEST = timedelta(hours=24)


class SlackFrontEnd:
    """The Slack app over one :class:`Operations`. ``client`` replaces the Web API client the settings
    would build, ``clock`` the time (request windows, step-up links, deduplication)."""

    def __init__(
        self,
        settings: Settings,
        ops: Operations,
        *,
        client: AsyncWebClient | None = None,
        clock: Callable[[], datetime] | None = None,
        poll_s: float = 0.5,
    ) -> None:
        if settings.slack_bot_token is None:
            raise ConfigurationError("the Slack app needs OPSLAYER_SLACK_BOT_TOKEN")
        self.settings = settings
        self.ops = ops
        self.clock = clock or (lambda: datetime.now(UTC))
        self.client = client or AsyncWebClient(
            token=settings.slack_bot_token.get_secret_value(), base_url=api_base_url(settings)
        )
        self.store = SlackStore(ops.stores.engine, clock=self.clock)
        self.poster = Poster(
            ops,
            self.store,
            self.client,
            review_url=self.review_url,
            step_up_url=self.step_up_url,
            poll_s=poll_s,
        )
        self.clicks = Clicks(
            ops, self.client, voted=self.poster.wake, refresh=self.poster.refresh, review_url=self.review_url
        )
        self._authorized: AuthorizeResult | None = None
        self._authorizing = asyncio.Lock()
        self.bolt = AsyncApp(
            # Listeners use ``self.client``; bolt's own client gets its token from ``authorize``.
            client=AsyncWebClient(base_url=self.client.base_url),
            authorize=_authorize(self),
            signing_secret=None,
            request_verification_enabled=False,  # done before bolt, with replay detection and audit
            process_before_response=False,
            ssl_check_enabled=False,
        )
        self._tasks: set[asyncio.Task[Any]] = set()
        # One thread writes what acknowledging needs (admissions in the routes, then the asks): on
        # SQLite, threads of one process racing for the write lock wait in the busy handler's sleeps
        # (1, 2, 5, 10, 25 ms…), which made a burst's slowest acknowledgement several times slower.
        self.writes = ThreadPoolExecutor(max_workers=1, thread_name_prefix="slack-writes")
        self._stop = asyncio.Event()
        _listen(self)

    async def authorized(self) -> AuthorizeResult:
        """The bot's identity, asked of Slack once (``auth.test``), not once per concurrent request."""
        async with self._authorizing:
            if self._authorized is None:
                answer = await self.client.auth_test()
                self._authorized = AuthorizeResult.from_auth_test_response(
                    auth_test_response=answer, bot_token=self.client.token
                )
            return self._authorized

    # --- links --------------------------------------------------------------------------------------

    def review_url(self, approval_id: str) -> str | None:
        base = self.settings.public_url
        return None if base is None else f"{base.rstrip('/')}/approvals/{approval_id}"

    def step_up_url(self, approval_id: str, expires_at: datetime) -> str | None:
        """A new single-use link to the request on the review page (None without a public URL)."""
        base = self.settings.public_url
        if base is None:
            return None
        valid_for = min(expires_at - self.clock(), _STEP_UP_LONGEST)
        secret = self.store.issue_step_up(approval_id, valid_for=max(valid_for, timedelta(minutes=1)))
        return f"{base.rstrip('/')}{STEP_UP_PATH}{secret}"

    # --- background work ----------------------------------------------------------------------------

    def start(self) -> None:
        """Run the poster on the running event loop until :meth:`stop`; Web API calls share one HTTP
        session from now on (slack_sdk opens a session per call otherwise)."""
        self._stop.clear()
        if self.client.session is None or self.client.session.closed:
            self.client.session = aiohttp.ClientSession()
        self._spawn(self.poster.run(self._stop))

    async def stop(self) -> None:
        self._stop.set()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=10)
        if self.client.session is not None:
            await self.client.session.close()
            self.client.session = None

    async def idle(self, *, poll_s: float = 0.02) -> None:
        """Wait until what was asked and clicked so far is done and posted: the listeners and clicks of
        this process, the turns queued (run by a worker, here or elsewhere), and the poster caught up
        with the audit trail (tests, the bench)."""
        while True:
            await self._idle_listeners()
            if await asyncio.to_thread(self._settled):
                return
            self.poster.wake()
            await asyncio.sleep(poll_s)

    async def _idle_listeners(self) -> None:
        """Wait until the listeners and clicks started in this process so far are done."""
        while busy := [t for t in self._tasks if not t.done() and t.get_name() != "poster"]:
            await asyncio.wait(busy)

    def _settled(self) -> bool:
        return self.store.open_asks() == 0 and self.store.cursor() == self.ops.head().seq

    def queue_ask(self, ask: Ask) -> None:
        """Keep what was asked and queue its turn for a worker (once per ask, however often Slack sends
        it)."""
        if self.store.record_ask(ask):
            self.ops.queue(SLACK_TURN, ask.ask_id)

    def _spawn(self, work: Any, *, name: str = "poster") -> None:
        task = asyncio.ensure_future(work)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def in_background(self, work: Any) -> None:
        """Run ``work`` (a coroutine) after the request is acknowledged; its failure is logged."""

        async def logged() -> None:
            try:
                await work
            except Exception:
                log.exception("slack: background work failed")

        self._spawn(logged(), name="listener")

    # --- what the listeners do ----------------------------------------------------------------------

    async def on_event(self, body: Mapping[str, Any]) -> None:
        """An event callback the HTTP route verified and deduplicated: mentions and direct messages are
        asked of the agent, other events ignored (bolt's listeners do the same over Socket Mode)."""
        event = body.get("event")
        if not isinstance(event, Mapping):
            return
        kind = event.get("type")
        if kind == "app_mention" or (kind == "message" and event.get("channel_type") == "im"):
            await self.on_message(body, event, checked=True)

    async def on_message(self, body: Mapping[str, Any], event: Mapping[str, Any], *, checked: bool) -> None:
        """A mention or a direct message: once per event id, a turn in its Slack thread. ``checked``:
        the HTTP route deduplicated it already (Socket Mode has no such route)."""
        if event.get("bot_id") or event.get("subtype") or "user" not in event:
            return  # the app's own messages, edits, joins: nothing to answer
        event_id = str(body.get("event_id") or f"{event.get('channel')}:{event.get('ts')}")
        if not checked and not await asyncio.to_thread(self.store.first_delivery, event_id):
            return
        place = Place(channel=str(event["channel"]), thread_ts=str(event.get("thread_ts") or event["ts"]))
        ask = Ask(
            ask_id=event_id,
            slack_user=str(event["user"]),
            text=without_mentions(str(event.get("text", ""))),
            place=place,
            message_ts=str(event["ts"]),
        )
        await asyncio.get_running_loop().run_in_executor(self.writes, self.queue_ask, ask)

    async def on_command(self, body: Mapping[str, Any]) -> None:
        """``/opslayer …``: the request is posted in the channel and its thread becomes the conversation."""
        if not await asyncio.to_thread(self.store.first_delivery, f"command:{body.get('trigger_id')}"):
            return
        user, text, channel = str(body["user_id"]), str(body.get("text", "")).strip(), str(body["channel_id"])
        if await asyncio.to_thread(mapped_person, self.ops, user) is None:
            await self.client.chat_postEphemeral(
                channel=channel, user=user, **cards.note(UNMAPPED.format(user=user))
            )
            return
        if not text:
            await self.client.chat_postEphemeral(
                channel=channel, user=user, **cards.note(f"Usage: {COMMAND} what you need")
            )
            return
        root = await self.client.chat_postMessage(channel=channel, **cards.note(f"{COMMAND} {text}"))
        place = Place(channel=str(root["channel"]), thread_ts=str(root["ts"]))
        ask = Ask(
            ask_id=f"command:{body.get('trigger_id')}",
            slack_user=user,
            text=text,
            place=place,
            message_ts=None,
        )
        await asyncio.get_running_loop().run_in_executor(self.writes, self.queue_ask, ask)


def _authorize(front: SlackFrontEnd) -> Callable[[], Awaitable[AuthorizeResult]]:
    async def authorize() -> AuthorizeResult:  # bolt passes the arguments a function names: none here
        return await front.authorized()

    return authorize


def _listen(front: SlackFrontEnd) -> None:
    bolt = front.bolt

    # Events reach these listeners over Socket Mode; over HTTP the route hands them to ``on_event``.
    @bolt.event("app_mention")
    async def mention(body: dict[str, Any], event: dict[str, Any]) -> None:
        await front.on_message(body, event, checked=False)

    @bolt.event("message")
    async def direct(body: dict[str, Any], event: dict[str, Any]) -> None:
        if event.get("channel_type") == "im":
            await front.on_message(body, event, checked=False)

    @bolt.command(COMMAND)
    async def command(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await front.on_command(body)

    @bolt.action(cards.APPROVE)
    async def approve(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        await front.clicks.approve(body, str(action.get("value", "")))

    @bolt.action(cards.REJECT)
    async def reject(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        await front.clicks.open_reject(body, str(action.get("value", "")))

    @bolt.action(cards.EDIT)
    async def edit(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        await front.clicks.open_edit(body, str(action.get("value", "")))

    @bolt.action(cards.VETO)
    async def veto(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        await front.clicks.open_veto(body, str(action.get("value", "")))

    @bolt.action(cards.OPEN)
    async def open_review(ack: AsyncAck) -> None:
        await ack()  # a link button: Slack opens the link, and sends the click all the same

    @bolt.view(modals.REJECT_VIEW)
    async def rejected(ack: AsyncAck, body: dict[str, Any]) -> None:
        errors = await front.clicks.submit_reject(body)
        await (ack(response_action="errors", errors=errors) if errors else ack())

    @bolt.view(modals.VETO_VIEW)
    async def vetoed(ack: AsyncAck, body: dict[str, Any]) -> None:
        errors = await front.clicks.submit_veto(body)
        await (ack(response_action="errors", errors=errors) if errors else ack())

    @bolt.view(modals.EDIT_VIEW)
    async def edited(ack: AsyncAck, body: dict[str, Any]) -> None:
        errors = await front.clicks.submit_edit(body)
        await (ack(response_action="errors", errors=errors) if errors else ack())
