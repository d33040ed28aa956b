"""The only path from a tool call to a tool handler is ``agent.run.executor``, and it demands a decision.

Pins: no module of ``agent/`` except ``agent/run/executor.py`` calls ``tools.registry.run`` or touches a
spec's ``.handler`` (checked on the syntax tree, so the check itself is shown to find the executor's
call); ``execute`` raises ``GovernanceViolation`` — and runs nothing — for a deny decision, an
approve decision without an approval (or with one that is pending or for other arguments), and a
decision or call whose args digest differs from the arguments.
"""

from __future__ import annotations

import ast
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from agent.run.errors import GovernanceViolation
from agent.run.executor import execute
from agent.run.review import lookup_facts
from agent.run.state import ClearedCall
from governance.approvals import ApprovalOutcome, ApprovalStatus
from governance.decide import decide
from governance.decision import Decision, DecisionContext, Tier, ToolCall, args_digest
from tests.agent.graph_support import IN_FREEZE, NOW, World, po_args
from tools.spec import canonical_args

AGENT = Path(__file__).resolve().parents[2] / "agent"
EXECUTOR = AGENT / "run" / "executor.py"


def handler_paths(source: str) -> list[str]:
    """Places in ``source`` that call ``tools.registry.run`` (however imported) or touch ``.handler``."""
    tree = ast.parse(source)
    run_names: set[str] = set()
    registry_modules = {"tools.registry"}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "tools.registry":
            run_names |= {alias.asname or alias.name for alias in node.names if alias.name in ("run", "*")}
        elif isinstance(node, ast.ImportFrom) and node.module == "tools":
            registry_modules |= {
                alias.asname or alias.name for alias in node.names if alias.name == "registry"
            }
        elif isinstance(node, ast.Import):
            registry_modules |= {
                alias.asname for alias in node.names if alias.name == "tools.registry" and alias.asname
            }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "handler":
            found.append(f"line {node.lineno}: .handler")
        elif (
            isinstance(node, ast.Attribute)
            and node.attr == "run"
            and ast.unparse(node.value) in registry_modules
        ):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Name) and node.id in run_names:
            found.append(f"line {node.lineno}: {node.id}")
    return found


def test_only_the_executor_reaches_tool_handlers() -> None:
    offenders = {
        str(path.relative_to(AGENT.parent)): places
        for path in sorted(AGENT.rglob("*.py"))
        if path != EXECUTOR and (places := handler_paths(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}
    assert handler_paths(EXECUTOR.read_text(encoding="utf-8")), "the check must find the executor's own call"


@pytest.mark.parametrize(
    "source",
    [
        "from tools.registry import run\nrun(spec, args, ctx)",
        "from tools.registry import run as go\ngo(spec, args, ctx)",
        "import tools.registry\ntools.registry.run(spec, args, ctx)",
        "import tools.registry as reg\nreg.run(spec, args, ctx)",
        "from tools import registry\nregistry.run(spec, args, ctx)",
        "spec.handler(args, ctx)",
        "call = getattr(spec, 'x').handler",
    ],
)
def test_the_check_finds_every_way_to_a_handler(source: str) -> None:
    assert handler_paths(source)


# --- execute() refuses what governance did not allow -----------------------------------------------


def cleared(tool: str, args: dict[str, Any], *, digest: str | None = None) -> ClearedCall:
    return {
        "tool_call_id": "call-1",
        "tool": tool,
        "args": args,
        "args_digest": digest or args_digest(args),
        "approval_id": None,
    }


def decided(
    world: World, tool: str, raw_args: dict[str, Any], now: datetime = NOW
) -> tuple[dict[str, Any], Decision]:
    deps = world.deps
    spec = deps.governance.registry.get(tool)
    parsed = spec.parse_args(raw_args)
    facts, _ = lookup_facts(spec, parsed, deps.systems)
    args = canonical_args(parsed)
    actor = deps.governance.directory.actor("alice.requester")
    decision = decide(
        deps.governance.policy,
        ToolCall(tool=tool, args=args, facts=facts),
        actor,
        DecisionContext(now=now),
        deps.usage,
    )
    return args, decision


def outcome(decision: Decision, args: dict[str, Any], *, approved: bool) -> ApprovalOutcome:
    return ApprovalOutcome(
        request_id="APR-TEST0001",
        tool_call_id="call-1",
        tool=decision.tool,
        status=ApprovalStatus.APPROVED if approved else ApprovalStatus.PENDING,
        reason="test",
        args=args,
        args_digest=args_digest(args),
    )


def run(world: World, call: ClearedCall, decision: Decision, approval: ApprovalOutcome | None = None) -> None:
    execute(world.deps, call, decision, approval=approval, thread_id="t-direct", actor_id="alice.requester")


PO = "procurement_create_purchase_order"
CHANGE = "itsm_create_change_request"
PROD_CHANGE = {
    "ci": "payments-api",
    "short_description": "Restart",
    "description": "Rolling restart.",
    "risk": "low",
}


def test_execute_refuses_a_deny_decision(world: World) -> None:
    args, decision = decided(world, CHANGE, PROD_CHANGE, now=IN_FREEZE)
    assert decision.tier is Tier.DENY

    with pytest.raises(GovernanceViolation, match="deny"):
        run(world, cleared(CHANGE, args), decision)
    assert world.executions() == []


def test_execute_refuses_an_approve_decision_without_a_granted_approval(world: World) -> None:
    args, decision = decided(world, PO, po_args(40))
    assert decision.tier is Tier.APPROVE
    other_args, _ = decided(world, PO, po_args(41))

    with pytest.raises(GovernanceViolation, match="no approval"):
        run(world, cleared(PO, args), decision)
    with pytest.raises(GovernanceViolation, match="no approval"):
        run(world, cleared(PO, args), decision, outcome(decision, args, approved=False))
    with pytest.raises(GovernanceViolation, match="other arguments"):
        run(world, cleared(PO, args), decision, outcome(decision, other_args, approved=True))

    assert world.new_purchase_orders() == []
    assert world.executions() == []


def test_execute_refuses_a_decision_for_other_arguments(world: World) -> None:
    args, decision = decided(world, PO, po_args(10))  # notify tier: runs without approval
    other_args, _ = decided(world, PO, po_args(11))

    with pytest.raises(GovernanceViolation, match="does not cover"):
        run(world, cleared(PO, other_args), decision)
    with pytest.raises(GovernanceViolation, match="does not cover"):
        run(world, cleared(PO, other_args, digest=decision.args_digest), decision)

    assert world.new_purchase_orders() == []
    assert world.notifier.sent == []
    assert world.executions() == []

    run(world, cleared(PO, args), decision)  # the matching call does run: the refusals were the checks
    assert len(world.new_purchase_orders()) == 1
