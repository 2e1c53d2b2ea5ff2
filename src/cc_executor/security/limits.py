"""Per-job resource limits (``setrlimit`` in the child before exec) and the per-job output cap settings.

Why only opt-in: every default is "unlimited", because a ``preexec_fn`` forces ``subprocess`` off its fast
``vfork`` path, and because tight limits break ordinary tools: Node (the ``claude`` CLI) reserves large virtual
ranges, so an address-space limit of 16 GiB or less makes its ``fetch`` fail. Limits are inherited by every
process of the job's tree, but each process counts its own CPU time and address space; RLIMIT_NPROC counts
all processes of the job's *user* (not of the job) and does not bind root.
"""

from __future__ import annotations

import re
import resource
import signal
from typing import Any, Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

OutputLimitAction = Literal["stop_logging", "cancel"]

# Seconds between SIGXCPU (soft limit: catchable, recognisable) and SIGKILL (hard limit) for RLIMIT_CPU.
CPU_KILL_GRACE = 5

_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_UNSET = {"", "0", "none", "null", "unlimited"}


def parse_size(value: Any) -> int | None:
    """Bytes from ``4096``, ``512M``, ``32GiB`` (binary units); None for 0/none/unlimited/empty."""
    if value is None:
        return None
    if isinstance(value, int):
        return value or None
    text = str(value).strip()
    if text.lower() in _UNSET:
        return None
    match = _SIZE.match(text)
    if match is None:
        raise ValueError("must be a byte count such as 4096, 512M or 32G, or 0/none for no limit")
    unit = (match.group(2) or "").lower()[:1]
    return int(match.group(1)) * _UNITS[unit] or None


def _count_or_none(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() in _UNSET:
        return None
    if value == 0:
        return None
    return value


class ResourceLimits(BaseSettings):
    """Limits applied to every job's processes; None means inherited from the server (usually unlimited)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, case_sensitive=False)

    address_space: int | None = Field(None, validation_alias=AliasChoices("CC_EXECUTOR_LIMIT_AS"))
    cpu_seconds: int | None = Field(None, ge=1, validation_alias=AliasChoices("CC_EXECUTOR_LIMIT_CPU"))
    open_files: int | None = Field(None, ge=16, validation_alias=AliasChoices("CC_EXECUTOR_LIMIT_NOFILE"))
    processes: int | None = Field(None, ge=1, validation_alias=AliasChoices("CC_EXECUTOR_LIMIT_NPROC"))
    max_output_bytes: int | None = Field(None, validation_alias=AliasChoices("CC_EXECUTOR_MAX_OUTPUT_BYTES"))
    output_limit_action: OutputLimitAction = Field(
        "stop_logging", validation_alias=AliasChoices("CC_EXECUTOR_OUTPUT_LIMIT_ACTION")
    )

    @field_validator("address_space", "max_output_bytes", mode="before")
    @classmethod
    def _size(cls, value: Any) -> int | None:
        return parse_size(value)

    @field_validator("cpu_seconds", "open_files", "processes", mode="before")
    @classmethod
    def _count(cls, value: Any) -> Any:
        return _count_or_none(value)

    @field_validator("output_limit_action", mode="before")
    @classmethod
    def _action(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    def rlimits(self) -> list[tuple[int, int, int]]:
        """``(resource, soft, hard)`` for each configured limit, never above the server's own hard limit."""
        wanted: list[tuple[int, int, int]] = []
        if self.address_space is not None:
            wanted.append((resource.RLIMIT_AS, self.address_space, self.address_space))
        if self.cpu_seconds is not None:
            wanted.append((resource.RLIMIT_CPU, self.cpu_seconds, self.cpu_seconds + CPU_KILL_GRACE))
        if self.open_files is not None:
            wanted.append((resource.RLIMIT_NOFILE, self.open_files, self.open_files))
        if self.processes is not None:
            wanted.append((resource.RLIMIT_NPROC, self.processes, self.processes))
        return [(res, *_clamp(res, soft, hard)) for res, soft, hard in wanted]

    def named_rlimits(self) -> dict[str, tuple[int, int]] | None:
        """The same limits keyed by name (``{"RLIMIT_AS": (soft, hard)}``), as the spawner takes them."""
        names = {getattr(resource, n): n for n in dir(resource) if n.startswith("RLIMIT_")}
        return {names[res]: (soft, hard) for res, soft, hard in self.rlimits()} or None


def _clamp(res: int, soft: int, hard: int) -> tuple[int, int]:
    """Lower the pair to the current hard limit: a job may be limited more, never less, than the server."""
    current_hard = resource.getrlimit(res)[1]
    if current_hard != resource.RLIM_INFINITY:
        hard = min(hard, current_hard)
        soft = min(soft, hard)
    return soft, hard


def limit_signal_reason(returncode: int | None) -> str | None:
    """Which limit a job's exit points to: -SIGXCPU (-24) is the CPU limit, -SIGXFSZ (-25) a file size limit."""
    if returncode == -signal.SIGXCPU:
        return "cpu time limit (RLIMIT_CPU) exceeded"
    if returncode == -signal.SIGXFSZ:
        return "file size limit (RLIMIT_FSIZE) exceeded"
    return None
