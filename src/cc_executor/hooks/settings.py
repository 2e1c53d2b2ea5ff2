"""Settings of the hooks package; the lead composes them into the service's ``Settings``."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_user_config_dir() -> Path:
    """``$XDG_CONFIG_HOME/cc-executor``, else ``~/.config/cc-executor`` (where a user-wide hooks.json lives)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "cc-executor"


class HooksSettings(BaseSettings):
    """Where hooks are configured and how long they may run. Each alias is the environment variable."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, case_sensitive=False)

    enabled: bool = Field(True, validation_alias=AliasChoices("CC_EXECUTOR_HOOKS_ENABLED"))
    hooks_file: Path | None = Field(None, validation_alias=AliasChoices("CC_EXECUTOR_HOOKS_FILE"))
    user_config_dir: Path = Field(
        default_factory=default_user_config_dir, validation_alias=AliasChoices("CC_EXECUTOR_CONFIG_DIR")
    )
    timeout: float = Field(60.0, gt=0, validation_alias=AliasChoices("CC_EXECUTOR_HOOK_TIMEOUT"))
    kill_grace: float = Field(2.0, ge=0, validation_alias=AliasChoices("CC_EXECUTOR_HOOK_KILL_GRACE"))
    output_tail_bytes: int = Field(8 * 1024, ge=0, validation_alias=AliasChoices("CC_EXECUTOR_HOOK_OUTPUT_TAIL"))
    max_capture_bytes: int = Field(64 * 1024, ge=1024, validation_alias=AliasChoices("CC_EXECUTOR_HOOK_MAX_CAPTURE"))
