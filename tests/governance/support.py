"""Shared values for the governance tests: the fixed catalogue, the seeded directory, small helpers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from governance.compiled import CompiledPolicy, compile_policy
from governance.decide import decide
from governance.decision import Actor, Decision, DecisionContext, ToolCall
from governance.directory import Directory, load_directory
from governance.loader import load_policy, parse_policy
from governance.policy import DEFAULT_POLICY_PATH, Policy
from governance.usage import InMemoryUsage, UsageReader
from tools.spec import SideEffect

_READ = """itsm_search_incidents itsm_get_incident itsm_get_change_request itsm_get_configuration_item
inventory_search_items inventory_get_stock procurement_search_catalogue procurement_search_suppliers
procurement_get_purchase_order knowledge_search"""
_WRITE = """itsm_create_incident itsm_update_incident itsm_add_work_note itsm_resolve_incident
itsm_create_change_request inventory_reserve_stock inventory_transfer_stock inventory_adjust_stock
inventory_set_reorder_point"""
_FINANCIAL = (
    "procurement_create_requisition procurement_create_purchase_order procurement_cancel_purchase_order"
)

CATALOGUE: dict[str, SideEffect] = {
    **dict.fromkeys(_READ.split(), SideEffect.READ),
    **dict.fromkeys(_WRITE.split(), SideEffect.WRITE),
    **dict.fromkeys(_FINANCIAL.split(), SideEffect.FINANCIAL),
}
"""The fixed tool catalogue of the brief: name -> side-effect class."""

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
DIRECTORY: Directory = load_directory()
ROLES = DIRECTORY.roles
PEOPLE = DIRECTORY.ids


def parse(text: str) -> Policy:
    """A policy from YAML, checked against the fixed catalogue and the seeded directory."""
    return parse_policy(text, catalogue=CATALOGUE, roles=ROLES, people=PEOPLE)


def compiled(text: str) -> CompiledPolicy:
    return compile_policy(parse(text), CATALOGUE)


def default_policy() -> CompiledPolicy:
    policy = load_policy(DEFAULT_POLICY_PATH, catalogue=CATALOGUE, roles=ROLES, people=PEOPLE)
    return compile_policy(policy, CATALOGUE)


def run(
    policy: CompiledPolicy,
    tool: str,
    args: dict[str, Any] | None = None,
    *,
    facts: dict[str, Any] | None = None,
    actor: Actor | str = "alice.requester",
    now: datetime = NOW,
    channel: str = "cli",
    usage: UsageReader | None = None,
) -> Decision:
    """Decide one call with sensible defaults for everything the test does not care about."""
    who = DIRECTORY.actor(actor) if isinstance(actor, str) else actor
    call = ToolCall(tool=tool, args=args or {}, facts=facts or {})
    context = DecisionContext(now=now, channel=channel, thread_id="thread-1")
    return decide(policy, call, who, context, usage if usage is not None else InMemoryUsage())
