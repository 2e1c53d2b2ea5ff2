"""Settings of the timing package; the lead composes them into the service's ``Settings``.

Defaults are justified in ``docs/timing.md`` (they were tuned with ``bench/timeout_estimator.py``).
"""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _env(name: str) -> AliasChoices:
    return AliasChoices(name)


class TimingSettings(BaseSettings):
    """Where run history lives, how timeouts are learned from it and how machine load stretches them."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, case_sensitive=False)

    # --- history store -------------------------------------------------------------------------
    redis_url: str | None = Field(None, validation_alias=_env("REDIS_URL"))
    redis_prefix: str = Field("cc_executor:history", min_length=1, validation_alias=_env("CC_EXECUTOR_REDIS_PREFIX"))
    history_max_records: int = Field(20000, ge=10, validation_alias=_env("CC_EXECUTOR_HISTORY_MAX_RECORDS"))
    history_max_age_days: float = Field(90.0, gt=0, validation_alias=_env("CC_EXECUTOR_HISTORY_MAX_AGE_DAYS"))
    history_prune_every: int = Field(100, ge=1, validation_alias=_env("CC_EXECUTOR_HISTORY_PRUNE_EVERY"))
    history_op_timeout: float = Field(2.0, gt=0, validation_alias=_env("CC_EXECUTOR_HISTORY_OP_TIMEOUT"))
    history_retry_interval: float = Field(5.0, ge=0, validation_alias=_env("CC_EXECUTOR_HISTORY_RETRY_INTERVAL"))

    # --- estimator -----------------------------------------------------------------------------
    timeout_quantile: float = Field(0.95, gt=0, lt=1, validation_alias=_env("CC_EXECUTOR_TIMEOUT_QUANTILE"))
    timeout_safety_margin: float = Field(1.5, ge=1.0, validation_alias=_env("CC_EXECUTOR_TIMEOUT_SAFETY_MARGIN"))
    # When the runs that were stopped early dominate past the quantile: the longest of them times this.
    timeout_growth: float = Field(2.0, gt=1.0, validation_alias=_env("CC_EXECUTOR_TIMEOUT_GROWTH"))
    # A job still printing at its learned deadline gets it once more, by (growth - 1) x the timeout.
    extend_working: bool = Field(True, validation_alias=_env("CC_EXECUTOR_TIMEOUT_EXTEND_WORKING"))
    # A learned timeout of a command is never shorter (an agent run's never shorter than the default).
    min_learned_timeout: float = Field(
        600.0, gt=0, validation_alias=AliasChoices("CC_EXECUTOR_MIN_LEARNED_TIMEOUT", "CC_EXECUTOR_TIMEOUT_MIN")
    )
    timeout_max: float = Field(6 * 3600.0, gt=0, validation_alias=_env("CC_EXECUTOR_TIMEOUT_MAX"))
    timeout_min_samples: int = Field(5, ge=1, validation_alias=_env("CC_EXECUTOR_TIMEOUT_MIN_SAMPLES"))
    timeout_sample_window: int = Field(50, ge=1, validation_alias=_env("CC_EXECUTOR_TIMEOUT_SAMPLE_WINDOW"))

    # --- load multiplier -----------------------------------------------------------------------
    load_knee: float = Field(0.8, ge=0, validation_alias=_env("CC_EXECUTOR_LOAD_KNEE"))
    load_slope: float = Field(1.0, ge=0, validation_alias=_env("CC_EXECUTOR_LOAD_SLOPE"))
    load_max_multiplier: float = Field(3.0, ge=1.0, validation_alias=_env("CC_EXECUTOR_LOAD_MAX_MULTIPLIER"))
    monitor_interval: float = Field(1.0, gt=0, validation_alias=_env("CC_EXECUTOR_MONITOR_INTERVAL"))
    monitor_cpu_window: int = Field(10, ge=1, validation_alias=_env("CC_EXECUTOR_MONITOR_CPU_WINDOW"))

    @field_validator("redis_url", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @model_validator(mode="after")
    def _ordered_bounds(self) -> TimingSettings:
        if self.min_learned_timeout > self.timeout_max:
            raise ValueError("CC_EXECUTOR_MIN_LEARNED_TIMEOUT must not exceed CC_EXECUTOR_TIMEOUT_MAX")
        return self
