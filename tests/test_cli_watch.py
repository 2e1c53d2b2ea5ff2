"""``cc-executor jobs --watch`` (under a pseudo-terminal and in a pipe), ``logs -f`` of several jobs, and the
"exit" column showing the code a shell user sees from ``run``; real CLI processes against a real server."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_support import cli, cli_env, cli_popen
from conftest import ServerProcess

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][0-9A-Za-z]|\r")


@pytest.fixture
def env(server: ServerProcess, tmp_path: Path) -> dict[str, str]:
    return cli_env(server, tmp_path / "state")


class Captured:
    """Everything a file descriptor yields, read by a thread, so a test can poll it."""

    def __init__(self, read: Callable[[], bytes]) -> None:
        self._read = read
        self._data = bytearray()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                chunk = self._read()
            except OSError:  # EIO: the pty's other side closed
                return
            if not chunk:
                return
            with self._lock:
                self._data.extend(chunk)

    def raw(self) -> str:
        with self._lock:
            return self._data.decode("utf-8", "replace")

    def text(self) -> str:
        return ANSI.sub("", self.raw())

    def wait_for(self, predicate: Callable[[str], bool], within: float) -> bool:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if predicate(self.text()):
                return True
            time.sleep(0.05)
        return predicate(self.text())

    def join(self, within: float = 10) -> None:
        self._thread.join(within)


def start_on_a_terminal(env: dict[str, str], *args: str) -> tuple[subprocess.Popen[bytes], Captured]:
    """The CLI with a pseudo-terminal (200 x 50) as stdin, stdout and stderr, as in an interactive shell."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "cc_executor", *args],
        env={**env, "TERM": "xterm-256color", "COLUMNS": "200", "LINES": "50"},
        stdin=slave,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    captured = Captured(lambda: os.read(master, 65536))
    return proc, captured


def stop(proc: subprocess.Popen[bytes] | subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGINT)
    return proc.wait(20)


def detach(env: dict[str, str], command: str) -> str:
    done = cli(env, "run", "--detach", command)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_watch_on_a_terminal_shows_a_job_started_after_it(env: dict[str, str]) -> None:
    proc, screen = start_on_a_terminal(env, "jobs", "--watch", "--limit", "20")
    job_id = ""
    try:
        assert screen.wait_for(lambda text: "Ctrl-C to stop" in text, 30), screen.text()
        job_id = detach(env, f"echo tick; sleep 30 # {uuid.uuid4().hex}")
        assert screen.wait_for(lambda text: job_id in text, 2.0), screen.text()[-4000:]
        assert "\x1b[" in screen.raw()  # drawn in place: cursor movement, not appended tables
        assert stop(proc) == 0
        screen.join()
        assert "Traceback" not in screen.text(), screen.text()[-4000:]
        header = next(line for line in screen.text().splitlines() if "state" in line and "elapsed" in line)
        for column in ("timeout", "output", "rate", "cost", "command"):
            assert column in header
    finally:
        if proc.poll() is None:
            proc.kill()
        if job_id:
            cli(env, "cancel", job_id)


def test_watch_in_a_pipe_prints_a_plain_table_per_refresh(env: dict[str, str]) -> None:
    marker = uuid.uuid4().hex
    job_id = detach(env, f"while true; do echo 0123456789abcdef; sleep 0.05; done # {marker}")
    try:
        proc = cli_popen(env, "jobs", "--watch", "--interval", "0.3", "--limit", "20")
        assert proc.stdout is not None
        out = Captured(lambda: os.read(proc.stdout.fileno(), 65536))  # type: ignore[union-attr]

        def rated(text: str) -> bool:
            rows = [line for line in text.splitlines() if line.startswith(job_id)]
            return any("B/s" in row for row in rows)

        assert out.wait_for(rated, 15), out.raw()[-4000:]
        assert stop(proc) == 0
        out.join()
        stdout = out.raw()
        assert "\x1b" not in stdout
        row = next(line for line in stdout.splitlines() if line.startswith(job_id) and "B/s" in line)
        assert row.split()[1] == "running" and "s (default)" in row and "while true; do echo" in row
        assert row.endswith("...")  # the command, cut at 60 characters
        assert sum(1 for line in stdout.splitlines() if line.startswith("job ")) >= 2  # one table per refresh
        assert proc.stderr is not None and "Traceback" not in proc.stderr.read()

        proc = cli_popen(env, "jobs", "--watch", "--json", "--interval", "0.2", "--limit", "5")
        assert proc.stdout is not None
        first, second = proc.stdout.readline(), proc.stdout.readline()
        assert stop(proc) == 0
        assert isinstance(json.loads(first), list) and isinstance(json.loads(second), list)
    finally:
        cli(env, "cancel", job_id)


