"""Wiring: builds the systems, the tool registry and governance from :class:`Settings`.

Entry points (the CLI, later the HTTP API and Slack app) call these; library code never reads settings.
Each function imports what it builds: opening the governance stores must not pay for the policy
compiler, the tool catalogue or the systems (``opslayer approvals list`` stays a quick command).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.run.errors import ConfigurationError
from agent.settings import Settings
from governance.store import sqlite_engine

if TYPE_CHECKING:
    from langgraph.checkpoint.base import BaseCheckpointSaver
    from sqlalchemy import Engine

    from agent.run.governance import Governance
    from governance.approvals import ApprovalStore
    from governance.audit import AuditLog
    from governance.directory import Directory
    from governance.executions import ExecutionLedger
    from governance.idempotency import IdempotencyKeys
    from governance.tokens import TokenStore
    from governance.usage import SqlUsageLedger
    from governance.work import WorkQueue
    from tools.registry import ToolRegistry
    from tools.spec import Systems


def build_registry() -> ToolRegistry:
    from tools.catalogue import build_catalogue
    from tools.registry import ToolRegistry

    return ToolRegistry(build_catalogue())


def load_directory(settings: Settings) -> Directory:
    from governance.directory import load_directory as load

    return load(settings.directory_file)


def load_governance(settings: Settings, *, policy_file: Path | None = None) -> Governance:
    """Load directory and policy; raise ``PolicyError``/``DirectoryError`` naming every problem."""
    from agent.run.governance import Governance
    from governance.compiled import compile_policy
    from governance.loader import load_policy
    from governance.policy import DEFAULT_POLICY_PATH

    registry = build_registry()
    directory = load_directory(settings)
    path = policy_file or settings.policy_file or DEFAULT_POLICY_PATH
    catalogue = registry.side_effects()
    policy = load_policy(path, catalogue=catalogue, roles=directory.roles, people=directory.ids)
    return Governance(registry=registry, directory=directory, policy=compile_policy(policy, catalogue))


def open_systems(settings: Settings) -> Systems:
    """The ops systems: the local reference systems, with ServiceNow for ITSM when configured."""
    from tools.local import open_local_systems
    from tools.spec import Systems

    local = open_local_systems(settings.systems_db)
    if settings.itsm_backend == "local":
        return local
    return Systems(
        itsm=servicenow_from_settings(settings), inventory=local.inventory, procurement=local.procurement
    )


def governance_engine(settings: Settings) -> Engine:
    """The database of the governance stores: PostgreSQL when ``OPSLAYER_DATABASE_URL`` is set, else
    ``governance.db`` under ``OPSLAYER_HOME``."""
    if settings.database_url is not None:
        from governance.store import engine_from_url

        url = settings.database_url.get_secret_value()
        return engine_from_url(url, pool_size=settings.database_pool_size)
    return sqlite_engine(settings.governance_db)


def open_checkpointer(settings: Settings) -> BaseCheckpointSaver[Any]:
    """LangGraph checkpoints on the same database as the governance stores."""
    if settings.database_url is not None:
        from agent.run.session import open_postgres_checkpointer

        url = settings.database_url.get_secret_value()
        return open_postgres_checkpointer(url, pool_size=settings.database_pool_size)
    from agent.run.session import open_checkpointer as open_sqlite

    return open_sqlite(settings.checkpoints_db)


def close_checkpointer(checkpointer: BaseCheckpointSaver[Any]) -> None:
    """Close what :func:`open_checkpointer` opened: the PostgreSQL pool or the SQLite connection."""
    connection = getattr(checkpointer, "conn", None)  # both savers keep it there
    if connection is not None:
        connection.close()


def open_audit(settings: Settings) -> AuditLog:
    from governance.audit import AuditLog

    return AuditLog(governance_engine(settings))


def read_audit(settings: Settings) -> AuditLog:
    """The audit trail for reading and verifying, never writing: works on a read-only copy of a home.

    Opened read-only; when even that needs a write the folder refuses (the ``-shm`` file of a WAL
    database on read-only media), opened as an immutable snapshot.
    """
    from sqlalchemy.exc import OperationalError

    from governance.audit import AuditLog
    from governance.store import sqlite_reader

    if settings.database_url is not None:
        return AuditLog(governance_engine(settings), create=False)
    log = AuditLog(sqlite_reader(settings.governance_db), create=False)
    try:
        log.head()
    except OperationalError:
        log = AuditLog(sqlite_reader(settings.governance_db, immutable=True), create=False)
    return log


def open_usage(settings: Settings) -> SqlUsageLedger:
    from governance.usage import SqlUsageLedger

    return SqlUsageLedger(governance_engine(settings))


class Stores:
    """The governance stores, on one database. Each is opened (its module imported, its tables made
    sure of) when first used: a command reading the queue pays for the queue and the trail, no more.

    Two threads opening one store at once may each build it; that is harmless, as every store already
    serves several processes sharing the database."""

    def __init__(self, settings: Settings, *, clock: Callable[[], datetime]) -> None:
        self._settings = settings
        self._clock = clock
        self.engine = governance_engine(settings)
        """The process's one engine on the governance database (one pool: see database_pool_size)."""

    @cached_property
    def audit(self) -> AuditLog:
        from governance.audit import AuditLog

        return AuditLog(self.engine, clock=self._clock)

    @cached_property
    def usage(self) -> SqlUsageLedger:
        from governance.usage import SqlUsageLedger

        return SqlUsageLedger(self.engine)

    @cached_property
    def approvals(self) -> ApprovalStore:
        from governance.approvals import ApprovalStore

        ttl = timedelta(hours=self._settings.approval_ttl_hours)
        return ApprovalStore(self.engine, audit=self.audit, clock=self._clock, ttl=ttl)

    @cached_property
    def executions(self) -> ExecutionLedger:
        from governance.executions import ExecutionLedger

        return ExecutionLedger(self.engine, clock=self._clock)

    @cached_property
    def tokens(self) -> TokenStore:
        from governance.tokens import TokenStore

        return TokenStore(self.engine, clock=self._clock)

    @cached_property
    def work(self) -> WorkQueue:
        """The worker's queue: resumes, the head publication."""
        from governance.work import WorkQueue

        return WorkQueue(self.engine, clock=self._clock)

    @cached_property
    def idempotency(self) -> IdempotencyKeys:
        """The Idempotency-Key claims of the API's sends (opened by the first send that carries one). A
        claim still running after the worker lease is told apart as one whose process may have died."""
        from governance.idempotency import IdempotencyKeys

        return IdempotencyKeys(
            self.engine,
            clock=self._clock,
            retention=timedelta(hours=self._settings.idempotency_retention_hours),
            abandoned_after=timedelta(seconds=self._settings.worker_lease_s),
        )

    def every_table(self) -> Engine:
        """The database once every store has made sure of its tables: for reads across stores (the
        worker's sweeps, the monitors)."""
        _opened = (self.audit, self.usage, self.approvals, self.executions, self.tokens, self.work)
        return self.engine


