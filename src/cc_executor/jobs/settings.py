"""What the job core is configured with: plain values, read and checked by ``config.Settings.job_settings()``.

Why a copy of its own: the job core must not depend on how the service reads its environment (pydantic,
variable names, error messages), and a test or an embedder can build one without any environment at all.
Field names follow ``config.Settings`` so that a setting is found under one name everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True, kw_only=True)
class JobSettings:
    """Frozen: the manager and its collaborators read it at any time, so nothing may change it under them."""

    # --- where jobs are kept -------------------------------------------------------------------
    state_dir: Path
    # --- admission -----------------------------------------------------------------------------
    max_jobs: int
    max_jobs_per_session: int
    groups: tuple[tuple[str, int], ...] = ()  # concurrency groups and their limits (CC_EXECUTOR_GROUPS)
    default_execution_timeout: float | None  # None: no wall-clock limit unless the request or history gives one
    # --- the job's process ---------------------------------------------------------------------
    shell: str  # an absolute path, resolved by config
    job_user: str | None  # None: jobs run as the server's user
    job_env_exclude: tuple[str, ...]
    process_cleanup_timeout: float
    leftover_drain: float
    stream_timeout: float  # the idle (stall) timeout of a job whose request gave none
    # --- sessions ------------------------------------------------------------------------------
    reconnect_grace: float
    # --- output and its log --------------------------------------------------------------------
    max_buffer_size: int
    output_chunk_size: int
    output_memory_tail: int
    output_memory_total: int  # all live jobs' tails together (jobs/memory_tail.py)
    partial_line_flush: float
    log_full_buffer: int
    output_cap: int | None  # CC_EXECUTOR_MAX_OUTPUT_BYTES
    cancel_at_output_cap: bool  # CC_EXECUTOR_OUTPUT_LIMIT_ACTION=cancel
    stop_on_log_failure: bool  # CC_EXECUTOR_ON_LOG_FULL=stop
    # --- retention of finished jobs ------------------------------------------------------------
    job_retention_count: int
    job_retention_days: float
    job_retention_bytes: int

    @property
    def jobs_dir(self) -> Path:
        return self.state_dir / "jobs"
