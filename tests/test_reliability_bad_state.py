"""Start-up on bad state (docs/reliability.md): a damaged registry or history is moved aside and the server starts
(the registry rebuilt from the job logs); a state dir it cannot write stops start-up with exit 2 and one line; a
state dir others may enter is tightened to 0700; log paths are relative to the state dir, so a moved state dir
reads its own logs and retention never deletes a file outside it."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import ServerFactory, ServerProcess, free_port, serve_command, server_env
from rpc_client import RpcClient, outputs

from cc_executor.jobs.state_dir import StateDirError, prepare_state_dir

FAILING = "for i in $(seq 1 50); do echo line-$i; done; exit 3"


def _garble_header(path: Path) -> None:
    with open(path, "r+b") as handle:
        handle.write(b"this is not sqlite at all")


def _truncate_short(path: Path) -> None:
    os.truncate(path, 50)


def _truncate_half(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def _random_bytes(path: Path) -> None:
    path.write_bytes(os.urandom(16384))


DAMAGE: dict[str, Callable[[Path], None]] = {
    "garbled-header": _garble_header,
    "truncated-short": _truncate_short,
    "truncated-half": _truncate_half,
    "random-bytes": _random_bytes,
}


def _warnings_naming(server: ServerProcess, name: str) -> list[str]:
    return [line for line in server.log_text().splitlines() if "WARNING" in line and name in line]


async def _run_jobs(server: ServerProcess, count: int = 1) -> list[tuple[str, dict, list]]:
    """Run ``count`` finished jobs (plus padding to make the registry span pages); their ids, summaries, events."""
    done = []
    async with await RpcClient.connect(server.url) as client:
        for n in range(count):
            job_id = (await client.call("execute", command=f"echo job-{n}; {FAILING}"))["job_id"]
            events = await client.collect_until_completed(job_id)
            done.append((job_id, await client.call("jobs.wait", job_id=job_id), events))
    return done


@pytest.mark.parametrize("damage", list(DAMAGE))
async def test_damaged_registry_is_moved_aside_and_rebuilt_from_the_logs(
    make_server: ServerFactory, damage: str
) -> None:
    server = make_server()
    jobs = await _run_jobs(server, 12)  # a dozen rows: the registry is several pages, so half of it is damage
    assert server.terminate() == 0
    state = server.state_dir
    registry = state / "jobs.sqlite3"
    # A job that was live when the registry was lost: a log with no final event.
    live_id = "feedfacecafe"
    started = {
        "jsonrpc": "2.0",
        "method": "process.started",
        "params": {"job_id": live_id, "status": "started", "pid": 1, "pgid": 1, "command": "sleep 999"},
    }
    output = {
        "jsonrpc": "2.0",
        "method": "process.output",
        "params": {"job_id": live_id, "seq": 0, "type": "stdout", "data": "half\n", "truncated": False},
    }
    (state / "jobs" / f"{live_id}.log").write_text(f"0\t{json.dumps(started)}\n0\t{json.dumps(output)}\n")
    DAMAGE[damage](registry)

    server.start()
    moved = sorted(state.glob("jobs.sqlite3.corrupt-*"))
    assert [p.name for p in moved if not p.name.endswith(("-wal", "-shm"))], "the damaged registry was not kept"
    warnings = _warnings_naming(server, "jobs.sqlite3")
    assert len(warnings) == 1 and str(registry) in warnings[0] and moved[0].name in warnings[0], warnings
    assert "Traceback" not in server.log_text()
    async with await RpcClient.connect(server.url) as client:
        listed = {j["job_id"]: j for j in await client.call("jobs.list")}
        for job_id, before, _events in jobs:
            after = listed[job_id]
            for key in ("state", "exit_code", "next_seq", "output_bytes", "command"):
                assert after[key] == before[key], (job_id, key)
            assert after["duration"] == pytest.approx(before["duration"])
        assert listed[live_id]["state"] == "lost" and listed[live_id]["command"] == "sleep 999"
        assert listed[live_id]["next_seq"] == 1
        job_id, before, events = jobs[-1]
        await client.call("attach", job_id=job_id, from_seq=0)
        replay = await client.collect_until_completed(job_id)
    assert outputs(replay) == outputs(events)
    assert replay[-1]["params"]["exit_code"] == 3
    # The rebuilt registry is a working one: a second restart needs no recovery and loses nothing.
    assert server.terminate() == 0
    server.start()
    assert len(_warnings_naming(server, "jobs.sqlite3")) == 1  # still only the first start's
    async with await RpcClient.connect(server.url) as client:
        assert {j for j, _, _ in jobs} | {live_id} <= {j["job_id"] for j in await client.call("jobs.list")}


@pytest.mark.parametrize("damage", ["garbled-header", "random-bytes", "truncated-half"])
async def test_damaged_history_is_moved_aside_and_history_keeps_working(
    make_server: ServerFactory, damage: str
) -> None:
    server = make_server()
    await _run_jobs(server, 12)
    assert server.terminate() == 0
    history = server.state_dir / "history.sqlite3"
    assert history.exists()
    DAMAGE[damage](history)

    server.start()
    moved = [p for p in server.state_dir.glob("history.sqlite3.corrupt-*") if not p.name.endswith(("-wal", "-shm"))]
    assert len(moved) == 1
    warnings = _warnings_naming(server, "history.sqlite3")
    assert len(warnings) == 1 and str(history) in warnings[0] and moved[0].name in warnings[0], warnings
    assert server.health()["history"]["healthy"] is True
    job_id = (await _run_jobs(server, 1))[0][0]
    async with await RpcClient.connect(server.url) as client:
        records = await client.call("history", limit=10)
    assert [r["job_id"] for r in records] == [job_id]  # a fresh history that records again
    assert "unavailable" not in server.log_text()


def _start_expecting_failure(state_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        serve_command(free_port(), no_auth=True),
        env=server_env(state_dir),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def read_only_mount(tmp_path: Path) -> Iterator[Path]:
    """A read-only tmpfs: unwritable even for root (CI runs as root, and root writes a 0500 directory)."""
    target = tmp_path / "ro-state"
    target.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro", "tmpfs", str(target)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=True)


@pytest.fixture
def immutable_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory with the immutable attribute: no file can be created in it, by root either."""
    target = tmp_path / "immutable-state"
    (target / "jobs").mkdir(parents=True, mode=0o700)
    target.chmod(0o700)
    done = subprocess.run(["chattr", "+i", str(target)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot set the immutable attribute here: {done.stderr.decode().strip()}")
    try:
        yield target
    finally:
        subprocess.run(["chattr", "-i", str(target)], check=True)


@pytest.mark.parametrize("kind", ["read_only_mount", "immutable_dir"])
def test_unwritable_state_dir_stops_start_up_with_one_line(request: pytest.FixtureRequest, kind: str) -> None:
    state_dir: Path = request.getfixturevalue(kind)
    done = _start_expecting_failure(state_dir)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1, done.stderr
    assert str(state_dir) in lines[0] and "not writable" in lines[0], lines[0]
    assert "Traceback" not in done.stderr
    with pytest.raises(StateDirError, match="not writable"):
        prepare_state_dir(state_dir)


@pytest.mark.xdist_group("nobody")  # processes of user nobody: see conftest.py
def test_state_dir_of_another_user_is_refused_for_that_user(tmp_path: Path) -> None:
    """The check as user nobody (what a non-root server meets): a 0700 directory of root is not writable."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run the check as nobody")
    state_dir = Path("/tmp") / f"cc-bad-state-{os.getpid()}"
    state_dir.mkdir(mode=0o755)
    try:
        code = (
            "import sys; from pathlib import Path\n"
            "from cc_executor.jobs.state_dir import prepare_state_dir, StateDirError\n"
            f"try: prepare_state_dir(Path({str(state_dir)!r}))\n"
            "except StateDirError as e: print(e); sys.exit(2)\n"
        )
        src = str(Path(__file__).resolve().parents[1] / "src")
        done = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env={"PYTHONPATH": src, "PATH": os.environ.get("PATH", "")},
            timeout=30,
            check=False,
        )
        if "No module named" in done.stderr or ("Permission denied" in done.stderr and "python" in done.stderr):
            pytest.skip(f"user nobody cannot run this interpreter: {done.stderr.strip()[-200:]}")
        assert done.returncode == 2, done.stdout + done.stderr
        assert str(state_dir) in done.stdout and "Permission denied" in done.stdout
        assert stat.S_IMODE(state_dir.stat().st_mode) == 0o755  # not ours to tighten; untouched
    finally:
        shutil.rmtree(state_dir)


def test_loose_state_dir_and_jobs_dir_are_tightened_with_one_warning_each(make_server: ServerFactory) -> None:
    server = make_server()
    assert server.terminate() == 0
    server.state_dir.chmod(0o777)
    (server.state_dir / "jobs").chmod(0o755)
    server.start()
    assert stat.S_IMODE(server.state_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((server.state_dir / "jobs").stat().st_mode) == 0o700
    tightened = [line for line in server.log_text().splitlines() if "tightened it to 0700" in line]
    assert len(tightened) == 2, tightened
    assert any(f"{server.state_dir} had mode 0777" in line for line in tightened)
    assert any(f"{server.state_dir / 'jobs'} had mode 0755" in line for line in tightened)
    server.terminate()
    server.start()  # already tight: no new warning
    assert len([line for line in server.log_text().splitlines() if "tightened it to 0700" in line]) == 2


def _log_paths(state_dir: Path) -> list[str]:
    with sqlite3.connect(state_dir / "jobs.sqlite3") as db:
        return [row[0] for row in db.execute("SELECT log_path FROM jobs")]


async def test_moved_state_dir_reads_its_own_logs(make_server: ServerFactory, tmp_path: Path) -> None:
    server = make_server()
    jobs = await _run_jobs(server, 3)
    assert server.terminate() == 0
    assert all(p and not os.path.isabs(p) for p in _log_paths(server.state_dir))  # stored relative
    # An old server's row: an absolute path inside the state dir reads as relative after the move.
    with sqlite3.connect(server.state_dir / "jobs.sqlite3") as db:
        db.execute(
            "UPDATE jobs SET log_path = ? WHERE job_id = ?",
            (str(server.state_dir / "jobs" / f"{jobs[0][0]}.log"), jobs[0][0]),
        )
    (tmp_path / "elsewhere").mkdir()
    moved = ServerProcess(tmp_path / "elsewhere")
    shutil.move(server.state_dir, moved.state_dir)
    # The old location's absolute path no longer exists; the new one must serve everything.
    try:
        moved.start()
        async with await RpcClient.connect(moved.url) as client:
            listed = {j["job_id"]: j for j in await client.call("jobs.list")}
            for job_id, before, events in jobs:
                assert listed[job_id]["state"] == "failed" and listed[job_id]["next_seq"] == before["next_seq"]
                await client.call("attach", job_id=job_id, from_seq=0)
                assert outputs(await client.collect_until_completed(job_id)) == outputs(events), job_id
    finally:
        moved.stop()


async def test_registry_paths_outside_the_state_dir_are_never_read_or_deleted(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    server = make_server()
    jobs = await _run_jobs(server, 4)
    assert server.terminate() == 0
    # Rows as an older server wrote them for a state dir that then moved: absolute paths to the old place,
    # where another directory's files now lie (decoys with the same names and other content).
    elsewhere = tmp_path / "someone-else" / "jobs"
    elsewhere.mkdir(parents=True)
    decoy = {
        "jsonrpc": "2.0",
        "method": "process.output",
        "params": {"job_id": "x", "seq": 0, "type": "stdout", "data": "DECOY\n", "truncated": False},
    }
    with sqlite3.connect(server.state_dir / "jobs.sqlite3") as db:
        for job_id, _, _ in jobs:
            (elsewhere / f"{job_id}.log").write_text(f"0\t{json.dumps(decoy)}\n")
            db.execute("UPDATE jobs SET log_path = ? WHERE job_id = ?", (str(elsewhere / f"{job_id}.log"), job_id))
    server.env["CC_EXECUTOR_JOB_RETENTION_COUNT"] = "2"
    server.start()  # retention at start forgets the two oldest jobs and deletes their logs
    warnings = [line for line in server.log_text().splitlines() if "outside the state directory" in line]
    assert len(warnings) == 1 and str(elsewhere) in warnings[0]
    assert all((elsewhere / f"{job_id}.log").exists() for job_id, _, _ in jobs)  # nothing outside deleted
    logs = server.state_dir / "jobs"
    assert not any((logs / f"{job_id}.log").exists() for job_id, _, _ in jobs[:2])
    async with await RpcClient.connect(server.url) as client:
        assert {j["job_id"] for j in await client.call("jobs.list")} == {j for j, _, _ in jobs[2:]}
        for job_id, _, events in jobs[2:]:
            await client.call("attach", job_id=job_id, from_seq=0)
            replay = await client.collect_until_completed(job_id)
            assert all(o["data"] != "DECOY\n" for o in outputs(replay))
            assert outputs(replay) == outputs(events)


async def test_a_job_whose_row_was_never_written_comes_back_from_its_log(make_server: ServerFactory) -> None:
    """The server died before its batched registry write (or the registry could not be written): the job's log
    is still there, so the job comes back with its output instead of being "not found"."""
    server = make_server()
    ((job_id, before, events),) = await _run_jobs(server, 1)
    assert server.terminate() == 0
    with sqlite3.connect(server.state_dir / "jobs.sqlite3") as db:
        assert db.execute("DELETE FROM jobs WHERE job_id = ?", (job_id,)).rowcount == 1
    server.start()
    async with await RpcClient.connect(server.url) as client:
        job = await client.call("jobs.get", job_id=job_id)
        assert job["state"] == "failed" and job["next_seq"] == before["next_seq"]
        await client.call("attach", job_id=job_id, from_seq=0)
        assert outputs(await client.collect_until_completed(job_id)) == outputs(events)
    assert _warnings_naming(server, "had a log but no row")
    assert server.terminate() == 0
    with sqlite3.connect(server.state_dir / "jobs.sqlite3") as db:  # and it is recorded again
        assert db.execute("SELECT count(*) FROM jobs WHERE job_id = ?", (job_id,)).fetchone() == (1,)
