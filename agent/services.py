"""Wiring: builds the systems, the tool registry and governance from :class:`Settings`.

Entry points (the CLI, later the HTTP API and Slack app) call these; library code never reads settings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.settings import Settings
from governance.audit import AuditLog
from governance.compiled import CompiledPolicy, compile_policy
from governance.decide import decide
from governance.decision import Actor, Decision, DecisionContext, ToolCall
from governance.directory import Directory
from governance.directory import load_directory as _load_directory
from governance.executions import ExecutionLedger
from governance.loader import load_policy
from governance.policy import DEFAULT_POLICY_PATH
from governance.store import sqlite_engine
from governance.usage import SqlUsageLedger, UsageReader
from tools.catalogue import build_catalogue
from tools.errors import InvalidArguments, OpsError
from tools.local import open_local_systems
from tools.registry import ToolRegistry
from tools.spec import Systems, ToolSpec, canonical_args


@dataclass(frozen=True, kw_only=True)
class Governance:
    """The policy in force, compiled for the catalogue, with the directory it was checked against."""

    registry: ToolRegistry
    directory: Directory
    policy: CompiledPolicy


def build_registry() -> ToolRegistry:
    return ToolRegistry(build_catalogue())


def load_directory(settings: Settings) -> Directory:
    return _load_directory(settings.directory_file)


def load_governance(settings: Settings, *, policy_file: Path | None = None) -> Governance:
    """Load directory and policy; raise ``PolicyError``/``DirectoryError`` naming every problem."""
    registry = build_registry()
    directory = load_directory(settings)
    path = policy_file or settings.policy_file or DEFAULT_POLICY_PATH
    catalogue = registry.side_effects()
    policy = load_policy(path, catalogue=catalogue, roles=directory.roles, people=directory.ids)
    return Governance(registry=registry, directory=directory, policy=compile_policy(policy, catalogue))


def open_systems(settings: Settings) -> Systems:
    """The ops systems: the local reference systems, with ServiceNow for ITSM when configured."""
    local = open_local_systems(settings.systems_db)
    if settings.itsm_backend == "local":
        return local
    from agent.servicenow_wiring import servicenow_from_settings

    return Systems(
        itsm=servicenow_from_settings(settings), inventory=local.inventory, procurement=local.procurement
    )


def open_audit(settings: Settings) -> AuditLog:
    return AuditLog(sqlite_engine(settings.governance_db))


def open_usage(settings: Settings) -> SqlUsageLedger:
    return SqlUsageLedger(sqlite_engine(settings.governance_db))


def open_executions(settings: Settings) -> ExecutionLedger:
    return ExecutionLedger(sqlite_engine(settings.governance_db), clock=lambda: datetime.now(UTC))


def lookup_facts(spec: ToolSpec, args: Any, systems: Systems) -> tuple[Mapping[str, Any], str | None]:
    """The read-only facts policy needs for this call, or an explanation of why they are missing.

    Missing facts are not an error here: conditions that need them fail closed in ``decide``. But
    ``InvalidArguments`` propagates: the system of record refused the arguments themselves (a price
    below the catalogue's, a SKU nobody offers), so the call is invalid, like one failing validation.
    """
    if spec.facts is None:
        return {}, None
    try:
        return dict(spec.facts(args, systems)), None
    except InvalidArguments:
        raise
    except OpsError as exc:
        return {}, f"facts for {spec.name} could not be looked up: {exc}"


def explain(
    governance: Governance,
    *,
    tool: str,
    raw_args: Mapping[str, Any],
    actor: Actor,
    now: datetime,
    systems: Systems | None,
    usage: UsageReader,
    channel: str = "cli",
) -> tuple[Decision, list[str]]:
    """Decide one proposed call (validating its arguments first) without executing it.

    Returns the decision and notes (e.g. facts that could not be looked up). Unknown tools are
    decided as-is (deny); invalid arguments raise ``InvalidArguments``, also when the facts lookup
    refuses them (e.g. a purchase-order line priced below the supplier's catalogue price).
    """
    notes: list[str] = []
    args: Mapping[str, Any] = raw_args
    facts: Mapping[str, Any] = {}
    if tool in governance.registry:
        spec = governance.registry.get(tool)
        parsed = spec.parse_args(raw_args)
        args = canonical_args(parsed)
        if systems is not None:
            facts, problem = lookup_facts(spec, parsed, systems)
            notes += [problem] if problem else []
    call = ToolCall(tool=tool, args=args, facts=facts)
    context = DecisionContext(now=now, channel=channel)
    return decide(governance.policy, call, actor, context, usage), notes


def build_agent_deps(
    settings: Settings,
    *,
    dry_run: bool = False,
    model: Any | None = None,
    notifier: Any | None = None,
    clock: Any | None = None,
) -> Any:
    """Run dependencies for the agent (``AgentDeps``), built from settings."""
    from agent.llm import build_chat_model
    from agent.notifier import LogNotifier
    from agent.state import AgentDeps
    from governance.approvals import ApprovalStore

    now = clock or (lambda: datetime.now(UTC))
    engine = sqlite_engine(settings.governance_db)
    audit = AuditLog(engine)
    systems, grounder = open_systems(settings), None
    if settings.grounding:
        from agent.grounding import RetrieverGrounder, RetrieverKnowledge
        from knowledge import Retriever

        retriever = Retriever(open_knowledge_store(settings))
        systems = dataclasses.replace(systems, knowledge=RetrieverKnowledge(retriever))
        grounder = RetrieverGrounder(retriever, k=settings.grounding_k)
    return AgentDeps(
        model=model if model is not None else build_chat_model(settings),
        governance=load_governance(settings),
        systems=systems,
        grounder=grounder,
        audit=audit,
        usage=SqlUsageLedger(engine),
        approvals=ApprovalStore(engine, audit=audit, clock=now),
        executions=ExecutionLedger(engine, clock=now),
        notifier=notifier if notifier is not None else LogNotifier(),
        clock=now,
        dry_run=dry_run,
        round_limit=settings.round_limit,
    )


def open_session(settings: Settings, **kwargs: Any) -> Any:
    """An ``AgentSession`` on the checkpoints under ``OPSLAYER_HOME``."""
    from agent.session import AgentSession, open_checkpointer

    return AgentSession(build_agent_deps(settings, **kwargs), open_checkpointer(settings.checkpoints_db))


def open_knowledge_store(settings: Settings) -> Any:
    """The knowledge store (``knowledge.KnowledgeStore``) and embedder the settings describe.

    Chroma server when ``chroma_url`` is set, else embedded under ``OPSLAYER_HOME/knowledge``. The
    embedding model loads on first use only.
    """
    from knowledge import MiniLMEmbedder, OpenAIEmbedder, open_store

    embedder: Any
    if settings.embedding_backend == "minilm":
        embedder = MiniLMEmbedder()
    elif settings.openai_api_key is None:
        raise ValueError(
            "OPSLAYER_EMBEDDING_BACKEND=openai needs OPENAI_API_KEY (or OPSLAYER_OPENAI_API_KEY)"
        )
    else:
        import httpx

        embedder = OpenAIEmbedder(
            model=settings.embedding_model,
            api_key=settings.openai_api_key,
            base_url=settings.openai_base_url or "https://api.openai.com/v1",
            client=httpx.Client(timeout=settings.llm_timeout_s),
        )
    return open_store(settings.knowledge_dir, settings.chroma_url, embedder=embedder)
