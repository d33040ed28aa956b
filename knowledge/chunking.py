"""Cutting documents into passages: Markdown by headings, plain text by paragraphs.

Markdown: every chunk keeps its heading path (``"Diagnosis > Check the pool"``, the document's H1 title
left out) and a GitHub-style anchor; fenced code blocks are never split (one longer than the cap stays
whole); a section longer than ``max_chars`` is split on paragraph boundaries; consecutive sections
shorter than ``min_chars`` are merged with the next ones (up to the cap), so headings with one line
under them do not become passages of their own.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace

from knowledge.documents import Chunk, Document

_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


@dataclass(frozen=True, kw_only=True)
class ChunkingConfig:
    """Size bounds in characters. MiniLM embeds the first 128 word pieces (~500 characters of prose) of a
    chunk; BM25 and the reader see all of it. On the dev set 1,000/200 retrieved as well as 600/150 with
    30 % fewer chunks to embed."""

    max_chars: int = 1000
    min_chars: int = 200


@dataclass(frozen=True, kw_only=True)
class _Unit:
    """A run of text under one heading path, before merging."""

    path: tuple[str, ...]
    section: str
    anchor: str
    heading: str
    text: str
    whole: bool  # a complete section, so it may be merged with neighbours


def chunk_document(document: Document, config: ChunkingConfig | None = None) -> list[Chunk]:
    """The chunks of ``document``: by headings for Markdown, by paragraphs otherwise."""
    config = config or ChunkingConfig()
    if document.format == "markdown":
        units = _merge(list(_markdown_units(document.text, config)), config)
    else:
        units = list(_split_unit(_section((), "", "", document.text), config))
    return [
        Chunk(document=document, ordinal=i, section=unit.section, anchor=unit.anchor, text=unit.text)
        for i, unit in enumerate(units)
    ]


def markdown_title(text: str) -> str | None:
    """The text of the first heading when it is an H1 (the document's title), else ``None``."""
    for level, heading in _headings(text):
        return heading if level == 1 else None
    return None


def _headings(text: str) -> Iterator[tuple[int, str]]:
    for line in _lines_outside_fences(text):
        if match := _HEADING.match(line):
            yield len(match.group(1)), match.group(2).strip()


def _lines_outside_fences(text: str) -> Iterator[str]:
    fence = ""
    for line in text.splitlines():
        fence, inside = _track_fence(fence, line)
        if not inside:
            yield line


def _track_fence(fence: str, line: str) -> tuple[str, bool]:
    """New fence state after ``line`` and whether ``line`` belongs to a fenced block."""
    match = _FENCE.match(line)
    if not fence:
        return (match.group(1), True) if match else ("", False)
    stripped = line.strip()
    closes = match is not None and set(stripped) == {fence[0]} and len(stripped) >= len(fence)
    return ("" if closes else fence), True


def _markdown_units(text: str, config: ChunkingConfig) -> Iterator[_Unit]:
    slugs: dict[str, int] = {}
    stack: list[tuple[int, str]] = []
    path: tuple[str, ...] = ()
    anchor, heading, body = "", "", []
    first_heading = True
    fence = ""
    for line in text.splitlines():
        fence, inside = _track_fence(fence, line)
        match = None if inside else _HEADING.match(line)
        if match is None:
            body.append(line)
            continue
        yield from _section_units(path, anchor, heading, body, config)
        level, title = len(match.group(1)), match.group(2).strip()
        anchor, heading, body = _unique_slug(title, slugs), line.strip(), []
        if first_heading and level == 1:
            # The document title: not part of any section path.
            anchor, heading = "", ""
        else:
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, title))
        first_heading = False
        path = tuple(name for _, name in stack)
    yield from _section_units(path, anchor, heading, body, config)


def _section_units(
    path: tuple[str, ...], anchor: str, heading: str, body: list[str], config: ChunkingConfig
) -> Iterator[_Unit]:
    text = "\n".join(body).strip("\n")
    if text.strip():
        yield from _split_unit(_section(path, anchor, heading, text), config)


def _section(path: tuple[str, ...], anchor: str, heading: str, text: str) -> _Unit:
    return _Unit(path=path, section=" > ".join(path), anchor=anchor, heading=heading, text=text, whole=True)


def _split_unit(unit: _Unit, config: ChunkingConfig) -> Iterator[_Unit]:
    if len(unit.text) <= config.max_chars:
        yield unit
        return
    target = len(unit.text) // math.ceil(len(unit.text) / config.max_chars)
    for i, part in enumerate(_pack(list(_blocks(unit.text, config.max_chars)), config.max_chars, target)):
        anchor = unit.anchor if i == 0 else (f"{unit.anchor}--{i + 1}" if unit.anchor else f"part-{i + 1}")
        yield replace(unit, anchor=anchor, text=part, whole=False)


