"""What a job inherits from the server (jobs/job_env.py): no server setting, no secret, nothing the operator
excluded; and the pieces of CC_EXECUTOR_JOB_USER that need no server (resolution, refusal, non-dumpable)."""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from cc_executor.config import ConfigError, load_settings
from cc_executor.jobs.job_env import (
    STREAMING_ENV,
    base_environ,
    job_environ,
    job_uids,
    job_user_refusal,
    parse_exclude,
    resolve_job_user,
    server_only_names,
)
from cc_executor.jobs.spawner import cleanup_recorded
from cc_executor.jobs.spawner_main import TOKEN_ENV, JobUser, start_job

SERVER_ENV = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/root",
    "DEBUG": "1",
    "CC_EXECUTOR_TOKEN": "tok-secret-1234",
    "CC_EXECUTOR_STATE_DIR": "/srv/state",
    "cc_executor_limit_as": "32G",
    "CC_EXECUTOR_JOB_TOKEN": "job-42",
    "REDIS_URL": "redis://:s3cretpass@127.0.0.1:1/0",
    "redis_url": "redis://:lower-case-pass@h/0",
    "AWS_SECRET_ACCESS_KEY": "aws-secret",
    "aws_session_token": "aws-session",
    "DEPLOY_KEY": "deploy-key",
    "KEEP_ME": "kept-marker",
}


def env_of(env: dict[str, str]) -> str:
    return subprocess.run(["env"], env=env, capture_output=True, text=True, check=True).stdout  # noqa: S607


def test_server_settings_and_secrets_are_dropped_from_a_real_jobs_environment() -> None:
    drop = server_only_names(SERVER_ENV, exclude=())
    assert set(drop) == {
        "CC_EXECUTOR_TOKEN",
        "CC_EXECUTOR_STATE_DIR",
        "cc_executor_limit_as",
        "REDIS_URL",
        "redis_url",
    }
    seen = env_of(job_environ(SERVER_ENV, {"MINE": "yes"}, exclude=()))
    for secret in ("tok-secret-1234", "/srv/state", "32G", "s3cretpass", "lower-case-pass"):
        assert secret not in seen
    # The positive control: everything else, the job's own marker and the request's variables are there.
    assert "MINE=yes" in seen and "DEBUG=1" in seen and "CC_EXECUTOR_JOB_TOKEN=job-42" in seen
    assert "KEEP_ME=kept-marker" in seen and "AWS_SECRET_ACCESS_KEY=aws-secret" in seen
    assert all(f"{k}={v}" in seen for k, v in STREAMING_ENV.items())


def test_operator_exclusions_take_names_and_globs_ignoring_case() -> None:
    assert parse_exclude(" aws_*, DEPLOY_KEY ,,") == ("AWS_*", "DEPLOY_KEY")
    assert parse_exclude(["A,B", "c"]) == ("A", "B", "C")
    env = base_environ(SERVER_ENV, exclude=["AWS_*", "deploy_key"])
    assert not {"AWS_SECRET_ACCESS_KEY", "aws_session_token", "DEPLOY_KEY"} & env.keys()
    assert env["KEEP_ME"] == "kept-marker" and env["CC_EXECUTOR_JOB_TOKEN"] == "job-42"
    # Without an explicit list, the environment's own CC_EXECUTOR_JOB_ENV_EXCLUDE applies (the spawner's case).
    own = base_environ({**SERVER_ENV, "cc_executor_job_env_exclude": "AWS_*"})
    assert "AWS_SECRET_ACCESS_KEY" not in own and "aws_session_token" not in own and own["DEPLOY_KEY"]
    assert "cc_executor_job_env_exclude" not in own


def test_request_variables_win_and_unset_names_go() -> None:
    env = job_environ(SERVER_ENV, {"KEEP_ME": "from-request"}, ["DEBUG"], exclude=())
    assert env["KEEP_ME"] == "from-request" and "DEBUG" not in env and env["PATH"] == "/usr/bin:/bin"


