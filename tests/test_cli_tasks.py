"""``cc-executor tasks run|status``: order, failures, resume, a detached list that outlives the CLI, plain output."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
import uuid
from pathlib import Path

import pytest
import yaml
from cli_support import cli, cli_env, cli_popen
from conftest import ServerProcess

from cc_executor.cli.task_eta import expected_from
from cc_executor.cli.task_output import LastLine, printable, trimmed
from cc_executor.cli.task_progress import Remaining

SPINNER_FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"  # rich's "dots"
COLUMNS = 100


@pytest.fixture
def env(server: ServerProcess, tmp_path: Path) -> dict[str, str]:
    return cli_env(server, tmp_path / "state")


def stamped(log: Path, name: str, body: str = "sleep 0.2") -> dict[str, str]:
    """A task that appends its start and end times to ``log``, so the order can be proven afterwards."""
    return {
        "name": name,
        "command": f"echo {name} start $(date +%s.%N) >> {log}; {body}; echo {name} end $(date +%s.%N) >> {log}",
    }


def assert_in_order(log: Path, names: list[str]) -> None:
    lines = [line.split() for line in log.read_text().splitlines()]
    assert [(n, what) for n, what, _ in lines] == [(n, w) for n in names for w in ("start", "end")]
    stamps = [float(t) for _, _, t in lines]
    assert stamps == sorted(stamps)  # each task started after the previous one ended


def write(path: Path, tasks: list[object]) -> Path:
    path.write_text(yaml.safe_dump(tasks))
    return path


def test_tasks_run_in_order_with_readable_plain_output(env: dict[str, str], tmp_path: Path) -> None:
    log = tmp_path / "log"
    file = write(tmp_path / "tasks.yaml", [stamped(log, "one"), stamped(log, "two"), f"echo three >> {log}.3"])
    done = cli(env, "tasks", "run", str(file))
    assert done.returncode == 0, done.stderr
    assert_in_order(log, ["one", "two"])
    assert "\x1b" not in done.stdout and "\r" not in done.stdout
    assert "[1/3] started one" in done.stdout and "[3/3] completed (exit 0)" in done.stdout
    assert "3 succeeded, 0 failed" in done.stdout


def test_stop_on_failure_and_keep_going(env: dict[str, str], tmp_path: Path) -> None:
    file = tmp_path / "tasks.json"
    file.write_text(json.dumps(["echo a", {"command": "exit 3", "name": "breaks"}, f"touch {tmp_path}/after"]))
    stopped = cli(env, "tasks", "run", str(file))
    assert stopped.returncode == 3 and not (tmp_path / "after").exists()  # the failed task's own code, as `run`
    assert "not run" in stopped.stdout
    status = cli(env, "tasks", "status", str(file))  # a task failed: status says so in its exit code too
    assert status.returncode == 1 and "failed" in status.stdout, status
    assert cli(env, "tasks", "status", str(file), "--json").returncode == 1
    run = cli(env, "tasks", "run", str(file), "--keep-going", "--json")
    results = [json.loads(line) for line in run.stdout.splitlines()]
    assert [r.get("exit_code") for r in results[:3]] == [0, 3, 0] and (tmp_path / "after").exists()
    assert results[-1]["summary"]["failed"] == 1 and results[-1]["summary"]["ok"] is False


def test_resume_skips_what_succeeded(env: dict[str, str], tmp_path: Path) -> None:
    first, third, gate = tmp_path / "first", tmp_path / "third", tmp_path / "gate"
    file = write(tmp_path / "t.yaml", [f"echo x >> {first}", f"test -f {gate}", f"echo y >> {third}"])
    assert cli(env, "tasks", "run", str(file)).returncode == 1
    gate.touch()
    again = cli(env, "tasks", "run", str(file), "--resume")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "skipped" in again.stdout
    assert first.read_text() == "x\n" and third.read_text() == "y\n"
    done = cli(env, "tasks", "status", str(file), "--json")
    assert done.returncode == 0  # all succeeded now
    assert [t["status"] for t in json.loads(done.stdout)["tasks"]] == ["completed"] * 3


def test_detached_list_goes_on_after_the_cli_is_killed(env: dict[str, str], tmp_path: Path) -> None:
    log = tmp_path / "log"
    file = write(tmp_path / "d.yaml", [stamped(log, "a"), stamped(log, "b"), stamped(log, "c", "sleep 0.1")])
    proc = cli_popen(env, "tasks", "run", str(file), "--detach")
    assert proc.stdout is not None
    ids = [proc.stdout.readline().strip() for _ in range(3)]
    proc.kill()  # SIGKILL, right after it printed the ids
    proc.wait(10)
    assert all(ids)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        status = json.loads(cli(env, "tasks", "status", str(file), "--json").stdout)
        if all(t["status"] == "completed" for t in status["tasks"]):
            break
        time.sleep(0.3)
    assert [t["job_id"] for t in status["tasks"]] == ids
    assert [t["status"] for t in status["tasks"]] == ["completed"] * 3
    assert_in_order(log, ["a", "b", "c"])
    table = cli(env, "tasks", "status", str(file)).stdout
    assert "completed" in table and "\x1b" not in table


def test_malformed_task_file_is_a_usage_error(env: dict[str, str], tmp_path: Path) -> None:
    file = write(tmp_path / "bad.yaml", [{"name": "no command"}])
    done = cli(env, "tasks", "run", str(file))
    assert done.returncode == 2 and "task 1" in done.stderr


def test_a_broken_task_file_is_one_line_naming_file_line_and_column(env: dict[str, str], tmp_path: Path) -> None:
    yaml_file = tmp_path / "broken.yaml"
    yaml_file.write_text("- echo one\n- [unclosed\n- echo three: [\n")
    done = cli(env, "tasks", "run", str(yaml_file))
    [line] = done.stderr.splitlines()
    assert done.returncode == 2 and line.startswith(f"cc-executor: {yaml_file}:") and "not valid YAML" in line, line
    assert "<unicode string>" not in line
    json_file = tmp_path / "broken.json"
    json_file.write_text('["echo a",]')
    done = cli(env, "tasks", "run", str(json_file))
    assert (
        done.returncode == 2
        and done.stderr.strip() == f"cc-executor: {json_file}:1:11: not valid JSON: Expecting value"
    )


def in_terminal(env: dict[str, str], *args: str, timeout: float = 60, **extra: str) -> tuple[int, str]:
    """Run the CLI on a pseudo-terminal of ``COLUMNS`` columns, as a person at a terminal does; everything it
    wrote (stdout and stderr, escape codes and all) and its exit code."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, COLUMNS, 0, 0))
    term_env = {k: v for k, v in env.items() if k not in ("NO_COLOR", "COLUMNS", "LINES")}
    term_env.update({"TERM": "xterm-256color", "COLUMNS": str(COLUMNS), "LINES": "24", **extra})
    proc = subprocess.Popen(
        [sys.executable, "-m", "cc_executor", *args], env=term_env, stdin=slave, stdout=slave, stderr=slave
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if select.select([master], [], [], 0.5)[0]:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every writer closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
        else:
            raise AssertionError(f"still running after {timeout} s: {b''.join(chunks)!r}")
        return proc.wait(10), b"".join(chunks).decode("utf-8", "replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        os.close(master)


def test_live_view_turns_its_spinner_and_shows_the_last_output_line(env: dict[str, str], tmp_path: Path) -> None:
    mark = uuid.uuid4().hex[:8]
    long_line = "y" * 300
    task = {
        "name": "sleeper",
        "command": f"echo {long_line}; sleep 0.6; printf 'first\\n\\033[31mworking-{mark}\\033[0m\\tnow\\n'; sleep 2",
    }
    file = write(tmp_path / "live.yaml", [task])
    code, screen = in_terminal(env, "tasks", "run", str(file))
    assert code == 0, screen
    frames = {c for c in screen if c in SPINNER_FRAMES}
    assert len(frames) >= 3, f"the spinner did not turn: {frames}"  # ~2 s at 8 redraws a second
    assert "[1/1] sleeper" in screen and "elapsed" in screen
    assert f"working-{mark}    now" in screen  # the last line: its colour codes and tab gone
    # the 300-character line, while it was the last, was cut to the terminal's width (2 columns go to the indent)
    assert "y" * (COLUMNS - 3) + "…" in screen and "y" * (COLUMNS - 2) not in screen
    assert "1 succeeded, 0 failed" in screen


def test_a_rerun_shows_an_eta_from_history(env: dict[str, str], tmp_path: Path) -> None:
    command = f"sleep 1; echo eta-{uuid.uuid4().hex[:8]}"  # a command no other test ran: no history at first
    file = write(tmp_path / "eta.yaml", [{"name": "timed", "command": command}])
    first = cli(env, "tasks", "run", str(file))
    assert first.returncode == 0, first.stderr
    assert "ETA unknown (no history for 1 task)" in first.stdout
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the run is recorded as it ends; do not race that
        if json.loads(cli(env, "history", "list", "--command", command, "--json").stdout):
            break
        time.sleep(0.2)
    again = cli(env, "tasks", "run", str(file))
    assert "[1/1] started timed" in again.stdout and "ETA ~1." in again.stdout, again.stdout
    code, screen = in_terminal(env, "tasks", "run", str(file))
    assert code == 0, screen
    assert "ETA ~" in screen and "ETA unknown" not in screen, screen


def test_no_escape_codes_without_a_terminal_or_with_no_color(env: dict[str, str], tmp_path: Path) -> None:
    file = write(tmp_path / "plain.yaml", [{"name": "quiet", "command": "printf '\\033[31mred\\033[0m\\n'; sleep 0.3"}])
    piped = cli(env, "tasks", "run", str(file))
    assert piped.returncode == 0 and "[1/1] started quiet" in piped.stdout
    assert "\x1b" not in piped.stdout + piped.stderr  # the task's own output is not shown without --verbose
    code, screen = in_terminal(env, "tasks", "run", str(file), NO_COLOR="1")
    assert code == 0 and "[1/1] started quiet" in screen and "[1/1] completed (exit 0) quiet" in screen
    assert "\x1b" not in screen and not set(screen) & set(SPINNER_FRAMES), screen


def test_verbose_streams_the_tasks_whole_output(env: dict[str, str], tmp_path: Path) -> None:
    file = write(tmp_path / "v.yaml", [{"name": "talker", "command": "echo line-1; echo line-2 >&2; echo line-3"}])
    quiet = cli(env, "tasks", "run", str(file))
    assert "line-1" not in quiet.stdout + quiet.stderr
    loud = cli(env, "tasks", "run", str(file), "--verbose")
    assert loud.returncode == 0
    out = loud.stdout
    assert out.index("started talker") < out.index("line-1") < out.index("line-3") < out.index("completed")
    assert "line-2" in loud.stderr
    code, screen = in_terminal(env, "tasks", "run", str(file), "-v")
    assert code == 0 and all(f"line-{n}" in screen for n in (1, 2, 3)), screen
    as_json = cli(env, "tasks", "run", str(file), "-v", "--json")  # stdout stays JSON; the output goes to stderr
    assert [json.loads(line)["status"] for line in as_json.stdout.splitlines()[:1]] == ["completed"]
    assert "line-1" in as_json.stderr and "line-3" in as_json.stderr


def test_exit_codes_agree_with_run(env: dict[str, str], tmp_path: Path) -> None:
    timed_out = write(tmp_path / "t.yaml", ["echo ok", {"name": "slow", "command": "sleep 30", "timeout": 1}])
    done = cli(env, "tasks", "run", str(timed_out))
    assert done.returncode == 124, done.stdout + done.stderr
    assert cli(env, "tasks", "status", str(timed_out)).returncode == 1  # status: 1 when a task failed, as before
    killed = write(tmp_path / "k.yaml", [{"name": "killed", "command": "kill -9 $$"}, "echo never"])
    done = cli(env, "tasks", "run", str(killed))
    assert done.returncode == 128 + 9, done.stdout + done.stderr
    first = write(tmp_path / "f.yaml", ["exit 4", "exit 5"])  # with --keep-going: the first failure's code
    assert cli(env, "tasks", "run", str(first), "--keep-going").returncode == 4


def test_last_line_and_eta_helpers() -> None:
    assert printable("\x1b[1;32mok\x1b[0m\tdone\r\n") == "ok    done"
    assert printable("10%\r50%\r90%") == "90%" and printable("\x1b]0;title\x07bell\x07") == "bell"
    assert trimmed("abcdef", 4) == "abc…" and trimmed("abc", 4) == "abc" and trimmed("abc", 0) == ""
    last = LastLine()
    assert last.feed("one\ntw") == "tw" and last.feed("o\n\n   \n") == "two" and last.text == "two"
    # One earlier run of the exact command is enough (the estimate's p50 needs 5 runs of the class) ...
    no_p50 = {"p50": None, "category": "sleep:1", "timeout_source": "default"}
    assert expected_from(no_p50, [{"status": "completed", "duration": 1.2, "category": "sleep:1"}]) == 1.2
    runs = [
        {"status": s, "duration": d, "category": "sleep:1"}
        for s, d in [("completed", 1), ("failed", 9), ("completed", 3)]
    ]
    assert expected_from(no_p50, runs) == 2.0
    # ... of the same class (an agent's class includes its cwd); else the estimate's p50, else nothing known
    assert (
        expected_from({"p50": 7.5, "category": "x"}, [{"status": "completed", "duration": 1, "category": "y"}]) == 7.5
    )
    assert expected_from(no_p50, []) is None
    eta = Remaining([2.0, None, 3.0])
    assert eta.after_start(0, 0.5) == "~4.5s (+1 task without history)"
    assert eta.after_start(0, 9.0) == "~3.0s (+1 task without history)"  # past its expectation: adds nothing
    assert eta.after_start(2, 1.0) == "~2.0s" and Remaining([None]).after_start(0, 1.0).startswith("unknown")
