"""Settings of the budgets package; the lead composes them into the service's ``Settings``."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class BudgetSettings(BaseSettings):
    """How spending is estimated before the CLI reports its own cost. Each alias is the environment variable."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, case_sensitive=False)

    # USD per million tokens by model-name fragment, merged over the built-in table (meter.DEFAULT_PRICES), e.g.
    # {"sonnet": {"input": 3, "output": 15, "cache_write": 3.75, "cache_read": 0.3}}. The longest fragment found
    # in a model's name wins; a model no fragment matches is priced as the dearest entry.
    prices: dict[str, dict[str, float]] = Field(
        default_factory=dict, validation_alias=AliasChoices("CC_EXECUTOR_AGENT_PRICES")
    )
