"""One settings object for the whole service, read from the environment.

Names and defaults follow the original CC Executor (``DEFAULT_PORT``, ``MAX_SESSIONS`` ...) so an existing
deployment's environment keeps working; new settings carry the ``CC_EXECUTOR_`` prefix. Each sub-package
that needs settings of its own (timing, hooks, security) defines a small ``BaseSettings`` class of its own
and is composed here, so there is still one object to pass around and one place that fails at start. The job
core reads no environment: it gets plain values, ``Settings.job_settings()`` (jobs/settings.py).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .agents.settings import AgentSettings
from .budgets.settings import BudgetSettings
from .cluster.settings import ClusterSettings
from .hooks.settings import HooksSettings
from .jobs.job_env import parse_exclude, resolve_job_user
from .jobs.job_groups import parse_groups
from .jobs.settings import JobSettings
from .notify.settings import NotifySettings
from .security.limits import ResourceLimits
from .security.settings import SecuritySettings
from .timing.settings import TimingSettings

SERVICE_NAME = "cc_executor_mcp"
WS_PATH = "/ws/mcp"
WS_PATH_ALIAS = "/ws"
MiB = 1024 * 1024


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


def default_state_dir() -> Path:
    """``$XDG_STATE_HOME/cc-executor``, else ``~/.local/state/cc-executor``."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "cc-executor"


