"""How a running task list shows itself: a live rich display on a terminal, plain lines in a pipe, JSON for machines.

All three take the same calls from the runner (``started``, ``ended``, ``skipped``, ``finish``), so the runner
does not care where its output goes. Only the terminal display uses cursor movement and a spinner.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

from .table import console, print_table
from .task_file import TaskSpec
from .task_state import TaskRecord


def seconds(value: float | None) -> str:
    """``75.2`` -> ``1m15s``; None -> ``?``."""
    if value is None:
        return "-"
    value = max(0.0, value)
    if value < 60:
        return f"{value:.1f}s"
    minutes, secs = divmod(round(value), 60)
    return f"{minutes}m{secs:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


class Remaining:
    """Estimated time left: what is left of the current task's median plus the medians of the tasks after it."""

    def __init__(self, estimates: list[float | None]) -> None:
        self.estimates = estimates

    def after_start(self, index: int, elapsed: float) -> str:
        current = self.estimates[index]
        rest = self.estimates[index + 1 :]
        known = [e for e in rest if e is not None]
        total = sum(known) + (max(0.0, current - elapsed) if current is not None else 0.0)
        unknown = sum(e is None for e in rest) + (current is None)
        if unknown and not known and current is None:
            return f"unknown (no history for {unknown} task(s))"
        return f"~{seconds(total)}" + (f" (+{unknown} task(s) without history)" if unknown else "")


def _status_text(record: TaskRecord, skipped: bool) -> str:
    if skipped:
        return "skipped (succeeded before)"
    return record.status if record.exit_code is None else f"{record.status} (exit {record.exit_code})"


class LineProgress:
    """One readable line per event: for pipes, files and CI logs (no escape codes, no spinner)."""

    def __init__(self, total: int, remaining: Remaining, stream: TextIO | None = None) -> None:
        self.total = total
        self.remaining = remaining
        self.out = stream or sys.stdout
        self.skipped_indices: set[int] = set()

    def _line(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def started(self, spec: TaskSpec, job_id: str) -> None:
        self._line(
            f"[{spec.index + 1}/{self.total}] started {spec.name} (job {job_id}, "
            f"est. remaining {self.remaining.after_start(spec.index, 0.0)})"
        )

    def ended(self, spec: TaskSpec, record: TaskRecord, tail: str) -> None:
        self._line(
            f"[{spec.index + 1}/{self.total}] {_status_text(record, False)} {spec.name} in {seconds(record.duration)}"
        )
        if tail and not (record.status == "completed" and record.exit_code == 0):
            print(tail.rstrip("\n"), file=sys.stderr, flush=True)

    def skipped(self, spec: TaskSpec, record: TaskRecord) -> None:
        self.skipped_indices.add(spec.index)
        self._line(f"[{spec.index + 1}/{self.total}] skipped {spec.name} (succeeded in the last run)")

    def finish(self, records: list[TaskRecord], summary: dict[str, Any]) -> None:
        rows = [
            (r.index + 1, r.name, _status_text(r, r.index in self.skipped_indices), seconds(r.duration), r.job_id)
            for r in records
        ]
        print_table(("#", "task", "result", "time", "job"), rows, stream=self.out)
        self._line(
            f"{summary['succeeded']} succeeded, {summary['failed']} failed, {summary['skipped']} skipped, "
            f"{summary['not_run']} not run"
        )


class LiveProgress(LineProgress):
    """On a terminal: a spinner line with the current task, its elapsed time and the estimated time left."""

    def __init__(self, total: int, remaining: Remaining) -> None:
        from rich.live import Live

        super().__init__(total, remaining)
        self.console = console(sys.stdout)
        self._current: TaskSpec | None = None
        self._since = 0.0
        self._live = Live(self, console=self.console, refresh_per_second=4, transient=True)
        self._live.start()

    def __rich__(self) -> Any:
        from rich.spinner import Spinner

        if self._current is None:
            return ""
        elapsed = time.monotonic() - self._since
        spec = self._current
        return Spinner(
            "dots",
            text=f"[{spec.index + 1}/{self.total}] {spec.name}  elapsed {seconds(elapsed)}  "
            f"remaining {self.remaining.after_start(spec.index, elapsed)}",
        )

    def _line(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)

    def started(self, spec: TaskSpec, job_id: str) -> None:
        self._current, self._since = spec, time.monotonic()

    def ended(self, spec: TaskSpec, record: TaskRecord, tail: str) -> None:
        self._current = None
        super().ended(spec, record, tail)

    def finish(self, records: list[TaskRecord], summary: dict[str, Any]) -> None:
        self._live.stop()
        super().finish(records, summary)


class JsonProgress(LineProgress):
    """One JSON object per task result, then ``{"summary": ...}``; nothing else on stdout."""

    def started(self, spec: TaskSpec, job_id: str) -> None:
        pass

    def _record(self, spec: TaskSpec, record: TaskRecord, skipped: bool) -> None:
        self._line(
            json.dumps(
                {
                    "index": spec.index,
                    "name": spec.name,
                    "command": spec.command,
                    "job_id": record.job_id,
                    "status": record.status,
                    "exit_code": record.exit_code,
                    "duration": record.duration,
                    "skipped": skipped,
                }
            )
        )

    def ended(self, spec: TaskSpec, record: TaskRecord, tail: str) -> None:
        self._record(spec, record, False)

    def skipped(self, spec: TaskSpec, record: TaskRecord) -> None:
        self.skipped_indices.add(spec.index)
        self._record(spec, record, True)

    def finish(self, records: list[TaskRecord], summary: dict[str, Any]) -> None:
        self._line(json.dumps({"summary": summary}))


def make_progress(total: int, remaining: Remaining, *, as_json: bool) -> LineProgress:
    if as_json:
        return JsonProgress(total, remaining)
    if sys.stdout.isatty():
        return LiveProgress(total, remaining)
    return LineProgress(total, remaining)
