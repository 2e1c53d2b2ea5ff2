"""Settings of the agents package; the lead composes them into the service's ``Settings``."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MiB = 1024 * 1024


class AgentSettings(BaseSettings):
    """How agent output is watched. Each alias is the environment variable that sets it."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, case_sensitive=False)

    # Off: no job gets an observer (no summaries, no limit notifications).
    enabled: bool = Field(True, validation_alias=AliasChoices("CC_EXECUTOR_AGENTS_ENABLED"))
    # Longest line (in characters) assembled for parsing; a longer one is skipped, not an error.
    line_cap: int = Field(32 * MiB, ge=1024, validation_alias=AliasChoices("CC_EXECUTOR_AGENT_LINE_CAP"))
    # The summary keeps at most this much of the final result text (``result_truncated`` says when cut).
    result_max_chars: int = Field(4000, ge=0, validation_alias=AliasChoices("CC_EXECUTOR_AGENT_RESULT_MAX_CHARS"))
    # Seconds a job may live on after the CLI printed its final ``result`` before the job ends with the result's
    # status and what is left of its tree is stopped (a child it started still holds the pipes); 0: never.
    result_grace: float = Field(30.0, ge=0, validation_alias=AliasChoices("CC_EXECUTOR_AGENT_RESULT_GRACE"))
    # No stream-json event this many seconds after the start: one ``process.stalled`` with phase "startup";
    # 0: off.
    start_timeout: float = Field(300.0, ge=0, validation_alias=AliasChoices("CC_EXECUTOR_AGENT_START_TIMEOUT"))
    # A run that hits its account's usage limit closes that account's window until the reset it names plus this
    # many seconds; agent jobs of the account wait for it to open (docs/agents.md, "Usage windows").
    usage_window_margin: float = Field(30.0, ge=0, validation_alias=AliasChoices("CC_EXECUTOR_USAGE_WINDOW_MARGIN"))
    # How long a permission request of a headless agent (--permission-prompt-tool) waits for an answer before it
    # is denied, unless the job's ``permission_timeout`` says otherwise (docs/agents.md, "Permission bridge").
    permission_timeout: float = Field(
        300.0, gt=0, le=86400, validation_alias=AliasChoices("CC_EXECUTOR_PERMISSION_TIMEOUT")
    )
