"""The one settings class. Built once, in the entry point, and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
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
    approval_ttl_hours: float = 24.0
    settle_roles: tuple[str, ...] = Field(
        default=DEFAULT_SETTLER_ROLES,
        description="Roles whose holders may settle executions a crash left started (`opslayer executions`)",
    )

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