def open_stores(settings: Settings, *, clock: Callable[[], datetime] | None = None) -> Stores:
    """The governance stores (no model, no Chroma, no tool backends), each opened on first use."""
    return Stores(settings, clock=clock or (lambda: datetime.now(UTC)))


def build_agent_deps(
    settings: Settings,
    *,
    dry_run: bool = False,
    model: Any | None = None,
    notifier: Any | None = None,
    clock: Any | None = None,
    stores: Stores | None = None,
    governance: Governance | None = None,
) -> Any:
    """Run dependencies for the agent (``AgentDeps``), built from settings (and stores already open)."""
    from agent import tracing
    from agent.run.llm import build_chat_model
    from agent.run.state import AgentDeps

    now = clock or (lambda: datetime.now(UTC))
    stores = stores or open_stores(settings, clock=now)
    governance = governance or load_governance(settings)
    systems, grounder = open_systems(settings), None
    if settings.grounding:
        from agent.run.grounding import RetrieverGrounder, RetrieverKnowledge
        from knowledge import Retriever

        retriever = Retriever(open_knowledge_store(settings))
        systems = dataclasses.replace(systems, knowledge=RetrieverKnowledge(retriever))
        grounder = RetrieverGrounder(retriever, k=settings.grounding_k)
    return AgentDeps(
        model=model if model is not None else build_chat_model(settings),
        governance=governance,
        systems=systems,
        grounder=grounder,
        audit=stores.audit,
        usage=stores.usage,
        approvals=stores.approvals,
        executions=stores.executions,
        notifier=notifier if notifier is not None else default_notifier(settings, governance.directory),
        clock=now,
        dry_run=dry_run,
        round_limit=settings.round_limit,
        tracing=tracing.from_settings(settings),
    )


def default_notifier(settings: Settings, directory: Directory) -> Any:
    """Slack when a bot token is set (posted before the call runs), else the log."""
    from agent.run.notifier import LogNotifier, SlackNotifier

    if settings.slack_bot_token is None:
        return LogNotifier()
    from slack_sdk import WebClient

    api = settings.slack_api_url if settings.slack_api_url.endswith("/") else settings.slack_api_url + "/"
    client = WebClient(token=settings.slack_bot_token.get_secret_value(), base_url=api, timeout=10)
    return SlackNotifier(client, directory)


def open_session(settings: Settings, **kwargs: Any) -> Any:
    """An ``AgentSession`` on the checkpoints the settings name."""
    from agent.run.session import AgentSession

    return AgentSession(
        build_agent_deps(settings, **kwargs),
        open_checkpointer(settings),
        keep_history=settings.keep_checkpoint_history,
    )


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
        raise ConfigurationError(
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


def servicenow_from_settings(settings: Settings) -> Any:
    """The ServiceNow ITSM adapter (``tools.servicenow.ServiceNowITSM``) the settings describe."""
    from tools.servicenow import BasicAuth, BearerToken, ServiceNowITSM

    if not settings.servicenow_url:
        raise ConfigurationError("OPSLAYER_ITSM_BACKEND=servicenow needs OPSLAYER_SERVICENOW_URL")
    auth: BasicAuth | BearerToken
    if settings.servicenow_token is not None:
        auth = BearerToken(token=settings.servicenow_token)
    elif settings.servicenow_user and settings.servicenow_password is not None:
        auth = BasicAuth(user=settings.servicenow_user, password=settings.servicenow_password)
    else:
        raise ConfigurationError(
            "ServiceNow needs OPSLAYER_SERVICENOW_TOKEN (OAuth bearer) or both OPSLAYER_SERVICENOW_USER "
            "and OPSLAYER_SERVICENOW_PASSWORD (basic auth)"
        )
    return ServiceNowITSM(settings.servicenow_url, auth=auth, timeout_s=settings.servicenow_timeout_s)


def tune_garbage_collector() -> None:
    """For long-running service processes (``serve``, ``worker``), once started: everything loaded so far
    (modules, the policy, the compiled graph) is frozen out of the collector's scans, and young
    collections run every 50,000 allocations instead of CPython's default 700. A turn allocates many
    short-lived objects; with the defaults, collections took a noticeable share of a busy server's CPU
    and their full passes paused every turn in flight (``make bench``, ``service``). Collection still
    runs: only less often.
    """
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)
