"""The exit code a command gets for a job's end, the way a shell would report it."""

from __future__ import annotations

import signal
from typing import Any

EXIT_TIMED_OUT = 124  # as GNU timeout
EXIT_INTERRUPTED = 130  # 128 + SIGINT


def signal_number(name: Any) -> int | None:
    """``"SIGKILL"`` or ``9`` -> 9; None when it names no signal."""
    if isinstance(name, int):
        return name
    if isinstance(name, str):
        try:
            return int(signal.Signals[name if name.startswith("SIG") else f"SIG{name}"])
        except KeyError:
            return None
    return None


def signal_name(number: int) -> str:
    """9 -> ``"SIGKILL"`` (``"signal 99"`` for a number no signal has)."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def job_exit_code(status: str, exit_code: int | None, signal_name: Any = None) -> int:
    """0 for success, the job's own code, 124 for a timeout, 130 for a cancel, 128+N for a kill by signal N,
    and 1 for a failure with no code of its own (an agent error that exited 0, a job lost with the server)."""
    if status == "timed_out":
        return EXIT_TIMED_OUT
    if status == "cancelled":
        return EXIT_INTERRUPTED
    if exit_code is not None and exit_code < 0:
        return 128 + (-exit_code)
    number = signal_number(signal_name)
    if exit_code is None and number is not None:
        return 128 + number
    if status == "completed":
        return exit_code or 0
    return exit_code if exit_code else 1


def summary_exit_code(summary: dict[str, Any]) -> int:
    """``job_exit_code`` for a job summary (``jobs.get``/``jobs.wait``)."""
    return job_exit_code(str(summary.get("state")), summary.get("exit_code"), summary.get("signal"))
