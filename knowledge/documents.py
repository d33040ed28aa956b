"""The records the store holds: source documents and the chunks they are cut into."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

Kind: TypeAlias = Literal["runbook", "incident"]
Format: TypeAlias = Literal["markdown", "text", "itsm"]
KINDS: tuple[Kind, ...] = ("runbook", "incident")
MetadataValue: TypeAlias = str | int | float | bool
Metadata: TypeAlias = Mapping[str, MetadataValue]

# Prefix of a citation id per kind: "rb:disk-full.md#diagnosis", "inc:INC0010001".
CITATION_PREFIX: Mapping[Kind, str] = {"runbook": "rb", "incident": "inc"}


@dataclass(frozen=True, kw_only=True)
class Document:
    """One source document: a runbook file, a text file, a JSONL line or an ITSM incident.

    ``key`` is the root's ``label`` (a short name of the ingested folder, unique in the store) and the
    document's path relative to that root (``"runbooks/payments/db-failover.md"``), extended with the
    line's id for JSONL (``"exports/past.jsonl/INC001"``); for ITSM incidents it is the incident number
    (no label). ``file`` is the file it came from, relative to ``root`` (empty for ITSM incidents):
    re-ingesting a file replaces every document that came from it.
    """

    kind: Kind
    key: str
    root: str
    file: str
    label: str = ""
    title: str
    text: str
    format: Format
    metadata: Metadata = field(default_factory=dict)

    @property
    def doc_id(self) -> str:
        return f"{self.kind}:{self.key}"

    @property
    def source(self) -> str:
        """Where a reader finds it: the path relative to the ingested root, or the incident number."""
        return self.file or self.key

    @property
    def content_hash(self) -> str:
        payload = json.dumps(
            [CHUNKING_VERSION, self.format, self.title, self.text, sorted(self.metadata.items())],
            ensure_ascii=False,
            default=str,
        )
        return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True, kw_only=True)
class Chunk:
    """A passage of a document, embedded and indexed on its own.

    ``section`` is the heading path (``"Diagnosis > Check the pool"``; empty for text before the first
    heading); ``anchor`` is the GitHub-style slug of the section, unique within the document, so the
    citation id ``rb:<key>#<anchor>`` is stable across re-ingests of unchanged text.
    """

    document: Document
    ordinal: int
    section: str
    anchor: str
    text: str

    @property
    def chunk_id(self) -> str:
        return f"{self.document.doc_id}@{self.ordinal}"

    @property
    def citation_id(self) -> str:
        base = f"{CITATION_PREFIX[self.document.kind]}:{self.document.key}"
        return f"{base}#{self.anchor}" if self.anchor else base

    def indexed_text(self) -> str:
        """What is embedded and BM25-indexed: title and section path give a passage its context."""
        return indexed_text(self.document.title, self.section, self.text)


def indexed_text(title: str, section: str, text: str) -> str:
    heading = readable_title(title)
    return f"{heading} — {section}\n\n{text}" if section else f"{heading}\n\n{text}"


_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_CAMEL_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


def readable_title(title: str) -> str:
    """A CamelCase title (an alert name) spelled out for the embedding model, which reads words, not
    identifiers: ``KubeNodeNotReady`` → ``Kube Node Not Ready (KubeNodeNotReady)``."""
    if not _IDENTIFIER.fullmatch(title) or title.islower() or title.isupper():
        return title
    parts = _CAMEL_PART.findall(title)
    return f"{' '.join(parts)} ({title})" if len(parts) > 1 else title


# Bumped when chunking changes, so that re-ingesting re-chunks every document once.
CHUNKING_VERSION = 1
