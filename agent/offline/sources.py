"""Cited answers for the offline planner from the grounding passages in the conversation."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

_BLOCK = re.compile(
    r'<<<BEGIN SOURCE id=(?P<id>\S+) title="(?P<title>[^"]*)" section="(?P<section>[^"]*)">>>\n'
    r"(?P<text>.*?)\n<<<END SOURCE",
    re.S,
)
_EXCERPT_CHARS = 420


@dataclass(frozen=True, kw_only=True)
class Source:
    id: str
    title: str
    section: str
    text: str


def sources_for_request(messages: Sequence[BaseMessage]) -> list[Source]:
    """Passages retrieved for the latest human message, one (the best) per document, in rank order."""
    starts = [i for i, message in enumerate(messages) if isinstance(message, HumanMessage)]
    since = messages[starts[-1] :] if starts else messages
    found: dict[str, Source] = {}
    for message in since:
        if isinstance(message, SystemMessage):
            for match in _BLOCK.finditer(str(message.content)):
                source = Source(**match.groupdict())
                found.setdefault(source.title, source)
    return list(found.values())


def guidance(sources: list[Source]) -> str:
    """An answer that points to what the runbooks say, quoting and citing them."""
    lines = ["Here is what our runbooks and past incidents say (offline planner: no LLM is configured):"]
    for source in sources[:3]:
        excerpt = " ".join(source.text.split())
        if len(excerpt) > _EXCERPT_CHARS:
            excerpt = excerpt[:_EXCERPT_CHARS].rsplit(" ", 1)[0] + " …"
        where = f" — {source.section}" if source.section.strip() else ""
        lines.append(f"- {source.title}{where} [{source.id}]: {excerpt}")
    lines.append("Set OPENAI_API_KEY for a plan that acts on this.")
    return "\n".join(lines)


def related(sources: list[Source]) -> str:
    """A closing line citing the most relevant documents."""
    cited = "; ".join(f"{source.title} [{source.id}]" for source in sources[:2])
    return f"\n\nRelated: {cited}"
