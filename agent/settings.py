"""The one settings class. Built once, in the entry point, and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from governance.defaults import DEFAULT_SETTLER_ROLES


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPSLAYER_", env_file=".env", extra="ignore")

    home: Path = Field(default=Path(".opslayer"), description="Folder that holds all local state")
    policy_file: Path | None = Field(default=None, description="Policy YAML; the shipped default if unset")
    directory_file: Path | None = Field(
        default=None, description="People directory YAML; shipped default if unset"
    )
    itsm_backend: Literal["local", "servicenow"] = "local"
    servicenow_url: str | None = None
    servicenow_user: str | None = None
    servicenow_password: SecretStr | None = None
    servicenow_token: SecretStr | None = None
    servicenow_timeout_s: float = 10.0
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_API_KEY", "OPSLAYER_OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_BASE_URL", "OPSLAYER_OPENAI_BASE_URL")
    )
    model: str = "gpt-4.1-mini"
    llm_timeout_s: float = 60.0
    llm_max_retries: int = 2
    round_limit: int = 8
    grounding: bool = Field(default=True, description="Retrieve runbooks and past incidents for each request")
    grounding_k: int = Field(default=4, ge=1, le=10)
    chroma_url: str | None = Field(default=None, description="Chroma server URL; embedded store if unset")
    embedding_backend: Literal["minilm", "openai"] = "minilm"
    embedding_model: str = "text-embedding-3-small"
    approval_ttl_hours: float = Field(
        default=24.0, gt=0, description="How long an approval request waits for its votes before it expires"
    )
    settle_roles: tuple[str, ...] = Field(
        default=DEFAULT_SETTLER_ROLES,
        description="Roles whose holders may settle executions a crash left started (`opslayer executions`)",
    )
    database_url: SecretStr | None = Field(
        default=None,
        description="SQLAlchemy URL of a PostgreSQL database (postgresql+psycopg://...) holding every store: "
        "audit, approvals, executions, usage, API tokens, worker leases and conversation checkpoints. "
        "Unset: SQLite files under OPSLAYER_HOME.",
    )
    keep_checkpoint_history: bool = Field(
        default=False,
        description="Keep every LangGraph checkpoint of a thread; by default each turn deletes those its "
        "latest supersedes (resuming needs only the latest; the audit trail keeps what happened)",
    )
    database_pool_size: int = Field(
        default=10,
        ge=1,
        le=1000,
        description="With OPSLAYER_DATABASE_URL: the most connections one process opens to PostgreSQL for "
        "the governance stores, and again for the conversation checkpoints (threads wait for a free one)",
    )
    # --- the service (`opslayer serve`, `opslayer worker`) ---
    api_max_body_bytes: int = Field(default=256 * 1024, ge=1024, description="Largest request body accepted")
    api_page_max: int = Field(default=500, ge=1, description="Largest page a list endpoint returns")
    send_rate_per_minute: int = Field(
        default=30, ge=1, description="Messages one person may send per minute over the API"
    )
    idempotency_retention_hours: float = Field(
        default=24.0,
        ge=1,
        description="How long the API keeps the Idempotency-Key of a send: a retry within it gets the first "
        "answer again; after it the key is new",
    )
    trusted_header: str | None = Field(
        default=None, description="Header naming the caller, set by an auth proxy (e.g. X-Forwarded-User)"
    )
    trusted_proxies: tuple[str, ...] = Field(
        default=(), description="Addresses (or networks) whose trusted header is believed"
    )
    token_expiry_days: float = Field(default=90.0, gt=0, description="Default lifetime of an API token")
    serve_worker: bool = Field(default=True, description="`opslayer serve` runs one worker in-process")
    worker_poll_s: float = Field(default=0.2, gt=0, description="How often an idle worker looks for work")
    worker_lease_s: float = Field(
        default=60.0, gt=0, description="How long a worker owns a piece of work before another may take it"
    )
    head_publish_interval_s: float = Field(
        default=60.0, gt=0, description="How often the worker publishes the audit head outside the chain"
    )
    oversight_interval_s: float = Field(
        default=30.0,
        gt=0,
        description="How often the worker announces veto windows, reminds, escalates and runs the monitors",
    )
    head_file: Path | None = Field(
        default=None, description="Where the audit head is published (OPSLAYER_HOME/audit-head.json if unset)"
    )
    # --- the review page (`opslayer serve`, /login) ---
    web_session_hours: float = Field(
        default=12.0, gt=0, le=24 * 30, description="How long a review-page sign-in lasts"
    )
    # --- impact (`opslayer report`, GET /v1/impact, the opslayer_impact_* metrics) and traces ---
    impact_review_minutes: float = Field(
        default=5.0, ge=0, le=480, description="Minutes of a person's time one approval vote is counted as"
    )
    impact_roles: tuple[str, ...] = Field(
        default=("auditor",),
        description="Roles that may read the impact figures (besides everyone who manages someone)",
    )
    otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP traces endpoint (http://collector:4318/v1/traces); traces are off if unset",
    )
    otlp_headers: SecretStr | None = Field(
        default=None, description="Headers sent with every trace export, as k=v,k2=v2 (an API key, say)"
    )

    # --- the Slack app (mounted in `opslayer serve` only when the bot token and signing secret are set) ---
    slack_bot_token: SecretStr | None = Field(default=None, description="Slack bot token (xoxb-...)")
    slack_signing_secret: SecretStr | None = Field(
        default=None, description="Slack signing secret: every request to /slack/* is verified with it"
    )
    slack_app_token: SecretStr | None = Field(
        default=None, description="Slack app-level token (xapp-...) for Socket Mode (`opslayer slack`)"
    )
    slack_retention_hours: float = Field(
        default=24.0,
        ge=1,
        le=24 * 365,
        description="How long the Slack app keeps event ids, finished asks and spent step-up links "
        "(longer than Slack retries a delivery; what was asked stays in the audit trail)",
    )
    slack_api_url: str = Field(
        default="https://slack.com/api/", description="Slack Web API base URL (a stand-in in tests)"
    )
    public_url: str | None = Field(
        default=None,
        description="Where people reach this service (https://ops.example.com): links in Slack cards",
    )

    @field_validator("home", mode="before")
    @classmethod
    def _home_not_empty(cls, value: object) -> object:
        # Path("") is the current folder: an empty OPSLAYER_HOME would scatter state wherever one stands
        if isinstance(value, str) and not value.strip():
            raise ValueError("is empty; unset it for ./.opslayer, or name a folder")
        return value

    @property
    def systems_db(self) -> Path:
        return self.home / "systems.db"

    @property
    def governance_db(self) -> Path:
        return self.home / "governance.db"

    @property
    def knowledge_dir(self) -> Path:
        return self.home / "knowledge"

    @property
    def checkpoints_db(self) -> Path:
        return self.home / "checkpoints.db"

    @property
    def published_head_file(self) -> Path:
        return self.head_file or self.home / "audit-head.json"

    @property
    def on_postgres(self) -> bool:
        return self.database_url is not None