@dataclass(frozen=True)
class _Block:
    """A piece a section may be cut after, with the separator that preceded it in the text."""

    separator: str
    text: str


def _blocks(text: str, max_chars: int) -> Iterator[_Block]:
    """Paragraphs and whole fenced code blocks; a paragraph over the cap is cut at line or word breaks."""
    lines: list[str] = []
    separator, fence = "", ""
    for line in text.splitlines():
        opens = not fence and _FENCE.match(line) is not None
        fence, inside = _track_fence(fence, line)
        if opens and lines:
            yield from _paragraph(separator, lines, max_chars)
            lines, separator = [], "\n"
        if inside:
            lines.append(line)
            if not fence:  # the fence just closed: the code block is one block, never cut
                yield _Block(separator, "\n".join(lines))
                lines, separator = [], "\n"
        elif not line.strip():
            yield from _paragraph(separator, lines, max_chars)
            lines, separator = [], "\n\n"
        else:
            lines.append(line)
    yield from _paragraph(separator, lines, max_chars)


def _paragraph(separator: str, lines: list[str], max_chars: int) -> Iterator[_Block]:
    if not lines:
        return
    text = "\n".join(lines)
    if len(text) <= max_chars or _FENCE.match(lines[0]):
        yield _Block(separator, text)
        return
    for i, piece in enumerate(_pieces(lines, max_chars)):
        yield _Block(separator if i == 0 else "\n", piece)


def _pieces(lines: list[str], max_chars: int) -> Iterator[str]:
    for line in lines:
        while len(line) > max_chars:
            cut = line.rfind(" ", 0, max_chars)
            cut = cut if cut > 0 else max_chars
            yield line[:cut]
            line = line[cut:].lstrip()
        if line:
            yield line


def _pack(blocks: list[_Block], max_chars: int, target: int) -> list[str]:
    """Greedy packing into parts of at most ``max_chars``; a part is closed once it reaches ``target``
    (the even share), so a long section splits into similar sizes rather than big parts and a stub."""
    parts: list[str] = []
    for block in blocks:
        joined = f"{parts[-1]}{block.separator or chr(10)}{block.text}" if parts else ""
        if parts and len(parts[-1]) < target and len(joined) <= max_chars:
            parts[-1] = joined
        else:
            parts.append(block.text)
    return parts


def _merge(units: list[_Unit], config: ChunkingConfig) -> list[_Unit]:
    """Merge runs of short whole sections; a short last section joins the one before it if it fits."""
    merged: list[list[_Unit]] = []
    for unit in units:
        if merged and _mergeable(merged[-1], unit, config):
            merged[-1].append(unit)
        else:
            merged.append([unit])
    return [_combine(group) for group in merged]


def _mergeable(group: list[_Unit], unit: _Unit, config: ChunkingConfig) -> bool:
    if not (unit.whole and all(u.whole for u in group)):
        return False
    size = sum(len(u.text) + len(u.heading) + 2 for u in group) + len(unit.text) + len(unit.heading)
    short = sum(len(u.text) for u in group) < config.min_chars or len(unit.text) < config.min_chars
    return short and size <= config.max_chars


def _combine(group: list[_Unit]) -> _Unit:
    if len(group) == 1:
        return group[0]
    texts = [group[0].text] + [f"{u.heading}\n{u.text}" if u.heading else u.text for u in group[1:]]
    paths = [u.path for u in group]
    kept = [p for i, p in enumerate(paths) if p and not any(q[: len(p)] == p for q in paths[i + 1 :])]
    return replace(group[0], text="\n\n".join(texts), section=_joined_label(kept))


def _joined_label(paths: list[tuple[str, ...]]) -> str:
    """``A > B > c; d`` for sections ``A > B > c`` and ``A > B > d``: the shared path written once."""
    if len(paths) <= 1:
        return " > ".join(paths[0]) if paths else ""
    shared = 0
    while all(len(p) > shared + 1 and p[shared] == paths[0][shared] for p in paths):
        shared += 1
    leaves = "; ".join(" > ".join(p[shared:]) for p in paths)
    return " > ".join([*paths[0][:shared], leaves])


def _unique_slug(title: str, seen: dict[str, int]) -> str:
    """GitHub's heading anchor: lowercase, punctuation dropped, spaces to hyphens, ``-1`` on repeats."""
    slug = re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")
    count = seen.get(slug, 0)
    seen[slug] = count + 1
    return slug if count == 0 else f"{slug}-{count}"
