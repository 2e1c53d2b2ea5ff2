"""Settings of the security package; the lead composes them into the service's ``Settings``."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DENIED_PATTERNS_ENV = "CC_EXECUTOR_DENIED_PATTERNS"


def split_patterns(value: str) -> list[str]:
    """Newline-separated when the text has a newline (so a pattern may hold a comma), else comma-separated."""
    separator = "\n" if "\n" in value else ","
    return [part.strip() for part in value.split(separator) if part.strip()]


class AllowlistSettings(BaseSettings):
    """The deny-list (``ALLOWED_COMMANDS`` itself is read by config.py). Each alias is the environment variable."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, case_sensitive=False)

    denied_patterns: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=AliasChoices(DENIED_PATTERNS_ENV)
    )

    @field_validator("denied_patterns", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, str):
            return split_patterns(value)
        return value

    @field_validator("denied_patterns")
    @classmethod
    def _compiles(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                message = f"{DENIED_PATTERNS_ENV}: {pattern!r} is not a valid regular expression ({exc})"
                raise ValueError(message) from None
        return value

    def compiled(self) -> list[re.Pattern[str]]:
        """The patterns compiled once, for ``check_command``'s ``denied_patterns``."""
        return [re.compile(pattern) for pattern in self.denied_patterns]
