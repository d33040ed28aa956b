"""Reading sources into documents: Markdown runbooks, plain text, JSONL and ITSM incidents.

Every reader raises :class:`CorpusError` naming the file when it cannot be read or parsed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
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


def discover(path: Path) -> tuple[Path, list[Path]]:
    """The root a path's documents are named relative to, and its ingestible files in a stable order.

    A directory is its own root (hidden files and folders skipped); a file's root is its folder.
    """
    if not path.exists():
        raise CorpusError(path, "no such file or directory")
    if path.is_file():
        if path.suffix.lower() not in SUFFIXES:
            raise CorpusError(path, f"unsupported file type; expected one of {', '.join(sorted(SUFFIXES))}")
        return path.parent.resolve(), [path.resolve()]
    root = path.resolve()
    files = sorted(
        file
        for file in root.rglob("*")
        if file.is_file()
        and file.suffix.lower() in SUFFIXES
        and not any(part.startswith(".") for part in file.relative_to(root).parts)
    )
    if not files:
        raise CorpusError(path, f"no {', '.join(sorted(SUFFIXES))} files to ingest")
    return root, files


def read_documents(file: Path, root: Path, kind: Kind) -> list[Document]:
    """The documents in ``file``: one for Markdown and text, one per line for JSONL."""
    text = _read(file)
    relative = file.relative_to(root).as_posix()
    suffix = file.suffix.lower()
    if suffix == ".jsonl":
        return _jsonl_documents(file, text, root, relative, kind)
    if suffix in MARKDOWN_SUFFIXES:
        return [_markdown_document(file, text, root, relative, kind)]
    title = next((line.strip() for line in text.splitlines() if line.strip()), file.stem)[:200]
    return [_document(kind, relative, root, relative, title=title, text=text, format="text", metadata={})]


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


def _markdown_document(file: Path, text: str, root: Path, relative: str, kind: Kind) -> Document:
    front, body = split_front_matter(file, text)
    title = str(front.get("title") or markdown_title(body) or file.stem)
    return _document(
        kind, relative, root, relative, title=title, text=body, format="markdown", metadata=front
    )


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


def _jsonl_documents(file: Path, text: str, root: Path, relative: str, kind: Kind) -> list[Document]:
    documents: dict[str, Document] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        record = _jsonl_record(file, number, line)
        key = f"{relative}/{record.get('id') or number}"
        if key in documents:
            raise CorpusError(file, f"line {number}: id {record.get('id')!r} appears twice")
        title = str(record.get("title") or record.get("id") or f"{file.stem} line {number}")
        documents[key] = _document(
            kind,
            key,
            root,
            relative,
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


def _document(
    kind: Kind, key: str, root: Path, file: str, *, title: str, text: str, format: Format, metadata: Metadata
) -> Document:
    return Document(
        kind=kind,
        key=key,
        root=str(root),
        file=file,
        title=title,
        text=text,
        format=format,
        metadata=metadata,
    )
