"""What the last run of a task file did, kept per file so ``--resume`` and ``tasks status`` can pick it up.

One small JSON file per task file, ``<state dir>/tasks/<sha256 of its absolute path>.json``, written atomically
after every change so a CLI killed half-way leaves a usable record.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any


@dataclass
class TaskRecord:
    """One task of the last run: ``status`` is the job's end state, or submitted/skipped/not run."""

    index: int
    name: str
    digest: str
    status: str = "not run"
    exit_code: int | None = None
    job_id: str | None = None
    duration: float | None = None
    signal: str | None = None  # the signal that killed the job, when one did (for the exit code)


@dataclass
class TaskRunState:
    """The last run of one task file."""

    file: str
    started_at: float = field(default_factory=time.time)
    detached: bool = False
    queue: str | None = None
    tasks: list[TaskRecord] = field(default_factory=list)

    def succeeded(self, index: int, digest: str) -> TaskRecord | None:
        """The record of task ``index`` when it succeeded last time and has not changed since."""
        if index < len(self.tasks):
            record = self.tasks[index]
            if record.digest == digest and record.status == "completed" and record.exit_code == 0:
                return record
        return None


def state_path(task_file: Path, state_dir: Path | None = None) -> Path:
    """Where the state of ``task_file`` lives."""
    if state_dir is None:
        from ..client import ClientSettings

        state_dir = ClientSettings().state_dir
    key = hashlib.sha256(str(task_file.resolve()).encode()).hexdigest()
    return state_dir / "tasks" / f"{key}.json"


def load_state(path: Path) -> TaskRunState | None:
    """The recorded state, or None when there is none (or it is unreadable: then there is nothing to resume)."""
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        known = {f.name for f in fields(TaskRecord)}  # a file written by another version may know other keys
        records = [TaskRecord(**{k: v for k, v in record.items() if k in known}) for record in data.pop("tasks", [])]
        return TaskRunState(**data, tasks=records)
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def save_state(path: Path, state: TaskRunState) -> None:
    """Write atomically: a reader sees the old state or the new one, never half of one."""
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False, encoding="utf-8") as tmp:
        json.dump(asdict(state), tmp, indent=1)
    os.replace(tmp.name, path)
