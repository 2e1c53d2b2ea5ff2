"""Settings of the notify package (webhooks and the command notifier); the lead composes them into ``Settings``.

``CC_EXECUTOR_WEBHOOKS`` is read two ways so that the simple case stays simple: a comma-separated list of URLs
(every event to each), or a JSON list of targets with their events, which is also the only way to configure a
command notifier besides the ``CC_EXECUTOR_NOTIFY_COMMAND`` shorthand.
"""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .events import ALL_EVENTS, Target, parse_targets


class NotifySettings(BaseSettings):
    """Where job notifications go and how hard to try. Each alias is the environment variable."""

    # hide_input_in_errors: a webhook URL often carries a token (in its path or userinfo); errors must not echo it.
    model_config = SettingsConfigDict(
        extra="ignore", populate_by_name=True, case_sensitive=False, hide_input_in_errors=True
    )

    # Server-wide targets: "https://a/hook,https://b/hook" or
    # [{"url": "https://a/hook", "events": ["ended"]}, {"command": "notify-send cc-executor", "events": ["*"]}].
    webhooks: Annotated[list[Target], NoDecode] = Field(
        default_factory=list, validation_alias=AliasChoices("CC_EXECUTOR_WEBHOOKS")
    )
    # The HMAC key of X-CC-Executor-Signature; unset: generated once into <state dir>/webhook_secret.
    webhook_secret: SecretStr | None = Field(
        default=None, repr=False, validation_alias=AliasChoices("CC_EXECUTOR_WEBHOOK_SECRET")
    )
    # Shorthand for one command target that gets every event (the event's JSON on its stdin).
    notify_command: str | None = Field(default=None, validation_alias=AliasChoices("CC_EXECUTOR_NOTIFY_COMMAND"))
    # Attempts per delivery before it is marked failed (the first try included).
    max_attempts: int = Field(default=8, ge=1, validation_alias=AliasChoices("CC_EXECUTOR_WEBHOOK_MAX_ATTEMPTS"))
    # Seconds one attempt may take (an HTTP request, or a command before its process group is killed).
    timeout: float = Field(default=10.0, gt=0, validation_alias=AliasChoices("CC_EXECUTOR_WEBHOOK_TIMEOUT"))
    # Seconds before the first retry; doubled for each further one, up to backoff_max, less up to 10% jitter.
    backoff: float = Field(default=1.0, ge=0, validation_alias=AliasChoices("CC_EXECUTOR_WEBHOOK_BACKOFF"))
    backoff_max: float = Field(default=300.0, ge=0, validation_alias=AliasChoices("CC_EXECUTOR_WEBHOOK_BACKOFF_MAX"))
    # Deliveries attempted at the same time (the rest wait their turn).
    max_in_flight: int = Field(default=8, ge=1, validation_alias=AliasChoices("CC_EXECUTOR_WEBHOOK_MAX_IN_FLIGHT"))

    @field_validator("webhooks", mode="before")
    @classmethod
    def _parse_webhooks(cls, value: object) -> list[Target]:
        if isinstance(value, str):
            text = value.strip()
            if not text:
                return []
            if text.startswith("["):
                try:
                    value = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"CC_EXECUTOR_WEBHOOKS is not valid JSON: {exc}") from None
            else:
                value = [part.strip() for part in text.split(",") if part.strip()]
        return parse_targets(value, source="server", where="CC_EXECUTOR_WEBHOOKS")

    @field_validator("notify_command", mode="before")
    @classmethod
    def _blank_command_is_none(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    def server_targets(self) -> list[Target]:
        """``webhooks`` plus the ``notify_command`` shorthand (for all events)."""
        targets = list(self.webhooks)
        if self.notify_command is not None:
            targets.append(Target(None, self.notify_command, ALL_EVENTS, "server"))
        return targets

    def secret_value(self) -> str | None:
        return self.webhook_secret.get_secret_value() if self.webhook_secret is not None else None
