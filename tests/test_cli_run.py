"""``cc-executor run``, ``jobs``, ``logs``, ``wait`` and the control verbs, run as real subprocesses."""

from __future__ import annotations

import json
import signal
import uuid
from pathlib import Path

import pytest
from cli_support import cli, cli_env, cli_popen
from conftest import ServerProcess


@pytest.fixture
def env(server: ServerProcess, tmp_path: Path) -> dict[str, str]:
    return cli_env(server, tmp_path / "state")


@pytest.mark.parametrize(
    ("command", "extra", "code"),
    [
        ("echo out; echo err >&2", [], 0),
        ("exit 3", [], 3),
        ("sleep 10", ["--timeout", "0.5"], 124),
        ("kill -9 $$", [], 137),
    ],
)
def test_exit_code_is_the_jobs(env: dict[str, str], command: str, extra: list[str], code: int) -> None:
    done = cli(env, "run", command, *extra)
    assert done.returncode == code, done.stderr
    if code == 0:
        assert (done.stdout, done.stderr) == ("out\n", "err\n")


def test_ctrl_c_cancels_the_remote_job(env: dict[str, str]) -> None:
    marker = uuid.uuid4().hex
    proc = cli_popen(env, "run", f"echo ready; sleep 30 # {marker}")
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert "cancelling job" in err
    jobs = json.loads(cli(env, "jobs", "--json", "--limit", "20").stdout)
    [job] = [j for j in jobs if marker in j["command"]]
    assert job["state"] == "cancelled"


def test_detach_then_follow_logs(env: dict[str, str]) -> None:
    done = cli(env, "run", "--detach", "for i in 1 2 3; do echo line $i; sleep 0.2; done; exit 5")
    assert done.returncode == 0
    job_id = done.stdout.strip()
    assert job_id and "logs -f" in done.stderr
    follow = cli(env, "logs", "-f", job_id)
    assert follow.stdout == "line 1\nline 2\nline 3\n", ("logs -f", follow.stderr)
    assert follow.returncode == 5
    stored = cli(env, "logs", job_id, "--from-seq", "0")
    assert stored.stdout == "line 1\nline 2\nline 3\n", ("logs", stored.stderr)
    assert stored.returncode == 0
    assert cli(env, "wait", job_id).returncode == 5


def test_jobs_json_and_table(env: dict[str, str]) -> None:
    marker = uuid.uuid4().hex
    assert cli(env, "run", f"echo {marker}").returncode == 0
    jobs = json.loads(cli(env, "jobs", "--json", "--state", "completed", "--limit", "50").stdout)
    assert any(marker in job["command"] and job["exit_code"] == 0 for job in jobs)
    table = cli(env, "jobs", "--limit", "50").stdout
    assert marker in table and "\x1b" not in table and table.startswith("job")


def test_json_events_and_control_verbs(env: dict[str, str]) -> None:
    events = [json.loads(line) for line in cli(env, "run", "--json", "echo hi").stdout.splitlines()]
    assert [e["event"] for e in events] == ["started", "output", "completed"]
    job_id = cli(env, "run", "--detach", "sleep 30").stdout.strip()
    assert "paused" in cli(env, "pause", job_id).stdout
    assert cli(env, "resume", job_id).returncode == 0
    assert cli(env, "cancel", job_id).returncode == 0
    assert cli(env, "wait", job_id, "--timeout", "10").returncode == 130


def test_errors_a_person_can_act_on(env: dict[str, str], tmp_path: Path) -> None:
    down = cli(cli_env(None, tmp_path / "s"), "jobs")
    assert down.returncode == 1
    assert "cc-executor serve" in down.stderr and "make run" in down.stderr and "Traceback" not in down.stderr
    missing = cli(env, "logs", "no-such-job")
    assert missing.returncode == 1 and "no such job" in missing.stderr
    assert cli(env, "run", "true", "--env", "NOEQUALS").returncode == 2
    assert cli(env, "run").returncode == 2