def test_job_user_gets_its_own_home_user_and_logname() -> None:
    nobody = resolve_job_user("nobody")
    entry = pwd.getpwnam("nobody")
    assert (nobody.uid, nobody.gid, nobody.home) == (entry.pw_uid, entry.pw_gid, entry.pw_dir)
    assert resolve_job_user(str(entry.pw_uid)) == nobody
    env = job_environ(SERVER_ENV, {}, exclude=(), user=nobody)
    assert (env["HOME"], env["USER"], env["LOGNAME"]) == (entry.pw_dir, "nobody", "nobody")
    assert job_uids("nobody") == {os.getuid(), entry.pw_uid} and job_uids(None) == {os.getuid()}
    with pytest.raises(ValueError, match="no such user 'no-such-user-x'"):
        resolve_job_user("no-such-user-x")


def test_settings_validate_both_new_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CC_EXECUTOR_JOB_ENV_EXCLUDE", "aws_*,X")
    monkeypatch.setenv("CC_EXECUTOR_JOB_USER", "65534")
    settings = load_settings()
    assert settings.job_env_exclude == ["AWS_*", "X"]
    assert settings.job_user == pwd.getpwuid(65534).pw_name
    monkeypatch.setenv("CC_EXECUTOR_JOB_USER", "no-such-user-x")
    with pytest.raises(ConfigError, match=r"CC_EXECUTOR_JOB_USER='no-such-user-x'.*no such user"):
        load_settings()


def test_job_user_needs_root() -> None:
    message = job_user_refusal("nobody", 1000)
    assert message is not None and "needs the server to run as root" in message and "\n" not in message
    assert job_user_refusal("nobody", 0) is None and job_user_refusal(None, 1000) is None


