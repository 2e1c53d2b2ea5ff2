"""A newcomer's set-up, tried as one would: the command installed on PATH, the server in the background and
stopped again, jobs run where the caller stands, and a line on stderr for every ending that was not the job's
own exit. Real servers, real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest
from cli_support import cli, cli_env, cli_popen
from conftest import ServerProcess, free_port

from cc_executor.client.discovery import sends_cwd
from cc_executor.jobs.instance_lock import lock_holder

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def env(server: ServerProcess, tmp_path: Path) -> dict[str, str]:
    return cli_env(server, tmp_path / "state")


# -- installed on PATH ---------------------------------------------------------------------------------


@pytest.mark.xdist_group("make_install")
def test_make_install_leaves_a_command_on_path_that_works_from_anywhere(server: ServerProcess, tmp_path: Path) -> None:
    """`make install` from the checkout: a copy of its own (not the checkout's venv), linked into BINDIR; a new
    shell with only that on PATH runs jobs with it."""
    bindir, venv = tmp_path / "bin", tmp_path / "venv"
    done = subprocess.run(
        ["make", "-s", "install", f"INSTALL_DIR={venv}", f"BINDIR={bindir}", f"PYTHON={sys.executable}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{bindir} is not on your PATH" in done.stdout
    command = bindir / "cc-executor"
    assert command.is_symlink() and Path(os.readlink(command)).parent == venv / "bin"
    shell = cli_env(server, tmp_path / "state") | {"PATH": f"{bindir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    work = tmp_path / "somewhere"
    work.mkdir()
    version = subprocess.run(["cc-executor", "--version"], env=shell, capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("cc-executor "), version.stderr
    ran = subprocess.run(["cc-executor", "run", "pwd"], env=shell, cwd=work, capture_output=True, text=True, timeout=60)
    assert (ran.returncode, ran.stdout) == (0, f"{work}\n"), ran.stderr
    # Its own copy: the package it runs is not the checkout's source tree.
    where = subprocess.run(
        [str(venv / "bin/python"), "-c", "import cc_executor; print(cc_executor.__file__)"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert str(venv) in where.stdout and str(REPO / "src") not in where.stdout


# -- in the background --------------------------------------------------------------------------------


def test_serve_daemon_runs_in_the_background_and_stop_ends_it(tmp_path: Path) -> None:
    state = tmp_path / "state"
    port = free_port()
    env = cli_env(None, state) | {"CC_EXECUTOR_URL": f"ws://127.0.0.1:{port}/ws/mcp"}
    started = cli(env, "serve", "--daemon", "--host", "127.0.0.1", "--port", str(port), timeout=60)
    try:
        assert started.returncode == 0, started.stderr
        assert "runs in the background" in started.stderr and "cc-executor stop" in started.stderr
        pid = int((state / "server.pid").read_text())
        assert (lock_holder(state) or {}).get("pid") == pid
        assert f"log:   {state / 'server.log'}" in started.stderr
        ran = cli(env, "run", "echo from-the-daemon")
        assert (ran.returncode, ran.stdout) == (0, "from-the-daemon\n"), ran.stderr
        again = cli(env, "serve", "--daemon", "--host", "127.0.0.1", "--port", str(port), timeout=60)
        assert again.returncode == 2 and "already runs" in again.stderr
        log = (state / "server.log").read_text()
        assert "listening on" in log and "Traceback" not in log
    finally:
        stopped = cli(env, "stop", timeout=60)
    assert stopped.returncode == 0 and "stopped the server" in stopped.stderr, stopped.stderr
    assert lock_holder(state) is None and not (state / "server.pid").exists()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    nothing = cli(env, "stop")
    assert nothing.returncode == 1 and "no server is running" in nothing.stderr


def test_a_daemon_that_cannot_start_says_why(tmp_path: Path) -> None:
    env = cli_env(None, tmp_path / "state") | {"CC_EXECUTOR_HOST": "0.0.0.0"}
    done = cli(env, "serve", "--daemon", "--no-auth", "--port", str(free_port()), timeout=60)
    assert done.returncode != 0 and "while starting" in done.stderr, done.stderr
    assert "--no-auth" in done.stderr  # the server's own refusal, read back from its log


# -- the caller's directory ---------------------------------------------------------------------------


def test_jobs_run_where_the_caller_stands(env: dict[str, str], tmp_path: Path) -> None:
    here = tmp_path / "project"
    (here / "sub").mkdir(parents=True)
    assert cli(env, "run", "pwd", cwd=here).stdout == f"{here}\n"
    assert cli(env, "run", "--cwd", "sub", "pwd", cwd=here).stdout == f"{here / 'sub'}\n"  # relative to the caller
    assert cli(env, "run", "--cwd", str(tmp_path), "pwd", cwd=here).stdout == f"{tmp_path}\n"
    server_default = cli(env | {"CC_EXECUTOR_SEND_CWD": "never"}, "run", "pwd", cwd=here)
    assert server_default.returncode == 0 and server_default.stdout != f"{here}\n"


def test_the_python_client_runs_where_its_caller_stands(server: ServerProcess, tmp_path: Path) -> None:
    code = "from cc_executor.client import run; print(run('pwd').stdout, end='')"
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=cli_env(server, tmp_path / "state"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout == f"{tmp_path}\n", done.stderr


def test_tasks_run_where_the_caller_stands(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "tasks.yaml").write_text("tasks:\n  - pwd > where.txt\n")
    done = cli(env, "tasks", "run", "tasks.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "where.txt").read_text() == f"{tmp_path}\n"


@pytest.mark.parametrize(
    ("url", "mode", "sent"),
    [
        ("ws://127.0.0.1:8003/ws/mcp", "auto", True),
        ("ws://localhost:8003/ws/mcp", "auto", True),
        ("ws://[::1]:8003/ws/mcp", "auto", True),
        ("ws://127.0.0.2:8003/ws/mcp", "auto", True),
        ("ws://build-box.example:8003/ws/mcp", "auto", False),
        ("wss://10.0.0.5:8003/ws/mcp", "auto", False),
        ("ws://10.0.0.5:8003/ws/mcp", "always", True),
        ("ws://127.0.0.1:8003/ws/mcp", "never", False),
    ],
)
def test_only_a_server_on_this_machine_gets_the_caller_s_directory(url: str, mode: str, sent: bool) -> None:
    assert sends_cwd(url, mode) is sent  # type: ignore[arg-type]


# -- why a job ended ----------------------------------------------------------------------------------


def test_run_says_on_stderr_why_a_job_ended(env: dict[str, str]) -> None:
    timed_out = cli(env, "run", "--timeout", "0.5", "sleep 10")
    assert timed_out.returncode == 124
    assert timed_out.stderr.strip() == "cc-executor: timed out after 0.5 s (the request's timeout)"
    killed = cli(env, "run", "kill -9 $$")
    assert killed.returncode == 137 and "killed by SIGKILL" in killed.stderr
    plain = cli(env, "run", "exit 3")
    assert (plain.returncode, plain.stderr) == (3, "")  # its own exit: the code says it all

    marker = uuid.uuid4().hex
    following = cli_popen(env, "run", f"echo {marker}; sleep 30")
    assert following.stdout is not None and following.stdout.readline() == f"{marker}\n"
    jobs = json.loads(cli(env, "jobs", "--json", "--state", "running").stdout)
    [job] = [j for j in jobs if marker in j["command"]]
    assert cli(env, "cancel", job["job_id"]).returncode == 0
    assert following.wait(30) == 130
    assert following.stderr is not None
    assert f"job {job['job_id']} cancelled" in following.stderr.read()


def test_run_shows_hook_warnings_as_they_happen(make_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    hooks = tmp_path / "hooks.json"
    failing = {"type": "command", "command": "echo the-hook-broke >&2; exit 3"}
    hooks.write_text(json.dumps({"hooks": {"pre_execute": [{"hooks": [failing]}]}}))
    srv = make_server(CC_EXECUTOR_HOOKS_FILE=str(hooks))
    done = cli(cli_env(srv, tmp_path / "s"), "run", "echo ran")
    assert done.returncode == 0 and done.stdout == "ran\n"
    assert done.stderr.strip() == (
        "cc-executor: pre_execute hook warning: hook failed with exit code 3: the-hook-broke"
    ), done.stderr


# -- errors in one line -------------------------------------------------------------------------------


def test_a_refusal_is_words_not_a_python_repr(env: dict[str, str]) -> None:
    for args in (["--timeout", "-1"], ["--cwd", "/no/such/dir"], ["--on-stall", "cancel", "--max-stalls", "0"]):
        done = cli(env, "run", *args, "true")
        assert done.returncode == 1, done.stderr
        assert done.stderr.count("\n") == 1 and "{'" not in done.stderr and "[{" not in done.stderr, done.stderr


def test_mcp_with_a_wrong_token_is_one_line(make_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    srv = make_server(CC_EXECUTOR_TOKEN="right-token-123")
    done = subprocess.run(
        [sys.executable, "-m", "cc_executor", "mcp", "--token", "wrong"],
        env=cli_env(srv, tmp_path / "s"),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "wrong token" in done.stderr and "--token" in done.stderr


# -- start-up -----------------------------------------------------------------------------------------

HEAVY = ("pydantic", "websockets", "rich", "bashlex", "psutil", "yaml", "cc_executor.client", "cc_executor.config")


def test_help_and_version_load_none_of_the_heavy_libraries() -> None:
    """`--help` builds every command's parser; none of that needs the client, pydantic or rich, which cost most
    of a second to import (the time itself is measured in docs/cli.md, not asserted here)."""
    code = (
        "import sys\nfrom cc_executor.cli import build_parser\nbuild_parser().format_help()\n"
        f"print([m for m in sys.modules if m.split('.')[0] in {HEAVY!r} or m.startswith({HEAVY!r})])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def _wait_gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_stop_finds_a_server_however_it_was_started(make_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    srv = make_server()
    assert srv.proc is not None
    done = cli(cli_env(srv, srv.state_dir), "stop", timeout=60)
    assert done.returncode == 0, done.stderr
    assert srv.proc.wait(30) == 0  # SIGTERM: the graceful shutdown, exit 0
    assert _wait_gone(srv.proc.pid)