def test_wrong_token_says_where_the_token_comes_from(make_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    srv = make_server(CC_EXECUTOR_TOKEN="right-token-123")
    done = cli(cli_env(srv, tmp_path / "s", CC_EXECUTOR_TOKEN="wrong-token-456"), "jobs")
    assert done.returncode == 1 and "CC_EXECUTOR_TOKEN" in done.stderr and "token" in done.stderr
    assert cli(cli_env(srv, tmp_path / "s", CC_EXECUTOR_TOKEN="right-token-123"), "jobs").returncode == 0


def test_a_reader_that_goes_away_is_not_an_error(env: dict[str, str]) -> None:
    """`cc-executor run ... | head -1`: the CLI stops quietly when its stdout's reader has gone."""
    proc = cli_popen(env, "run", "seq 1 200000")
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()
    stderr = proc.stderr.read()
    assert proc.wait(30) == 128 + signal.SIGPIPE
    assert "Traceback" not in stderr, stderr


def test_a_reader_that_goes_away_ends_the_job_it_was_reading(env: dict[str, str]) -> None:
    """`cc-executor run "yes" | head -1` must not leave `yes` filling the state dir on the server."""
    marker = uuid.uuid4().hex
    proc = cli_popen(env, "run", f"yes {marker}")
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline() == f"{marker}\n"
    proc.stdout.close()
    stderr = proc.stderr.read()
    assert proc.wait(30) == 128 + signal.SIGPIPE
    assert "Traceback" not in stderr, stderr
    for _ in range(20):  # the cancel was sent before the CLI exited; the tree's end follows at once
        jobs = json.loads(cli(env, "jobs", "--json", "--limit", "50").stdout)
        [job] = [j for j in jobs if marker in j["command"]]
        if job["state"] != "running":
            break
    assert job["state"] == "cancelled", job


def test_version() -> None:
    from cc_executor import __version__

    done = cli({}, "--version")
    assert done.returncode == 0 and done.stdout.strip() == f"cc-executor {__version__}"


def test_jobs_do_not_inherit_make_s_hand_down_from_make_run(make_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`make run` starts the server with MAKELEVEL/MAKEFLAGS set; a job's own `make` must not see them."""
    srv = make_server(MAKELEVEL="1", MAKEFLAGS="-j4 --no-print-directory", MFLAGS="-j4")
    done = cli(cli_env(srv, tmp_path / "state"), "run", "env")
    assert done.returncode == 0, done.stderr
    names = {line.split("=", 1)[0] for line in done.stdout.splitlines()}
    assert not names & {"MAKELEVEL", "MAKEFLAGS", "MFLAGS"}
    assert "PATH" in names  # the positive control: the rest of the environment is there


def test_a_server_url_is_read_as_a_person_means_it(server: ServerProcess, tmp_path: Path) -> None:
    """``host:port``, ``http://host:port`` and ``ws://host:port`` (no path) all reach the server."""
    env = cli_env(None, tmp_path / "state")
    hostport = server.url.split("://", 1)[1].split("/", 1)[0]
    for url in (hostport, f"http://{hostport}", f"ws://{hostport}", f"ws://{hostport}/"):
        done = cli(env, "run", "--url", url, "echo reached")
        assert (done.returncode, done.stdout) == (0, "reached\n"), (url, done.stderr)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://127.0.0.1:8003", "use ws://, wss://, http:// or https://"),
        ("ws://127.0.0.1:99999", "the port is not a number"),
        ("ws://", "no host:port in it"),
    ],
)
def test_a_bad_server_url_is_one_line(tmp_path: Path, url: str, says: str) -> None:
    done = cli(cli_env(None, tmp_path / "state"), "jobs", "--url", url)
    assert done.returncode == 1, done
    [line] = done.stderr.splitlines()  # one line, no traceback
    assert line.startswith(f"cc-executor: server URL {url!r}: {says}"), line


def test_a_mistyped_command_gets_a_suggestion() -> None:
    done = cli({}, "rnu", "echo hi")
    assert done.returncode == 2 and "did you mean 'run'?" in done.stderr, done.stderr
    nested = cli({}, "history", "lsit")
    assert nested.returncode == 2 and "did you mean 'list'?" in nested.stderr, nested.stderr


def test_no_color_means_no_escape_codes_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from cc_executor.cli.table import print_table

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setenv("TERM", "xterm-256color")  # the positive control must not depend on the runner's TERM
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)
    for no_color, escapes in (("1", False), (None, True)):
        if no_color is None:
            monkeypatch.delenv("NO_COLOR", raising=False)
        else:
            monkeypatch.setenv("NO_COLOR", no_color)
        out = Terminal()
        print_table(("job", "state"), [("3f2a", "running")], title="jobs", stream=out)
        assert "running" in out.getvalue() and ("\x1b" in out.getvalue()) is escapes
