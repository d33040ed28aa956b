"""The ``Idempotency-Key`` header of the sends (``POST /v1/threads``, ``POST /v1/threads/{id}/messages``),
as draft-ietf-httpapi-idempotency-key-header and Stripe use it: a client that sends a request again (after
a timeout, a dropped connection) with the same key gets the first request's answer, not a second turn.

- The key: 1 to :data:`MAX_KEY` printable ASCII characters, bare or as a structured-field string
  (``"abc"`` is the key ``abc``); it belongs to the caller, so two people's keys never meet.
- The first request claims the key in the governance database (:mod:`governance.idempotency`) with a
  fingerprint of the request (the operation, thread id included, and the message) and the thread it runs
  on (a new thread's id is chosen first), runs the turn, and keeps its answer: the status and body it
  returned, the turn's result or the problem it ended in.
- A retry of the same request gets that answer again with ``Idempotent-Replayed: true``, running nothing.
- A turn refused before it ran anything (the thread busy, the send rate) gives the key back, so it may be
  sent again; any other outcome is kept, since the message may be in the thread already.

Sends without the header never touch the keys' table.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Header
from fastapi.responses import Response

from agent.api.models import turn_out
from agent.api.problems import PROBLEM_JSON, Invalid, problem_body
from agent.run.errors import ThreadError
from governance.canonical import digest
from governance.directory import UnknownPerson
from governance.idempotency import Answer, Claim, IdempotencyKeys

if TYPE_CHECKING:
    from agent.run.session import TurnResult

HEADER = "Idempotency-Key"
MAX_KEY = 255
REPLAYED = {"Idempotent-Replayed": "true"}
"""The header of an answer given again for a retry."""

_MEANING = (
    f"Makes the send safe to retry: 1 to {MAX_KEY} printable ASCII characters, bare or in double quotes "
    "(a UUID, say), new for each new message. A retry with the same key gets the first answer again "
    "(`Idempotent-Replayed: true`) instead of running the turn twice; the key on a different request is a "
    "422, while the first request still runs a 409 with `Retry-After`. Keys are yours alone and kept for "
    "OPSLAYER_IDEMPOTENCY_RETENTION_HOURS."
)
# A turn refused before it ran anything: the key is given back, so the same send may be tried again.
_REFUSED = (ThreadError, UnknownPerson)


async def _key(
    value: Annotated[str | None, Header(alias=HEADER, description=_MEANING)] = None,
) -> str | None:
    """The key of the header, without the quotes of a structured-field string; 422 naming the header
    for anything else. Async, so reading it costs no hop to the thread pool (every send pays for it)."""
    if value is None:
        return None
    key = value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    if 1 <= len(key) <= MAX_KEY and key.isascii() and key.isprintable():
        return key
    msg = f"must be 1 to {MAX_KEY} printable ASCII characters, bare or in double quotes"
    raise Invalid(
        f"invalid input at header.{HEADER}: {msg}", errors=[{"loc": ["header", HEADER], "msg": msg}]
    )


IdempotencyKey = Annotated[str | None, Depends(_key)]
"""The ``Idempotency-Key`` of a send (None without one), declared in the OpenAPI document."""


def fingerprint(operation: str, message: str) -> str:
    """What makes two sends the same request: the operation (its path, the thread id in it) and the text."""
    return digest({"operation": operation, "message": message})


class Keyed:
    """A send holding its key's claim: keeps what the send answers, or gives the key back."""

    def __init__(self, keys: IdempotencyKeys, claim: Claim, *, thread: str | None, operation: str) -> None:
        self._keys = keys
        self._claim = claim
        self._status = 201 if thread is None else 200  # as the JSON answers of the two sends
        self._operation = operation
        self.thread_id = claim.thread_id
        """The thread the send runs on (for a new thread, the id chosen for it before it runs)."""
        self.new_thread_id = claim.thread_id if thread is None else None
        """What ``Operations.send`` is to name the new thread, None for a send to an existing one."""

    def answer(self, send: Callable[[], TurnResult]) -> Answer:
        """Run ``send`` and keep its answer: the turn's result, or the problem it ended in. A send refused
        before it ran anything gives the key back and raises, answered as it would be without a key."""
        try:
            result = send()
        except _REFUSED:
            self._keys.release(self._claim)
            raise
        except Exception as exc:
            body = {**problem_body(exc, instance=self._operation), "thread_id": self.thread_id}
            return self._keep(int(body["status"]), json.dumps(body, ensure_ascii=False))
        return self._keep(self._status, turn_out(result).model_dump_json())

    def refused(self) -> None:
        """The send was refused before it ran (the rate limit): give the key back."""
        self._keys.release(self._claim)

    def _keep(self, status: int, body: str) -> Answer:
        self._keys.finish(self._claim, status=status, body=body)
        return Answer(status=status, body=body, thread_id=self.thread_id)


def response(answer: Answer, *, replayed: bool) -> Response:
    """The answer as JSON (a problem document for an error), marked when it is given again."""
    media_type = PROBLEM_JSON if answer.status >= 400 else "application/json"
    headers = REPLAYED if replayed else None
    return Response(answer.body, status_code=answer.status, media_type=media_type, headers=headers)
