"""Errors of the knowledge store, for the operator who runs ingestion or configures the store.

::

    KnowledgeError
    ├── CorpusError            a path to ingest is missing, unreadable, malformed or holds nothing to ingest
    └── StoreMismatch          the store was built with another embedding model than the one configured
"""

from __future__ import annotations

from pathlib import Path


class KnowledgeError(Exception):
    """Base of the errors raised by ``knowledge``."""


class CorpusError(KnowledgeError):
    """A corpus path cannot be ingested; ``path`` names it. Raised before anything is written."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class StoreMismatch(KnowledgeError):
    """The collections hold vectors of another embedding model; mixing them would make search meaningless."""

    def __init__(self, stored: str, configured: str) -> None:
        self.stored = stored
        self.configured = configured
        super().__init__(
            f"the knowledge store was built with embeddings {stored!r} but {configured!r} is configured; "
            "use the same embedding settings or ingest into an empty knowledge directory"
        )
