"""Reading sources into documents: Markdown runbooks, plain text, JSONL and ITSM incidents.

Every reader raises :class:`CorpusError` naming the file when it cannot be read or parsed. A folder may
hold files that are not documents (a README, a query set): its ``.ingestignore`` lists them.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from knowledge.chunking import markdown_title
from knowledge.documents import Document, Format, Kind, Metadata, MetadataValue
from knowledge.errors import CorpusError
from tools.models import Incident

MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
SUFFIXES = MARKDOWN_SUFFIXES | {".txt", ".jsonl"}
ITSM_ROOT = "itsm"  # the "root" recorded for incidents read from the ITSM backend
IGNORE_FILE = ".ingestignore"
_LABEL_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def discover(path: Path) -> tuple[Path, list[Path]]:
    """The root a path's documents are named relative to, and its ingestible files in a stable order.

    A directory is its own root (hidden files and folders skipped, and the files its ``.ingestignore``
    lists); a file's root is its folder, and a file named explicitly is always read.
    """
    if not path.exists():
        raise CorpusError(path, "no such file or directory")
    if path.is_file():
        if path.suffix.lower() not in SUFFIXES:
            raise CorpusError(path, f"unsupported file type; expected one of {', '.join(sorted(SUFFIXES))}")
        return path.parent.resolve(), [path.resolve()]
    root = path.resolve()
    ignored = _ignore_patterns(root)
    files = sorted(
        file
        for file in root.rglob("*")
        if file.is_file()
        and file.suffix.lower() in SUFFIXES
        and not any(part.startswith(".") for part in file.relative_to(root).parts)
        and not _ignored(file.relative_to(root).as_posix(), ignored)
    )
    if not files:
        raise CorpusError(path, f"no {', '.join(sorted(SUFFIXES))} files to ingest")
    return root, files


def _ignore_patterns(root: Path) -> list[str]:
    """The glob patterns of ``root/.ingestignore``: one a line, ``#`` starts a comment.

    A pattern is matched against a file's path relative to ``root`` (``*`` also matches ``/``); a pattern
    naming a folder excludes everything in it.
    """
    file = root / IGNORE_FILE
    if not file.is_file():
        return []
    lines = (line.split("#", 1)[0].strip() for line in _read(file).splitlines())
    return [line.strip("/") for line in lines if line.strip("/")]


def _ignored(relative: str, patterns: list[str]) -> bool:
    parts = relative.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(fnmatch.fnmatchcase(prefix, pattern) for pattern in patterns for prefix in prefixes)


def root_label(root: str, taken: set[str]) -> str:
    """A short, readable name for an ingested root, for document and citation ids: the folder's name,
    or the name with a short hash of the full path when another root already has that name."""
    name = _LABEL_UNSAFE.sub("-", Path(root).name).strip("-") or "root"
    if name not in taken:
        return name
    return f"{name}~{hashlib.sha256(root.encode()).hexdigest()[:6]}"


def read_documents(file: Path, root: Path, kind: Kind, label: str) -> list[Document]:
    """The documents in ``file``: one for Markdown and text, one per line for JSONL.

    ``label`` names the root in the documents' keys (``<label>/<path relative to root>``), so files with
    the same relative path under two roots stay two documents.
    """
    text = _read(file)
    source = _Source(file=file, root=root, label=label, kind=kind)
    suffix = file.suffix.lower()
    if suffix == ".jsonl":
        return _jsonl_documents(source, text)
    if suffix in MARKDOWN_SUFFIXES:
        return [_markdown_document(source, text)]
    title = next((line.strip() for line in text.splitlines() if line.strip()), file.stem)[:200]
    return [source.document(source.key, title=title, text=text, format="text", metadata={})]


def incident_document(incident: Incident) -> Document:
    """A resolved or closed incident as a "past incident": what happened and how it was resolved."""
    parts = [
        f"Service: {incident.service or 'unknown'}; CI: {incident.ci or 'unknown'}; "
        f"priority P{incident.priority}.",
        incident.description,
        f"Resolution ({incident.resolution_code or 'no code'}): {incident.resolution_notes or 'no notes'}",
    ]
    if incident.work_notes:
        parts.append(
            "Work notes:\n" + "\n".join(f"- {note.author}: {note.text}" for note in incident.work_notes)
        )
    metadata: dict[str, MetadataValue] = {
        "number": incident.number,
        "state": incident.state.value,
        "priority": incident.priority,
        "service": incident.service or "",
        "ci": incident.ci or "",
        "resolution_code": incident.resolution_code or "",
        "origin": "itsm",
    }
    return Document(
        kind="incident",
        key=incident.number,
        root=ITSM_ROOT,
        file="",
        title=f"{incident.number}: {incident.short_description}",
        text="\n\n".join(part.strip() for part in parts if part.strip()),
        format="itsm",
        metadata=metadata,
    )


def _read(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(file, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise CorpusError(file, f"cannot be read: {exc.strerror or exc}") from exc


def _markdown_document(source: _Source, text: str) -> Document:
    front, body = split_front_matter(source.file, text)
    title = str(front.get("title") or markdown_title(body) or source.file.stem)
    return source.document(source.key, title=title, text=body, format="markdown", metadata=front)


def split_front_matter(file: Path, text: str) -> tuple[dict[str, MetadataValue], str]:
    """YAML front matter (between ``---`` lines at the top) as flat metadata, and the rest of the text."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        return {}, text
    end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() in ("---", "...")), None)
    if end is None:
        return {}, text
    try:
        data = yaml.safe_load("".join(lines[1:end])) or {}
    except yaml.YAMLError as exc:
        raise CorpusError(file, f"invalid YAML front matter: {exc}") from exc
    if not isinstance(data, Mapping):
        raise CorpusError(file, "front matter must be a YAML mapping")
    return flat_metadata(data), "".join(lines[end + 1 :])


