"""Settings of the client package: where the server is and how to authenticate, from the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ..config import default_state_dir

DEFAULT_URL = "ws://127.0.0.1:8003/ws/mcp"

SendCwd = Literal["auto", "always", "never"]


class ClientSettings(BaseSettings):
    """What a client reads from the environment. Each alias is the environment variable."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, case_sensitive=False)

    url: str = Field(DEFAULT_URL, validation_alias=AliasChoices("CC_EXECUTOR_URL"))
    token: str | None = Field(None, validation_alias=AliasChoices("CC_EXECUTOR_TOKEN"))
    state_dir: Path = Field(default_factory=default_state_dir, validation_alias=AliasChoices("CC_EXECUTOR_STATE_DIR"))
    # Whether a job given no cwd runs in the caller's directory: "auto" when the server is on this machine (a
    # loopback URL), "always", or "never" (the server's own default directory).
    send_cwd: SendCwd = Field("auto", validation_alias=AliasChoices("CC_EXECUTOR_SEND_CWD"))
    # Ask for output as binary frames (docs/protocol.md): no JSON escaping of output on either side. Off: JSON.
    binary_output: bool = Field(True, validation_alias=AliasChoices("CC_EXECUTOR_BINARY_OUTPUT"))