def test_serve_refuses_job_user_when_not_root(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: os.PathLike[str]
) -> None:
    """The wiring in ``cc-executor serve``: the check runs on the real euid, before anything is written."""
    from cc_executor.cli import serve as serve_cli

    state = os.path.join(tmp_path, "state")
    monkeypatch.setenv("CC_EXECUTOR_STATE_DIR", state)
    monkeypatch.setenv("CC_EXECUTOR_JOB_USER", "nobody")
    monkeypatch.setattr(serve_cli.os, "geteuid", lambda: 1000)
    args = argparse.Namespace(host="127.0.0.1", port=0, no_auth=False, daemon=False, log_file=None)
    assert serve_cli.serve(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("cc-executor: CC_EXECUTOR_JOB_USER=nobody needs the server to run as root")
    assert len(err.splitlines()) == 1 and not os.path.exists(state)


@pytest.mark.skipif(os.geteuid() != 0, reason="switching a child to nobody needs root")
@pytest.mark.xdist_group("nobody")  # processes of user nobody: see conftest.py
def test_start_job_runs_as_the_user_and_refuses_a_cwd_it_cannot_enter(open_dir: str) -> None:
    nobody = resolve_job_user("nobody")
    private = os.path.join(open_dir, "private")
    os.mkdir(private, 0o700)
    with pytest.raises(PermissionError) as err:
        start_job(["/bin/sh", "-c", "true"], cwd=private, env={}, stdin_pipe=False, user=nobody)
    assert "the job user nobody" in str(err.value) and err.value.filename == private
    # The positive control: as the server's user the same cwd works; as nobody a public one does.
    public = os.path.join(open_dir, "public")
    os.mkdir(public, 0o755)
    for cwd, user, want in ((private, None, "0"), (public, nobody, str(nobody.uid))):
        popen = start_job(
            ["/bin/sh", "-c", "id -u; pwd"], cwd=cwd, env={"PATH": "/usr/bin:/bin"}, stdin_pipe=False, user=user
        )
        out, _ = popen.communicate(timeout=10)
        assert out.decode().split() == [want, cwd]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a process as nobody")
@pytest.mark.xdist_group("nobody")  # processes of user nobody: see conftest.py
def test_non_dumpable_server_hides_its_environment_from_same_user_processes() -> None:
    """``protect_server_process`` (what ``serve`` does when not root): a process of the same user can read the
    server's /proc/<pid>/environ before it and cannot after it. Run as nobody in a child that imported
    everything while still root (nobody cannot load this interpreter from /root)."""
    code = textwrap.dedent(
        """
        import os, sys
        from cc_executor.jobs.job_env import _prctl, PR_SET_DUMPABLE, is_dumpable, protect_server_process

        def child_reads() -> str:
            pid = os.fork()
            if pid == 0:
                try:
                    with open(f"/proc/{os.getppid()}/environ", "rb") as handle:
                        os._exit(0 if b"SERVER_SECRET=hidden-value" in handle.read() else 3)
                except PermissionError:
                    os._exit(4)
            return {0: "read", 3: "no-secret", 4: "denied"}[os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])]

        os.setgroups([]); os.setgid(65534); os.setuid(65534)
        _prctl(PR_SET_DUMPABLE, 1)  # changing uid made us non-dumpable; start from a plain process of nobody
        before = child_reads()
        assert is_dumpable()
        done = protect_server_process()
        print(before, done, is_dumpable(), child_reads())
        """
    )
    env = {**os.environ, "SERVER_SECRET": "hidden-value"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30, cwd="/", check=False
    )
    assert result.stdout.split() == ["read", "True", "False", "denied"], result.stderr


def test_job_user_travels_to_the_spawner_as_json() -> None:
    user = JobUser("nobody", 65534, 65534, (65534,), "/nonexistent")
    assert JobUser.from_json(user.to_json()) == user


@pytest.mark.skipif(os.geteuid() != 0, reason="switching a child to nobody needs root")
@pytest.mark.xdist_group("nobody")  # processes of user nobody: see conftest.py
def test_without_a_cwd_a_job_user_falls_back_from_a_server_cwd_it_cannot_enter(
    open_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    nobody = resolve_job_user("nobody")
    private = os.path.join(open_dir, "private")
    os.mkdir(private, 0o700)
    monkeypatch.chdir(private)
    expected = nobody.home if os.access(nobody.home, os.X_OK) and nobody.home != private else "/"
    for user, want in ((nobody, expected), (None, private)):  # the server's user stays in the server's cwd
        popen = start_job(
            ["/bin/sh", "-c", "pwd"], cwd=None, env={"PATH": "/usr/bin:/bin"}, stdin_pipe=False, user=user
        )
        out, _ = popen.communicate(timeout=10)
        assert out.decode().strip() == want


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a process as nobody")
@pytest.mark.xdist_group("nobody")  # processes of user nobody: see conftest.py
def test_cleanup_after_a_crash_reaches_jobs_of_the_job_user() -> None:
    """A leftover job group of a dead spawner, running as the job user, is killed at start only when the job
    user's uid is among those cleanup considers ours (as the manager passes it)."""
    nobody = resolve_job_user("nobody")
    env = {"PATH": "/usr/bin:/bin", TOKEN_ENV: "1-999999999-7"}  # an instance that never lived
    # The leader exits at once; its sleep, orphaned (so not our descendant, which cleanup never touches),
    # stays in the job's group and session, as a job's leftovers do after a crash.
    command = "sleep 60 >/dev/null 2>&1 & echo $!"
    popen = start_job(["/bin/sh", "-c", command], cwd="/", env=env, stdin_pipe=False, user=nobody)
    out, _ = popen.communicate(timeout=10)
    pgid, leftover = popen.pid, int(out)
    try:
        assert os.stat(f"/proc/{leftover}").st_uid == nobody.uid
        assert cleanup_recorded([pgid], sweep_orphans=False) == []
        assert os.path.exists(f"/proc/{leftover}")  # the positive control: only our uid by default
        assert cleanup_recorded([pgid], sweep_orphans=False, uids=job_uids("nobody")) == [leftover]
        assert wait_gone(leftover)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(leftover, signal.SIGKILL)


def wait_gone(pid: int, within: float = 10.0) -> bool:
    """True once ``pid`` is gone or a zombie (init reaps it)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat", "rb") as handle:
                if handle.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X"):
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False
