"""The governance in force for a run: the tool registry, the people directory and the compiled policy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from governance.compiled import CompiledPolicy
from governance.directory import Directory
from governance.oversight import NO_OVERSIGHT, Oversight
from tools.registry import ToolRegistry


@dataclass(frozen=True, kw_only=True)
class Governance:
    """The policy in force, compiled for the catalogue, with the directory it was checked against."""

    registry: ToolRegistry
    directory: Directory
    policy: CompiledPolicy
    oversight: Callable[[], Oversight] = lambda: NO_OVERSIGHT
    """The restrictions in force (tripped monitors, autonomy pauses), read before every decision."""