def flat_metadata(data: Mapping[Any, Any]) -> dict[str, MetadataValue]:
    """Metadata Chroma can store and filter: scalars kept, lists joined with ", ", the rest as JSON."""
    flat: dict[str, MetadataValue] = {}
    for key, value in data.items():
        if value is None:
            continue
        if isinstance(value, str | int | float | bool):
            flat[str(key)] = value
        elif isinstance(value, list | tuple) and all(isinstance(v, str | int | float) for v in value):
            flat[str(key)] = ", ".join(str(v) for v in value)
        else:
            flat[str(key)] = json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)
    return flat


def _jsonl_documents(source: _Source, text: str) -> list[Document]:
    documents: dict[str, Document] = {}
    file = source.file
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        record = _jsonl_record(file, number, line)
        key = f"{source.key}/{record.get('id') or number}"
        if key in documents:
            raise CorpusError(file, f"line {number}: id {record.get('id')!r} appears twice")
        title = str(record.get("title") or record.get("id") or f"{file.stem} line {number}")
        documents[key] = source.document(
            key,
            title=title,
            text=record["text"],
            format="text",
            metadata=flat_metadata(record.get("metadata") or {}),
        )
    return list(documents.values())


def _jsonl_record(file: Path, number: int, line: str) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise CorpusError(file, f"line {number}: invalid JSON ({exc.msg})") from exc
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        raise CorpusError(file, f'line {number}: expected an object with a "text" string')
    if not isinstance(record.get("metadata") or {}, dict):
        raise CorpusError(file, f'line {number}: "metadata" must be an object')
    return record


@dataclass(frozen=True, kw_only=True)
class _Source:
    """The file being read, the root it is named relative to and that root's label."""

    file: Path
    root: Path
    label: str
    kind: Kind

    @property
    def relative(self) -> str:
        return self.file.relative_to(self.root).as_posix()

    @property
    def key(self) -> str:
        return f"{self.label}/{self.relative}"

    def document(self, key: str, *, title: str, text: str, format: Format, metadata: Metadata) -> Document:
        return Document(
            kind=self.kind,
            key=key,
            root=str(self.root),
            label=self.label,
            file=self.relative,
            title=title,
            text=text,
            format=format,
            metadata=metadata,
        )
