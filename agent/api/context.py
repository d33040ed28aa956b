"""What every endpoint needs besides its caller: the operations service, the settings, a page.

No ``from __future__ import annotations`` here: FastAPI must read the page bounds of the closure."""

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Request

from agent.operations import Operations
from agent.settings import Settings


def _operations(request: Request) -> Operations:
    operations: Operations = request.app.state.operations
    return operations


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


Ops = Annotated[Operations, Depends(_operations)]
Config = Annotated[Settings, Depends(_settings)]


@dataclass(frozen=True, kw_only=True)
class Page:
    """``limit`` items from ``offset``; ``next_cursor`` is what the client sends for the next page."""

    limit: int
    offset: int

    def cut(self, items: list[Any]) -> tuple[list[Any], str | None]:
        """This page of ``items`` (all matches from the first), and the cursor of the next one."""
        shown = items[self.offset : self.offset + self.limit]
        more = len(items) > self.offset + self.limit
        return shown, (str(self.offset + self.limit) if more else None)


def paging(page_max: int) -> Any:
    """A dependency reading ``limit`` (1..``page_max``) and an opaque ``cursor`` from the query."""

    def page(
        limit: Annotated[int, Query(ge=1, le=page_max, description="Items per page")] = min(50, page_max),
        cursor: Annotated[
            str | None, Query(pattern=r"^[0-9]{1,9}$", description="next_cursor of the page before")
        ] = None,
    ) -> Page:
        return Page(limit=limit, offset=int(cursor) if cursor else 0)

    return Depends(page)
