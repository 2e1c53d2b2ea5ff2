"""``cc-executor tasks run|status``: order, failures, resume, a detached list that outlives the CLI, plain output."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from cli_support import cli, cli_env, cli_popen
from conftest import ServerProcess


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
    assert stopped.returncode == 1 and not (tmp_path / "after").exists()
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
