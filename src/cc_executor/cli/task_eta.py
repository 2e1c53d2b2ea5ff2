"""How long a task is expected to take, from the server's history, for the ETA of ``tasks run``.

The ``estimate`` method's ``p50`` is there only once the command's class has ``CC_EXECUTOR_TIMEOUT_MIN_SAMPLES``
(5) usable runs (before that it answers the default timeout, ``p50: null``): it is there to set timeouts, and
five runs are what a timeout needs, not what a progress line needs. So the exact command's own completed runs
(``history`` filtered by the command, and by the class ``estimate`` names, which for an agent run includes the
working directory) come first: one earlier run of the same command is enough for an ETA. Only then the
estimate's ``p50``, which may come from a coarser class (``pytest`` for ``pytest tests/e2e``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..client import Client

HISTORY_RUNS = 20  # the newest runs of the command that the median is taken over


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def expected_from(estimate: dict[str, Any], runs: list[dict[str, Any]]) -> float | None:
    """The median duration of the command's completed runs of the same class, else the estimate's ``p50``;
    None when neither knows (no history)."""
    category = estimate.get("category")
    durations = [
        duration
        for run in runs
        if run.get("status") == "completed"
        and (category is None or run.get("category") == category)
        and (duration := _number(run.get("duration"))) is not None
    ]
    if durations:
        return median(durations)
    return _number(estimate.get("p50"))


async def expected_duration(client: Client, command: str, cwd: str | None = None) -> float | None:
    """How long ``command`` (run in ``cwd``) is expected to take, in seconds; None without history."""
    from ..client import ClientError

    try:
        estimate = await client.estimate(command, cwd)
    except ClientError:
        estimate = {}
    try:
        runs = await client.history(limit=HISTORY_RUNS, command=command)
    except ClientError:  # the history store is down (-32007): the estimate alone, which then knows nothing either
        runs = []
    return expected_from(estimate, runs)
