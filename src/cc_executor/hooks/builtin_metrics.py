"""Built-in ``metrics`` hook: one JSON line per finished job, for later analysis with any JSONL tool."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.jsonl"


def metrics_record(event: dict[str, Any]) -> dict[str, Any]:
    """The fields kept per job; ``output_bytes`` comes from the job core when it reports it."""
    return {
        "ts": time.time(),
        "event": event.get("hook_event_name"),
        "job_id": event.get("job_id"),
        "command": event.get("command"),
        "status": event.get("status"),
        "exit_code": event.get("exit_code"),
        "duration": event.get("duration"),
        "output_bytes": event.get("output_bytes"),
        "timeout": event.get("timeout"),
        "timeout_source": event.get("timeout_source"),
    }


def append_metrics(directory: Path, event: dict[str, Any]) -> Path:
    """Append one line (a single small write, so concurrent jobs do not interleave); blocking I/O."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / METRICS_FILE
    line = json.dumps(metrics_record(event), default=str) + "\n"
    with target.open("a", encoding="utf-8") as fh:
        fh.write(line)
    return target