class Settings(BaseSettings):
    """Every knob of the server. Each field's alias is the environment variable that sets it."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, case_sensitive=False)

    # --- service -------------------------------------------------------------------------------
    host: str = Field("127.0.0.1", validation_alias=_env("CC_EXECUTOR_HOST"))
    port: int = Field(8003, ge=0, le=65535, validation_alias=_env("DEFAULT_PORT", "CC_EXECUTOR_PORT"))
    log_level: str = Field("INFO", validation_alias=_env("LOG_LEVEL"))
    debug: bool = Field(False, validation_alias=_env("DEBUG"))
    state_dir: Path = Field(default_factory=default_state_dir, validation_alias=_env("CC_EXECUTOR_STATE_DIR"))
    token: str | None = Field(None, validation_alias=_env("CC_EXECUTOR_TOKEN"))

    # --- sessions and WebSocket ----------------------------------------------------------------
    max_sessions: int = Field(100, ge=1, validation_alias=_env("MAX_SESSIONS"))
    session_timeout: float = Field(3600.0, gt=0, validation_alias=_env("SESSION_TIMEOUT"))
    ws_ping_interval: float = Field(20.0, gt=0, validation_alias=_env("WS_PING_INTERVAL"))
    ws_ping_timeout: float = Field(30.0, gt=0, validation_alias=_env("WS_PING_TIMEOUT"))
    ws_max_size: int = Field(10 * MiB, ge=1024, validation_alias=_env("WS_MAX_SIZE"))
    heartbeat_interval: float = Field(30.0, gt=0, validation_alias=_env("CC_EXECUTOR_HEARTBEAT_INTERVAL"))
    reconnect_grace: float = Field(60.0, ge=0, validation_alias=_env("CC_EXECUTOR_RECONNECT_GRACE"))
    max_batch_size: int = Field(1000, ge=1, validation_alias=_env("CC_EXECUTOR_MAX_BATCH_SIZE"))

    # --- processes -----------------------------------------------------------------------------
    shell: str = Field("bash", validation_alias=_env("CC_EXECUTOR_SHELL"))
    default_execution_timeout: float | None = Field(3600.0, validation_alias=_env("DEFAULT_EXECUTION_TIMEOUT"))
    process_cleanup_timeout: float = Field(10.0, ge=0, validation_alias=_env("PROCESS_CLEANUP_TIMEOUT"))
    stream_timeout: float = Field(600.0, gt=0, validation_alias=_env("STREAM_TIMEOUT"))
    allowed_commands: Annotated[list[str] | None, NoDecode] = Field(None, validation_alias=_env("ALLOWED_COMMANDS"))
    usage_sample_interval: float = Field(2.0, gt=0, validation_alias=_env("CC_EXECUTOR_USAGE_SAMPLE_INTERVAL"))
    use_spawner: bool = Field(True, validation_alias=_env("CC_EXECUTOR_SPAWNER"))
    max_jobs: int = Field(1000, ge=1, validation_alias=_env("CC_EXECUTOR_MAX_JOBS"))
    max_jobs_per_session: int = Field(32, ge=1, validation_alias=_env("CC_EXECUTOR_MAX_JOBS_PER_SESSION"))
    # Concurrency groups and their limits, "agents=4,builds=2" (jobs/job_groups.py, docs/groups.md).
    groups: Annotated[dict[str, int], NoDecode] = Field(
        default_factory=dict, validation_alias=_env("CC_EXECUTOR_GROUPS")
    )
    # What of the server a job inherits, and who it runs as (jobs/job_env.py, docs/security.md).
    job_env_exclude: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=_env("CC_EXECUTOR_JOB_ENV_EXCLUDE")
    )
    job_user: str | None = Field(None, validation_alias=_env("CC_EXECUTOR_JOB_USER"))

    # --- retention of finished jobs and their logs ---------------------------------------------
    job_retention_count: int = Field(1000, ge=1, validation_alias=_env("CC_EXECUTOR_JOB_RETENTION_COUNT"))
    job_retention_days: float = Field(30.0, gt=0, validation_alias=_env("CC_EXECUTOR_JOB_RETENTION_DAYS"))
    job_retention_bytes: int = Field(4 * 1024 * MiB, ge=0, validation_alias=_env("CC_EXECUTOR_JOB_RETENTION_BYTES"))

    # --- output --------------------------------------------------------------------------------
    max_buffer_size: int = Field(8 * MiB, ge=1024, validation_alias=_env("MAX_BUFFER_SIZE"))
    output_chunk_size: int = Field(64 * 1024, ge=256, validation_alias=_env("CC_EXECUTOR_OUTPUT_CHUNK_SIZE"))
    # A reader that keeps up reads from memory; one that falls behind the tail reads the file back (slower).
    output_memory_tail: int = Field(16 * MiB, ge=0, validation_alias=_env("CC_EXECUTOR_OUTPUT_MEMORY_TAIL"))
    output_memory_total: int = Field(256 * MiB, ge=0, validation_alias=_env("CC_EXECUTOR_OUTPUT_MEMORY_TOTAL"))
    partial_line_flush: float = Field(0.05, ge=0, validation_alias=_env("CC_EXECUTOR_PARTIAL_LINE_FLUSH"))
    leftover_drain: float = Field(1.0, ge=0, validation_alias=_env("CC_EXECUTOR_LEFTOVER_DRAIN"))
    # When a job's log cannot be written (disk full): "keep" running and mark lost output, or "stop" the job.
    on_log_full: Literal["keep", "stop"] = Field("keep", validation_alias=_env("CC_EXECUTOR_ON_LOG_FULL"))
    log_full_buffer: int = Field(8 * MiB, ge=0, validation_alias=_env("CC_EXECUTOR_LOG_FULL_BUFFER"))

    # --- sub-packages (each reads its own variables) -------------------------------------------
    timing: TimingSettings = Field(default_factory=TimingSettings)
    hooks: HooksSettings = Field(default_factory=HooksSettings)
    agents: AgentSettings = Field(default_factory=AgentSettings)
    budgets: BudgetSettings = Field(default_factory=BudgetSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)

    @field_validator("allowed_commands", mode="before")
    @classmethod
    def _split_commands(cls, value: Any) -> Any:
        if isinstance(value, str):
            items = [part.strip() for part in value.split(",") if part.strip()]
            return items or None
        return value

    @field_validator("groups", mode="before")
    @classmethod
    def _parse_groups(cls, value: Any) -> Any:
        return parse_groups(value) if isinstance(value, str) else value

    @field_validator("default_execution_timeout", mode="before")
    @classmethod
    def _none_timeout(cls, value: Any) -> Any:
        # "0", "none" or "" mean: no wall-clock limit unless the request or history gives one.
        if isinstance(value, str) and value.strip().lower() in {"", "0", "none", "null"}:
            return None
        if value == 0:
            return None
        return value

    @field_validator("default_execution_timeout")
    @classmethod
    def _positive_timeout(cls, value: float | None) -> float | None:
        if value is not None and value < 0:
            raise ValueError("must be positive, or 0/none for no limit")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in {"CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"}:
            raise ValueError("must be one of CRITICAL, ERROR, WARNING, INFO, DEBUG")
        return level

    @field_validator("shell")
    @classmethod
    def _usable_shell(cls, value: str) -> str:
        name = value.strip()
        if Path(name).name not in {"bash", "zsh", "sh", "dash"}:
            raise ValueError("must be bash, zsh, sh or dash")
        found = shutil.which(name)
        if found is None:
            raise ValueError(f"shell {name!r} is not installed")
        return found

    @field_validator("job_env_exclude", mode="before")
    @classmethod
    def _split_exclude(cls, value: Any) -> Any:
        return list(parse_exclude(value)) if isinstance(value, str | list | tuple) else value

    @field_validator("job_user")
    @classmethod
    def _known_user(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return resolve_job_user(value).name  # raises "no such user ..."

    @field_validator("token")
    @classmethod
    def _token_shape(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if len(value) < 8 or any(ch.isspace() for ch in value):
            raise ValueError("must be at least 8 characters without white space")
        return value

    @model_validator(mode="after")
    def _cluster_history(self) -> Settings:
        # In cluster mode the nodes learn from one history: the cluster's Redis, unless REDIS_URL names another.
        if self.cluster.url is not None and self.timing.redis_url is None:
            self.timing.redis_url = self.cluster.url
        return self

    @property
    def jobs_dir(self) -> Path:
        return self.state_dir / "jobs"

    def job_settings(self) -> JobSettings:
        """What the job core reads, as plain values (the job core never sees this class)."""
        limits = self.security.resource_limits
        return JobSettings(
            state_dir=self.state_dir,
            max_jobs=self.max_jobs,
            max_jobs_per_session=self.max_jobs_per_session,
            groups=tuple(self.groups.items()),
            default_execution_timeout=self.default_execution_timeout,
            shell=self.shell,
            job_user=self.job_user,
            job_env_exclude=tuple(self.job_env_exclude),
            process_cleanup_timeout=self.process_cleanup_timeout,
            leftover_drain=self.leftover_drain,
            stream_timeout=self.stream_timeout,
            reconnect_grace=self.reconnect_grace,
            max_buffer_size=self.max_buffer_size,
            output_chunk_size=self.output_chunk_size,
            output_memory_tail=self.output_memory_tail,
            output_memory_total=self.output_memory_total,
            partial_line_flush=self.partial_line_flush,
            log_full_buffer=self.log_full_buffer,
            output_cap=limits.max_output_bytes,
            cancel_at_output_cap=limits.output_limit_action == "cancel",
            stop_on_log_failure=self.on_log_full == "stop",
            job_retention_count=self.job_retention_count,
            job_retention_days=self.job_retention_days,
            job_retention_bytes=self.job_retention_bytes,
        )


class ConfigError(Exception):
    """A setting from the environment is invalid; the message names the variable."""


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment (plus explicit overrides), with errors naming the variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            problems.append(f"{_variable_name(exc.title, field)}={err.get('input')!r}: {err['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None


_SECTIONS: dict[str, type[BaseSettings]] = {
    cls.__name__: cls
    for cls in (
        Settings,
        TimingSettings,
        HooksSettings,
        AgentSettings,
        BudgetSettings,
        NotifySettings,
        SecuritySettings,
        ResourceLimits,
    )
}


def _variable_name(model_title: str, field: str) -> str:
    """The environment variable behind ``field`` of the settings class that failed."""
    info = _SECTIONS.get(model_title, Settings).model_fields.get(field)
    alias = info.validation_alias if info else None
    names = getattr(alias, "choices", None) or [field]
    return str(names[0])


def setting_variables() -> frozenset[str]:
    """Every environment variable the service reads a setting from: what a test or a benchmark strips from the
    environment it starts a server with, so the developer's own settings never leak in."""
    names: set[str] = set()
    for section in _SECTIONS.values():
        for info in section.model_fields.values():
            names.update(str(name) for name in getattr(info.validation_alias, "choices", None) or [])
    return frozenset(names)
