"""A scripted OpenAI-compatible endpoint for the judge and the user simulator (respx: no network).

Each :class:`Endpoint` answers ``POST <base_url>/chat/completions`` with queued texts, then with
``then`` (if set), and records every request body. A request beyond the script answers 400 (the
openai client does not retry it) and sets ``overrun``.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any

import httpx
import respx

from tests.agent.graph_support import answer


class Endpoint:
    def __init__(self, router: respx.MockRouter, base_url: str, *texts: str, then: str | None = None) -> None:
        self.base_url = base_url
        self.replies: deque[str] = deque(texts)
        self.then = then
        self.requests: list[dict[str, Any]] = []
        self.overrun = False
        router.post(f"{base_url}/chat/completions").mock(side_effect=self._reply)

    def _reply(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(json.loads(request.content))
        text = self.replies.popleft() if self.replies else self.then
        if text is None:
            self.overrun = True
            return httpx.Response(400, json={"error": {"message": "not scripted"}})
        return httpx.Response(200, json=answer(text))

    def prompt(self, request: int = -1) -> str:
        """All message texts of one recorded request, joined."""
        return "\n".join(str(m.get("content")) for m in self.requests[request]["messages"])
