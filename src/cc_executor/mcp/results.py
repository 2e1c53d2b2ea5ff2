"""What the tools hand back: bounded, agent-sized views of a job (status, tails, pages of output)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..protocol.state import is_final
from .backend import Backend

TAIL_CHARS = 8192
TAIL_SCAN_CHARS = 1 << 20  # how much output a tail may read back through, at most
PROGRESS_EVERY = 2.0  # seconds between progress notifications while waiting

Progress = Callable[[float, float | None, str], Awaitable[None]]


def has_ended(summary: dict[str, Any]) -> bool:
    """Whether a job summary (``jobs.get``) is of a job in a final state."""
    return is_final(summary.get("state"))


async def tails(backend: Backend, job_id: str, end_seq: int, limit: int = TAIL_CHARS) -> dict[str, Any]:
    """The last ``limit`` characters of stdout and of stderr, reading back from ``end_seq`` in growing windows."""
    window = 32
    while True:
        start = max(0, end_seq - window)
        out: dict[str, str] = {"stdout": "", "stderr": ""}
        seq, scanned = start, 0
        while seq < end_seq and scanned < TAIL_SCAN_CHARS:
            chunk = await backend.read(job_id, seq, 256 * 1024)
            if not chunk.events:
                break
            for _, stream, data in chunk.events:
                out[stream] = (out.get(stream, "") + data)[-limit:]
            scanned += chunk.size
            seq = chunk.next_seq
        full = all(len(text) >= limit for text in out.values())
        if start == 0 or full or scanned >= TAIL_SCAN_CHARS:
            return {
                "stdout_tail": out["stdout"],
                "stderr_tail": out["stderr"],
                "tail_chars": limit,
                "tail_from_seq": start,
            }
        window *= 8


def job_result(summary: dict[str, Any]) -> dict[str, Any]:
    """The fields an agent needs about a job, whatever its state."""
    final = has_ended(summary)
    started = summary.get("started_at")
    result = {
        "job_id": summary.get("job_id"),
        "command": summary.get("command"),
        "status": summary.get("state"),
        "still_running": not final,
        "exit_code": summary.get("exit_code"),
        "signal": summary.get("signal"),
        "duration": summary.get("duration"),
        "reason": summary.get("reason"),
        "timeout": summary.get("timeout"),
        "timeout_source": summary.get("timeout_source"),
        "output_bytes": summary.get("output_bytes"),
        "next_seq": summary.get("next_seq"),
        "started_at": started,
        "ended_at": summary.get("ended_at"),
    }
    if not final and started:
        result["elapsed"] = round(time.time() - float(started), 3)
    if summary.get("agent") is not None:
        result["agent"] = summary["agent"]
    if summary.get("retry") is not None:  # another attempt follows: its job_id, when and why
        result["retry"] = summary["retry"]
    if summary.get("budget") is not None:  # caps, group and spend so far (live while it runs)
        result["budget"] = summary["budget"]
    return result


async def job_report(backend: Backend, summary: dict[str, Any], tail_chars: int = TAIL_CHARS) -> dict[str, Any]:
    """``job_result`` plus stdout/stderr tails, and what to call next while it still runs."""
    result = job_result(summary)
    result.update(await tails(backend, str(summary["job_id"]), int(summary.get("next_seq") or 0), tail_chars))
    if result["still_running"]:
        result["hint"] = (
            f"still running: call wait_job(job_id={result['job_id']!r}) to wait more, or "
            f"read_output(job_id={result['job_id']!r}, from_seq=...) for new output"
        )
    return result


async def wait_with_progress(
    backend: Backend, job_id: str, wait_seconds: float, progress: Progress | None
) -> dict[str, Any]:
    """Wait up to ``wait_seconds`` for the job to end, reporting progress every few seconds; its summary."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + wait_seconds
    while True:
        remaining = max(deadline - loop.time(), 0.0)
        summary = await backend.wait(job_id, min(PROGRESS_EVERY, remaining))
        if not summary.get("wait_timed_out") or loop.time() >= deadline - 0.01:
            return summary
        if progress is not None:
            state = summary.get("state")
            message = f"job {job_id} {state}, {summary.get('output_bytes') or 0} bytes of output"
            await progress(round(loop.time() - started, 3), float(wait_seconds), message)