def test_logs_follow_several_jobs_prefixes_whole_lines(env: dict[str, str]) -> None:
    # Each line is written in two pieces with a pause between, and the jobs run at the same time: a follower
    # that wrote chunks as they came would put the other job's piece in the middle of a line.
    first = detach(env, 'sleep 1; for i in 1 2 3 4; do printf "a$i-"; sleep 0.1; printf "end\\n"; done; exit 0')
    second = detach(env, 'sleep 1; for i in 1 2 3 4; do printf "b$i-"; sleep 0.15; echo end; done; exit 5')
    third = detach(env, 'sleep 1.2; echo c1 >&2; printf "no newline"; sleep 0.4; exit 4')
    done = cli(env, "logs", "-f", first, second, third)
    width = max(map(len, (first, second, third)))

    def prefix(job_id: str) -> str:
        return f"{job_id.ljust(width)} | "

    out = done.stdout.splitlines()
    assert sorted(out) == sorted(
        [f"{prefix(first)}a{i}-end" for i in range(1, 5)]
        + [f"{prefix(second)}b{i}-end" for i in range(1, 5)]
        + [f"{prefix(third)}no newline"]
    ), done.stdout
    assert done.stdout.endswith("\n")
    assert done.stderr.splitlines() == [f"{prefix(third)}c1"], done.stderr
    # The first non-zero exit code in the order the jobs were named (the third job ended first, with 4).
    assert done.returncode == 5

    stored = cli(env, "logs", second, first)  # stored output, one job after the other
    assert stored.returncode == 0
    assert stored.stdout.splitlines() == [f"{prefix(second)}b{i}-end" for i in range(1, 5)] + [
        f"{prefix(first)}a{i}-end" for i in range(1, 5)
    ]
    assert cli(env, "logs", "-f", first, first).stdout == "".join(f"a{i}-end\n" for i in range(1, 5))


def test_logs_follow_several_jobs_ctrl_c_leaves_them_running(env: dict[str, str]) -> None:
    jobs = [detach(env, f"echo started {n}; sleep 30") for n in (1, 2)]
    try:
        proc = cli_popen(env, "logs", "-f", *jobs)
        assert proc.stdout is not None
        lines = {proc.stdout.readline(), proc.stdout.readline()}
        assert {line.split("|")[1].strip() for line in lines} == {"started 1", "started 2"}
        assert stop(proc) == 130
        assert proc.stderr is not None
        err = proc.stderr.read()
        assert "they run on" in err and f"logs -f {jobs[0]} {jobs[1]}" in err and "Traceback" not in err
        for job_id in jobs:
            assert cli(env, "wait", job_id, "--timeout", "0.1").returncode == 124  # still running
    finally:
        for job_id in jobs:
            cli(env, "cancel", job_id)


def test_jobs_exit_column_is_what_run_exits_with(env: dict[str, str]) -> None:
    marker = uuid.uuid4().hex
    assert cli(env, "run", f"kill -9 $$ # {marker} killed").returncode == 137
    cancelled = detach(env, f"sleep 30 # {marker} cancelled")
    assert cli(env, "cancel", cancelled).returncode == 0
    assert cli(env, "wait", cancelled, "--timeout", "20").returncode == 130

    def exits(table: str) -> dict[str, tuple[str, str]]:
        found = {}
        for line in table.splitlines():
            if marker in line:
                words = line.split()
                found[words[-1]] = (words[1], words[2])  # the command ends with "killed"/"cancelled"
        return found

    table = cli(env, "jobs", "--limit", "50").stdout
    assert exits(table) == {"killed": ("failed", "137"), "cancelled": ("cancelled", "130")}, table
    listed = json.loads(cli(env, "jobs", "--json", "--limit", "50").stdout)
    raw = {j["command"].split()[-1]: j for j in listed if marker in j["command"]}
    assert raw["killed"]["exit_code"] == -9  # --json keeps the server's own record

    proc = cli_popen(env, "jobs", "--watch", "--interval", "0.3", "--limit", "50")
    assert proc.stdout is not None
    out = Captured(lambda: os.read(proc.stdout.fileno(), 65536))  # type: ignore[union-attr]
    assert out.wait_for(lambda text: len(exits(text)) == 2, 15), out.raw()[-3000:]
    assert stop(proc) == 0
    assert exits(out.raw()) == {"killed": ("failed", "137"), "cancelled": ("cancelled", "130")}


def test_watch_shows_an_agent_runs_cost(env: dict[str, str]) -> None:
    fake = Path(__file__).parent / "fake_claude"
    word = uuid.uuid4().hex[:8]
    command = f"claude -p 'scenario:normal run {word}' --output-format stream-json --verbose"
    done = cli(env, "run", "--env", f"PATH={fake}:{os.environ['PATH']}", command)
    assert done.returncode == 0, done.stderr
    proc = cli_popen(env, "jobs", "--watch", "--interval", "0.3", "--limit", "50")
    assert proc.stdout is not None
    out = Captured(lambda: os.read(proc.stdout.fileno(), 65536))  # type: ignore[union-attr]
    assert out.wait_for(lambda text: word in text, 15), out.raw()[-3000:]
    assert stop(proc) == 0
    [row] = {line for line in out.raw().splitlines() if word in line}
    assert "$0.0421" in row.split(), row


def test_a_long_command_gives_way_not_the_job_id() -> None:
    """A 300-character command on a 120-column terminal: the command is cut, every other column stays whole."""
    import io

    from rich.console import Console

    from cc_executor.cli.watch import rich_table, rows

    job = {"job_id": "3f2a9c1b7e44", "state": "running", "timeout": 3600.0, "timeout_source": "default"}
    texts = rows([job | {"command": "echo " + "y" * 300, "output_bytes": 2048}], {"3f2a9c1b7e44": 512.0})
    out = io.StringIO()
    Console(file=out, width=120, color_system=None).print(rich_table(texts, "jobs", 120))
    screen = out.getvalue()
    assert "3f2a9c1b7e44" in screen and "running" in screen and "3600s (default)" in screen, screen
    assert "512 B/s" in screen and "2.0 KiB" in screen and "…" in screen
    assert max(len(line) for line in screen.splitlines()) <= 120
