"""Settings of cluster mode; the lead composes them into the service's ``Settings``.

Without ``CC_EXECUTOR_CLUSTER_URL`` the server is one node exactly as before: nothing here is used.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _env(name: str) -> AliasChoices:
    return AliasChoices(name)


class ClusterSettings(BaseSettings):
    """Where the cluster's Redis is, who this node is, and how long its silence means it is gone."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, case_sensitive=False)

    url: str | None = Field(None, validation_alias=_env("CC_EXECUTOR_CLUSTER_URL"))
    # Default: the host name and a hash of the state dir (two servers on one machine are two nodes).
    node_id: str | None = Field(None, validation_alias=_env("CC_EXECUTOR_NODE_ID"))
    node_labels: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=_env("CC_EXECUTOR_NODE_LABELS")
    )
    node_capacity: int = Field(16, ge=1, validation_alias=_env("CC_EXECUTOR_NODE_CAPACITY"))
    # A node whose liveness key has not been refreshed for this long is gone; it refreshes it every third of it.
    node_ttl: float = Field(10.0, ge=1.0, validation_alias=_env("CC_EXECUTOR_NODE_TTL"))
    # Entries kept in a job's output stream (approximately: Redis trims whole macro nodes).
    stream_maxlen: int = Field(200_000, ge=100, validation_alias=_env("CC_EXECUTOR_CLUSTER_STREAM_MAXLEN"))
    # How long a finished job's stream and summary stay in Redis.
    retention_seconds: float = Field(7 * 86400.0, gt=0, validation_alias=_env("CC_EXECUTOR_CLUSTER_RETENTION"))
    prefix: str = Field("cc_executor:cluster", min_length=1, validation_alias=_env("CC_EXECUTOR_CLUSTER_PREFIX"))
    # One Redis operation (and a control request's wait for the owning node's answer) at most this long.
    op_timeout: float = Field(5.0, gt=0, validation_alias=_env("CC_EXECUTOR_CLUSTER_OP_TIMEOUT"))

    @field_validator("url", "node_id", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value.strip() if isinstance(value, str) else value

    @field_validator("node_labels", mode="before")
    @classmethod
    def _split_labels(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("node_id")
    @classmethod
    def _plain_id(cls, value: str | None) -> str | None:
        if value is not None and (len(value) > 100 or any(ch.isspace() or ch in ":*?[]" for ch in value)):
            raise ValueError("must be at most 100 characters, without white space or any of : * ? [ ]")
        return value
