"""What a job can see of the server's secrets, checked from inside real jobs of a real server.

The server runs with ``CC_EXECUTOR_TOKEN`` and a ``REDIS_URL`` holding a password (on a port nothing listens on:
the history store only fails when used, and the server starts as it does today). Each job searches its own
environment, its parent's (the spawner, or the server with ``CC_EXECUTOR_SPAWNER=false``), every
``/proc/*/environ`` it can read and the state directory, and reports only counts, so no secret ends up in a
job's output or log. Every "found nothing" is paired with a positive control: the same search finds a planted,
non-secret marker (or, as the server's user, the secret itself where it is documented to be readable).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ServerFactory, ServerProcess, free_port, serve_command, server_env
from proc_scan import eventually, group_members, proc_state, survivors
from rpc_client import RpcCallError, RpcClient, completed, text_of

TOKEN = "some-secret-token"
REDIS_PASSWORD = "s3cretpass"
REDIS_URL = f"redis://:{REDIS_PASSWORD}@127.0.0.1:1/0"
MARKER = "visible-marker-4242"
NOBODY = pwd.getpwnam("nobody")

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="CC_EXECUTOR_JOB_USER needs the server to run as root")
# Jobs and servers run as user nobody here: one xdist worker runs them all, one at a time (see conftest.py).
pytestmark = pytest.mark.xdist_group("nobody")

# The secrets are assembled at run time, so the command text (kept in the registry, shown in /proc/*/cmdline)
# never holds them whole; only counts are printed. Each ``scan`` line: label, files readable, files holding
# the token, the Redis password, the marker.
SCAN = r"""
t1=some-secret; t2=-token; TOK="$t1$t2"
p1=s3cret; p2=pass; PW="$p1$p2"
scan() {
  label=$1; shift; r=0; t=0; p=0; m=0
  for f in "$@"; do
    data=$(tr '\0' '\n' < "$f" 2>/dev/null) || continue
    r=$((r + 1))
    case $data in *"$TOK"*) t=$((t + 1));; esac
    case $data in *"$PW"*) p=$((p + 1));; esac
    case $data in *"$MARK"*) m=$((m + 1));; esac
  done
  echo "$label $r $t $p $m"
}
echo "uid $(id -u)"
echo "parentcmd $(tr '\0' ' ' < /proc/$PPID/cmdline 2>/dev/null | cut -c1-200)"
scan self /proc/$$/environ
scan parent /proc/$PPID/environ
scan all /proc/[0-9]*/environ
scan state $(find "$STATE" -type f 2>/dev/null)
ls "$STATE" >/dev/null 2>&1 && echo "statedir listed" || echo "statedir denied"
"""

# What the server tells a job about itself: its id and token (the spawner's), where the server is, and the key its
# agent asks for permission with (its own, void at its end; docs/agents.md "Permission bridge").
JOB_OWN = {"CC_EXECUTOR_JOB_TOKEN", "CC_EXECUTOR_JOB_ID", "CC_EXECUTOR_URL", "CC_EXECUTOR_PERMISSION_KEY"}


def parse_scan(text: str) -> dict[str, Any]:
    """``{"self": (readable, token, password, marker), ..., "uid": "0", "statedir": "listed"}``."""
    found: dict[str, Any] = {}
    for line in text.splitlines():
        label, _, rest = line.partition(" ")
        words = rest.split()
        if label in ("self", "parent", "all", "state"):
            found[label] = tuple(int(w) for w in words)
        elif label in ("uid", "statedir", "parentcmd"):
            found[label] = rest
    return found


async def run_job(rpc: RpcClient, command: str, **params: Any) -> tuple[str, dict[str, Any]]:
    job = await rpc.call("execute", command=command, **params)
    events = await rpc.collect_until_completed(job["job_id"], timeout=60)
    return text_of(events, "stdout"), completed(events)


def start(make_server: ServerFactory, **env: str) -> ServerProcess:
    """A server with the token and a password-holding Redis URL in its environment, and a planted marker
    both in that environment and in a file of its state dir."""
    server = make_server(CC_EXECUTOR_TOKEN=TOKEN, REDIS_URL=REDIS_URL, PLANTED_MARKER=MARKER, **env)
    (server.state_dir / "planted.txt").write_text(f"{MARKER}\n")
    return server


async def scan_from_job(server: ServerProcess) -> tuple[dict[str, Any], str]:
    async with await RpcClient.connect(f"{server.url}?token={TOKEN}") as rpc:
        out, end = await run_job(rpc, SCAN, env={"STATE": str(server.state_dir), "MARK": MARKER})
    assert end["exit_code"] == 0, out
    return parse_scan(out), out


async def test_without_job_user_neither_the_job_nor_its_parent_holds_a_secret(make_server: ServerFactory) -> None:
    server = start(make_server)
    found, out = await scan_from_job(server)
    assert "cc_executor.jobs.spawner_main" in found["parentcmd"], out  # the parent searched is the spawner
    assert found["self"] == (1, 0, 0, 1), out  # readable, no token, no password, the marker
    assert found["parent"] == (1, 0, 0, 1), out
    # The positive controls of the wider searches, and what is documented as still readable to a job of the
    # server's user: as root it reads every process's environment, the server's (token and URL) included.
    if os.geteuid() == 0:
        _readable, token, password, marker = found["all"]
        assert token >= 1 and password >= 1 and marker >= 2, out
    assert found["state"][3] >= 1 and found["statedir"] == "listed", out
    # A Redis that does not answer does not stop the server: the history reports it unhealthy, as it does today.
    assert server.health()["history"]["backend"] == "redis"
    assert await eventually(lambda: server.health()["history"]["healthy"] is False, timeout=15)
    assert REDIS_PASSWORD not in server.log_text() and TOKEN not in server.log_text()


@needs_root
@pytest.mark.parametrize("spawner", ["true", "false"])
async def test_job_user_nobody_finds_no_secret_anywhere(make_server: ServerFactory, spawner: str) -> None:
    server = start(make_server, CC_EXECUTOR_JOB_USER="nobody", CC_EXECUTOR_SPAWNER=spawner)
    found, out = await scan_from_job(server)
    assert found["uid"] == str(NOBODY.pw_uid), out
    assert found["self"] == (1, 0, 0, 1), out  # the positive control: its own environment is read
    assert found["parent"] == (0, 0, 0, 0), out  # the spawner (or, without it, the server) is root's
    readable, token, password, marker = found["all"]
    assert readable >= 1 and marker >= 1 and (token, password) == (0, 0), out
    assert found["state"] == (0, 0, 0, 0) and found["statedir"] == "denied", out


@needs_root
async def test_job_user_nobody_cannot_read_the_token_file(make_server: ServerFactory) -> None:
    """The token file (written because no CC_EXECUTOR_TOKEN is set) is root's 0600, in root's 0700 state dir."""
    results: dict[str, tuple[str, int]] = {}
    for label, env in (("nobody", {"CC_EXECUTOR_JOB_USER": "nobody"}), ("server-user", {})):
        server = make_server(auth=True, **env)
        token = (server.state_dir / "token").read_text().strip()
        async with await RpcClient.connect(f"{server.url}?token={token}") as rpc:
            out, end = await run_job(rpc, f'cat "{server.state_dir}/token" && echo read-ok')
        results[label] = (("token-seen" if token in out else "") + out.replace(token, "").strip(), end["exit_code"])
    assert results["nobody"][1] != 0 and "token-seen" not in results["nobody"][0]
    # The positive control: the same command as the server's user prints the token.
    assert results["server-user"] == ("token-seenread-ok", 0)


@needs_root
async def test_job_user_controls_stdin_and_the_whole_tree(make_server: ServerFactory, open_dir: str) -> None:
    server = make_server(CC_EXECUTOR_JOB_USER="nobody")
    async with await RpcClient.connect(server.url) as rpc:
        # stdin, and HOME/USER/LOGNAME of the job user
        job = await rpc.call(
            "execute", command='read line; echo "got $line $(id -un) $USER $LOGNAME $HOME"', interactive=True
        )
        await rpc.call("stdin", job_id=job["job_id"], data="hello\n", eof=True)
        events = await rpc.collect_until_completed(job["job_id"])
        assert text_of(events, "stdout").split() == ["got", "hello", "nobody", "nobody", "nobody", NOBODY.pw_dir]

        # A tree with a background child, a setsid child and a double-forked setsid orphan: pause, resume, cancel.
        tree = (
            "sleep 300 & echo $!; setsid sleep 301 & echo $!; "
            "( setsid sh -c 'sleep 302 & echo $!; wait' & ); while :; do sleep 0.1; done"
        )
        job = await rpc.call("execute", command=tree, cwd=open_dir)
        job_id, pgid = job["job_id"], job["pgid"]
        seen: list[dict[str, Any]] = []
        while len(text_of(seen).split()) < 3:
            seen.append(await rpc.next_event(job_id))
        pids = [int(w) for w in text_of(seen).split()]
        assert await eventually(lambda: all(proc_state(p) not in (None, "Z") for p in pids))
        for pid in [job["pid"], *pids]:
            assert os.stat(f"/proc/{pid}").st_uid == NOBODY.pw_uid
        await rpc.call("control", type="PAUSE", job_id=job_id)
        assert await eventually(lambda: all(proc_state(p) == "T" for p in [*group_members(pgid), *pids]))
        await rpc.call("control", type="RESUME", job_id=job_id)
        assert await eventually(lambda: all(proc_state(p) != "T" for p in [*group_members(pgid), *pids]))
        await rpc.call("control", type="CANCEL", job_id=job_id)
        end = completed(await rpc.collect_until_completed(job_id))
        assert end["status"] == "cancelled"
        assert survivors(pgid, [job["pid"], *pids]) == []


@needs_root
async def test_job_user_cwd_it_cannot_enter_fails_clearly(make_server: ServerFactory, open_dir: str) -> None:
    private = os.path.join(open_dir, "private")
    os.mkdir(private, 0o700)
    server = make_server(CC_EXECUTOR_JOB_USER="nobody")
    async with await RpcClient.connect(server.url) as rpc:
        with pytest.raises(RpcCallError) as err:
            await rpc.call("execute", command="pwd", cwd=private)
        assert "the job user nobody" in err.value.message and "Permission denied" in err.value.message
        assert "Traceback" not in err.value.message
        # The positive controls: an open cwd works for nobody, and the private one for the server's user.
        out, end = await run_job(rpc, "pwd; id -u", cwd=open_dir)
        assert (out.split(), end["exit_code"]) == ([open_dir, str(NOBODY.pw_uid)], 0)
    plain = make_server()
    async with await RpcClient.connect(plain.url) as rpc:
        out, end = await run_job(rpc, "pwd", cwd=private)
        assert (out.strip(), end["exit_code"]) == (private, 0)


async def test_operator_exclusions_reach_neither_job_nor_spawner(make_server: ServerFactory) -> None:
    server = make_server(
        CC_EXECUTOR_JOB_ENV_EXCLUDE="MY_PRIVATE_*, deploy_key",
        MY_PRIVATE_A="private-a",
        MY_PRIVATE_B="private-b",
        DEPLOY_KEY="deploy",
        KEEP_ME="kept",
    )
    command = "env | cut -d= -f1 | sort; echo --; tr '\\0' '\\n' < /proc/$PPID/environ | cut -d= -f1 | sort"
    async with await RpcClient.connect(server.url) as rpc:
        out, _end = await run_job(rpc, command)
    own, _, parent = out.partition("--\n")
    # The job's own markers (its token, its id) are the only CC_EXECUTOR_ names a job has; its parent has none.
    for names, own_markers in ((own.split(), JOB_OWN), (parent.split(), set())):
        assert "KEEP_ME" in names  # the positive control: a name not excluded is passed on
        assert not {"MY_PRIVATE_A", "MY_PRIVATE_B", "DEPLOY_KEY", "CC_EXECUTOR_JOB_ENV_EXCLUDE"} & set(names)
        assert not [n for n in names if n.startswith("CC_EXECUTOR_") and n not in own_markers]
    assert set(own.split()) >= JOB_OWN


def _nobody_can_run_this_interpreter() -> str | None:
    """Why a server cannot run as nobody here (None when it can)."""
    if os.geteuid() != 0:
        return "the test needs root to start a server as nobody"
    try:
        probe = subprocess.run(  # noqa: S603 - our own interpreter
            [sys.executable, "-c", "import cc_executor.cli"],
            user=NOBODY.pw_uid,
            group=NOBODY.pw_gid,
            extra_groups=[],
            capture_output=True,
            text=True,
            cwd="/",
            check=False,
            timeout=60,
        )
    except OSError as exc:
        return f"nobody cannot run {sys.executable} ({exc}), so no server can be started as nobody here"
    if probe.returncode != 0:
        return f"nobody cannot run {sys.executable} with this project ({probe.stderr.strip()[-200:]})"
    return None


def test_server_not_running_as_root_refuses_a_job_user(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Run ``cc-executor serve`` as nobody: with CC_EXECUTOR_JOB_USER it refuses with one line; without it (the
    positive control) the same server starts. The in-process variant is in test_security_job_env.py."""
    reason = _nobody_can_run_this_interpreter()
    if reason is not None:
        pytest.skip(reason)
    workdir = tempfile.mkdtemp(prefix="cc-nobody-", dir="/tmp")
    os.chown(workdir, NOBODY.pw_uid, NOBODY.pw_gid)
    try:
        env = server_env(Path(workdir) / "state", {"CC_EXECUTOR_JOB_USER": "nobody"})
        env["HOME"] = workdir
        refused = subprocess.run(  # noqa: S603 - our own server
            serve_command(free_port()),
            env=env,
            user=NOBODY.pw_uid,
            group=NOBODY.pw_gid,
            extra_groups=[],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=workdir,
            check=False,
        )
        assert refused.returncode == 2
        lines = refused.stderr.strip().splitlines()
        assert lines == [lines[0]] and "CC_EXECUTOR_JOB_USER=nobody needs the server to run as root" in lines[0]
        del env["CC_EXECUTOR_JOB_USER"]
        port = free_port()
        server = subprocess.Popen(  # noqa: S603 - our own server
            serve_command(port, no_auth=True),
            env=env,
            user=NOBODY.pw_uid,
            group=NOBODY.pw_gid,
            extra_groups=[],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=workdir,
        )
        try:

            def healthy() -> bool:
                try:
                    return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
                except httpx.HTTPError:
                    return False

            deadline = time.monotonic() + 20
            while not healthy() and time.monotonic() < deadline and server.poll() is None:
                time.sleep(0.1)
            assert healthy()
        finally:
            server.terminate()
            server.wait(30)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
