"""Settings of the security package; the lead composes them into the service's ``Settings``."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .limits import ResourceLimits
from .origin import normalize_origin
from .rate_limit import RateLimiter, make_rate_limiter

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


class SecuritySettings(AllowlistSettings):
    """All of the security package's settings: the deny-list, browser checks, rate limit and job limits."""

    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=AliasChoices("CC_EXECUTOR_ALLOWED_ORIGINS")
    )
    execute_rate: float = Field(20.0, ge=0, validation_alias=AliasChoices("CC_EXECUTOR_EXECUTE_RATE"))
    execute_burst: int = Field(100, ge=1, validation_alias=AliasChoices("CC_EXECUTOR_EXECUTE_BURST"))
    resource_limits: ResourceLimits = Field(default_factory=ResourceLimits)

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("allowed_origins")
    @classmethod
    def _origins_parse(cls, value: list[str]) -> list[str]:
        for entry in value:
            if entry != "*" and normalize_origin(entry) is None:
                raise ValueError(f"{entry!r} is not an origin of the form scheme://host[:port], or *")
        return value

    def execute_limiter(self) -> RateLimiter | None:
        """A fresh limiter for one session's job starts; None when CC_EXECUTOR_EXECUTE_RATE is 0."""
        return make_rate_limiter(self.execute_rate, self.execute_burst)
