"""A test's governance databases, on each engine the stores support: SQLite and PostgreSQL.

The root conftest builds the fixtures on it: ``open_engine`` runs a test once per engine, ``engines``
lets a fixture choose the engines itself (with other variants, such as the in-memory usage ledger).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine

from governance.store import engine_from_url, sqlite_engine
from tests.pg.server import Databases

ENGINES = ("sqlite", "postgresql")
"""What a test parametrised over engines runs on; its ids are these names."""

OpenEngine = Callable[[], Engine]
"""Opens another engine (own pool) on one database per call, as another process would."""


class Engines:
    """New databases for one test, each reached through its own engines; :meth:`close` disposes them.

    ``postgres`` gives the session's :class:`Databases`, starting the server on first use (and skipping
    the test, naming what is missing, when it cannot run here).
    """

    def __init__(self, folder: Path, postgres: Callable[[], Databases]) -> None:
        self._folder = folder
        self._postgres = postgres
        self._engines: list[Engine] = []
        self._databases: list[tuple[Databases, str]] = []
        self._files = 0

    def opener(self, kind: str) -> OpenEngine:
        """A new, empty database on ``kind`` (one of :data:`ENGINES`), and what opens engines on it."""
        if kind == "sqlite":
            self._files += 1
            path = self._folder / f"governance-{self._files}.db"
            return lambda: self._keep(sqlite_engine(path))
        if kind == "postgresql":
            databases = self._postgres()
            url = databases.create()
            self._databases.append((databases, url))
            return lambda: self._keep(engine_from_url(url))
        raise ValueError(f"unknown engine {kind!r}; expected one of {', '.join(ENGINES)}")

    def close(self) -> None:
        for engine in self._engines:
            engine.dispose()
        for databases, url in self._databases:
            databases.done(url)

    def _keep(self, engine: Engine) -> Engine:
        self._engines.append(engine)
        return engine
