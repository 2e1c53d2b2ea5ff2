"""How a running task list shows itself: a live rich display on a terminal, plain lines in a pipe, JSON for machines.

All three take the same calls from the runner (``started``, ``output``, ``ended``, ``skipped``, ``finish``), so
the runner does not care where its output goes. Only the terminal display uses cursor movement and a spinner.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any, TextIO

from .table import console, duration, is_terminal, print_table
from .task_file import TaskSpec
from .task_output import LastLine, LineBuffer, trimmed
from .task_state import TaskRecord


class Remaining:
    """The ETA: the expected durations of the tasks after the current one, plus what is left of the current one's
    (its expected duration minus its elapsed time, never below zero: a task past its expectation adds nothing).
    A task without history (None) is left out and named; "unknown" only when no task left has history."""

    def __init__(self, estimates: list[float | None]) -> None:
        self.estimates = estimates

    def after_start(self, index: int, elapsed: float) -> str:
        current = self.estimates[index]
        rest = self.estimates[index + 1 :]
        known = [e for e in rest if e is not None]
        unknown = sum(e is None for e in rest) + (current is None)
        if current is None and not known:
            return f"unknown (no history for {unknown} task{'s' if unknown > 1 else ''})"
        total = sum(known) + (max(0.0, current - elapsed) if current is not None else 0.0)
        without = f" (+{unknown} task{'s' if unknown > 1 else ''} without history)" if unknown else ""
        return f"~{duration(total)}{without}"


def _status_text(record: TaskRecord, skipped: bool) -> str:
    if skipped:
        return "skipped (succeeded before)"
    return record.status if record.exit_code is None else f"{record.status} (exit {record.exit_code})"


def _write_raw(data: str, stream: TextIO) -> None:
    """Job output as it came, bytes and all (as ``cc-executor run`` writes it), flushed at once."""
    stream.flush()
    buffer = getattr(stream, "buffer", None)
    if buffer is None:
        stream.write(data)
    else:
        buffer.write(data.encode("utf-8", "surrogateescape"))
        buffer.flush()
    stream.flush()


class LineProgress:
    """One readable line per task start and end: for pipes, files, CI logs and ``NO_COLOR`` (no escape codes, no
    spinner). With ``verbose`` the tasks' own output goes between them, raw, stdout to stdout and stderr to stderr."""

    def __init__(
        self, total: int, remaining: Remaining, stream: TextIO | None = None, *, verbose: bool = False
    ) -> None:
        self.total = total
        self.remaining = remaining
        self.verbose = verbose
        self.out = stream or sys.stdout
        self.skipped_indices: set[int] = set()

    def _line(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def started(self, spec: TaskSpec, job_id: str) -> None:
        self._line(
            f"[{spec.index + 1}/{self.total}] started {spec.name} (job {job_id}, "
            f"ETA {self.remaining.after_start(spec.index, 0.0)})"
        )

    def output(self, spec: TaskSpec, stream: str, data: str) -> None:
        """A chunk of the current task's output (``stream`` is ``stdout`` or ``stderr``)."""
        if self.verbose:
            _write_raw(data, sys.stderr if stream == "stderr" else sys.stdout)

    def ended(self, spec: TaskSpec, record: TaskRecord, tail: str) -> None:
        self._line(
            f"[{spec.index + 1}/{self.total}] {_status_text(record, False)} {spec.name} in {duration(record.duration)}"
        )
        self.failure_tail(record, tail)

    def failure_tail(self, record: TaskRecord, tail: str) -> None:
        """A failed task's last lines on stderr (not with ``verbose``: they were shown as they came)."""
        if tail and not self.verbose and not (record.status == "completed" and record.exit_code == 0):
            print(tail.rstrip("\n"), file=sys.stderr, flush=True)

    def skipped(self, spec: TaskSpec, record: TaskRecord) -> None:
        self.skipped_indices.add(spec.index)
        self._line(f"[{spec.index + 1}/{self.total}] skipped {spec.name} (succeeded in the last run)")

    def finish(self, records: list[TaskRecord], summary: dict[str, Any]) -> None:
        rows = [
            (r.index + 1, r.name, _status_text(r, r.index in self.skipped_indices), duration(r.duration), r.job_id)
            for r in records
        ]
        print_table(("#", "task", "result", "time", "job"), rows, stream=self.out)
        self._line(
            f"{summary['succeeded']} succeeded, {summary['failed']} failed, {summary['skipped']} skipped, "
            f"{summary['not_run']} not run"
        )


class LiveProgress(LineProgress):
    """On a terminal: a spinner line with the current task, its elapsed time and the ETA, and under it the task's
    last output line (cut to the terminal's width, without control characters). rich redraws it on its own,
    ``REFRESH_PER_SECOND`` times a second, so the spinner turns and the clock runs while a task prints nothing.
    Task ends (and, with ``verbose``, every output line) are printed above it and stay."""

    REFRESH_PER_SECOND = 8

    def __init__(self, total: int, remaining: Remaining, *, verbose: bool = False) -> None:
        from rich.live import Live
        from rich.spinner import Spinner

        super().__init__(total, remaining, verbose=verbose)
        self.console = console(sys.stdout)
        self._current: TaskSpec | None = None
        self._since = 0.0
        self._last = LastLine()
        self._lines: dict[str, LineBuffer] = {}
        # One spinner for the whole run: a new one per redraw would start over at its first frame each time.
        self._spinner = Spinner("dots")
        self._live = Live(
            self, console=self.console, refresh_per_second=self.REFRESH_PER_SECOND, transient=True, auto_refresh=True
        )
        self._live.start()

    def __rich__(self) -> Any:
        from rich.console import Group
        from rich.text import Text

        spec = self._current  # read once: the refresh thread draws while the runner moves on
        if spec is None:
            return Text("")
        elapsed = time.monotonic() - self._since
        width = max(1, self.console.width)
        status = (
            f"[{spec.index + 1}/{self.total}] {spec.name}  elapsed {duration(elapsed)}  "
            f"ETA {self.remaining.after_start(spec.index, elapsed)}"
        )
        self._spinner.update(text=Text(trimmed(status, width - 2), no_wrap=True))
        last = self._last.text
        if not last:
            return self._spinner
        return Group(self._spinner, Text(trimmed("  " + last, width), style="dim", no_wrap=True))

    def _line(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)

    def started(self, spec: TaskSpec, job_id: str) -> None:
        self._last, self._lines = LastLine(), {}
        self._current, self._since = spec, time.monotonic()

    def output(self, spec: TaskSpec, stream: str, data: str) -> None:
        self._last.feed(data)
        if self.verbose:
            self._print_output(self._lines.setdefault(stream, LineBuffer()).feed(data))

    def _print_output(self, lines: list[str]) -> None:
        from rich.text import Text

        for line in lines:  # from_ansi keeps the job's colours, drops what would move the cursor
            self.console.print(Text.from_ansi(line), highlight=False, soft_wrap=True)

    def ended(self, spec: TaskSpec, record: TaskRecord, tail: str) -> None:
        if self.verbose:
            self._print_output([rest for buffer in self._lines.values() if (rest := buffer.rest())])
        self._current = None
        super().ended(spec, record, tail)

    def finish(self, records: list[TaskRecord], summary: dict[str, Any]) -> None:
        self._live.stop()
        super().finish(records, summary)


class JsonProgress(LineProgress):
    """One JSON object per task result, then ``{"summary": ...}``; nothing else on stdout (with ``verbose`` the
    tasks' output goes to stderr, raw)."""

    def started(self, spec: TaskSpec, job_id: str) -> None:
        pass

    def output(self, spec: TaskSpec, stream: str, data: str) -> None:
        if self.verbose:
            _write_raw(data, sys.stderr)

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


def live_terminal(stream: TextIO | None = None) -> bool:
    """Whether the live view may draw: a terminal that is not ``TERM=dumb``, and no ``NO_COLOR``
    (https://no-color.org: then plain lines, without any escape code)."""
    out = stream or sys.stdout
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") in ("dumb", "unknown"):
        return False
    return is_terminal(out)


def make_progress(total: int, remaining: Remaining, *, as_json: bool, verbose: bool = False) -> LineProgress:
    if as_json:
        return JsonProgress(total, remaining, verbose=verbose)
    if live_terminal():
        return LiveProgress(total, remaining, verbose=verbose)
    return LineProgress(total, remaining, verbose=verbose)
