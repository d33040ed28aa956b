"""The governed tool catalogue: one :class:`tools.spec.ToolSpec` per ITSM, inventory and procurement tool.

Tool names, argument names and side-effect classes are part of the policy contract: governance
rules match on them, so renaming one is a policy change.
"""

from __future__ import annotations

from tools.catalogue.inventory import INVENTORY_TOOLS
from tools.catalogue.itsm import ITSM_TOOLS
from tools.catalogue.knowledge import KNOWLEDGE_TOOLS
from tools.catalogue.procurement import PROCUREMENT_TOOLS
from tools.spec import ToolSpec

__all__ = ["INVENTORY_TOOLS", "ITSM_TOOLS", "KNOWLEDGE_TOOLS", "PROCUREMENT_TOOLS", "build_catalogue"]


def build_catalogue() -> tuple[ToolSpec, ...]:
    """Every tool, in a stable order: ITSM, inventory, procurement, knowledge; reads before writes."""
    return ITSM_TOOLS + INVENTORY_TOOLS + PROCUREMENT_TOOLS + KNOWLEDGE_TOOLS
