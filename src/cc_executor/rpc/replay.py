"""Protocol names for a replay that cannot give everything: the ``process.error`` it sends, and the
``process.completed`` built from the job's record when its log cannot supply one. No I/O here.

A replay always ends (docs/protocol.md, "When a replay meets a damaged log"): entries of the log that cannot be
read are skipped and named by one ``process.error`` with ``replay: true`` and an ``error`` code below, and the
replay of an ended job still ends with its ``process.completed``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..protocol.events import COMPLETED, ERROR, notification

if TYPE_CHECKING:
    from ..jobs.job import Job
    from ..jobs.output_log import LogProblem

LOG_UNREADABLE = "log_unreadable"  # an OS error reading (or flushing) the log file
LOG_CORRUPT = "log_corrupt"  # an entry cut short, not UTF-8 or not JSON; a file that ends early
LOG_MISSING = "log_missing"  # no log file
FROM_SEQ_PAST_END = "from_seq_past_end"  # attach from_seq greater than the ended job's next_seq
LOG_TRIMMED = "log_trimmed"  # cluster mode: the start of the job's stream was trimmed by its cap
REPLAY_ERRORS = frozenset({LOG_UNREADABLE, LOG_CORRUPT, LOG_MISSING, FROM_SEQ_PAST_END, LOG_TRIMMED})

_KINDS = {"unreadable": LOG_UNREADABLE, "corrupt": LOG_CORRUPT, "missing": LOG_MISSING}


def replay_error(job_id: str, error: str, message: str, **fields: Any) -> dict[str, Any]:
    """``process.error`` ``{job_id, error, message, replay: true, ...}``; fields that are None are left out."""
    params: dict[str, Any] = {"job_id": job_id, "error": error, "message": message, "replay": True}
    params.update((k, v) for k, v in fields.items() if v is not None)
    return notification(ERROR, params)


def log_problem(job_id: str, problem: LogProblem) -> dict[str, Any]:
    """The notice for entries of a log that were skipped (``pos``/``entries``, ``seq``, ``lost_seqs``)."""
    return replay_error(
        job_id,
        _KINDS.get(problem.kind, LOG_UNREADABLE),
        problem.message,
        pos=problem.pos,
        entries=problem.entries,
        seq=problem.seq,
        lost_seqs=list(problem.lost_seqs) if problem.lost_seqs is not None else None,
    )


def completed_from_record(job: Job) -> dict[str, Any]:
    """``process.completed`` of an ended job built from its record, as the job itself builds it, plus
    ``from_record: true``."""
    return notification(COMPLETED, {"job_id": job.id, **job.completed_params(), "from_record": True})
