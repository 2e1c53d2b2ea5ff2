"""A log that cannot be written is never silent (issue 13, docs/reliability.md "A full disk").

Unit tests write the log through ``/dev/full`` (every write fails with ENOSPC, a real kernel fault); the
end-to-end tests put a real server's state dir on a small tmpfs that fills mid-job, then free space and restart.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ServerProcess, _stop_checked
from rpc_client import RpcClient

from cc_executor.jobs.log_outage import WriteOutages
from cc_executor.jobs.output_log import OutputLog
from cc_executor.jobs.persistence import REGISTRY_RETRY_MAX

# -- the log itself, through /dev/full ------------------------------------------------------------


def _fail_writes(log: OutputLog) -> None:
    """From now on the log's file is /dev/full: every write fails with ENOSPC."""
    assert log._fd is not None
    os.close(log._fd)
    log._fd = os.open("/dev/full", os.O_WRONLY)


def _space_returns(log: OutputLog) -> None:
    assert log._fd is not None and log.path is not None
    os.close(log._fd)
    log._fd = os.open(log.path, os.O_WRONLY | os.O_APPEND)


def _read_all(log: OutputLog) -> list[dict[str, Any]]:
    entries: list[str] = []
    problems: list[Any] = []
    pos = 0
    while True:
        batch, after = log.read(pos, problems=problems)
        if after == pos:
            break
        entries += batch
        pos = after
    assert problems == []
    return [json.loads(e) for e in entries]


def _check_accounted(events: list[dict[str, Any]], next_seq: int) -> tuple[list[int], list[tuple[int, int]]]:
    """Every seq below ``next_seq`` is either delivered once or inside exactly one lost range, and each lost
    range's notice comes right where the missing output was (after the seqs before it, before those after)."""
    delivered: list[int] = []
    lost: list[tuple[int, int]] = []
    expected = 0
    for event in events:
        params = event["params"]
        if event["method"] == "process.output":
            assert params["seq"] == expected, (params["seq"], expected)
            delivered.append(params["seq"])
            expected += 1
        elif event["method"] == "process.error" and params.get("error") == "output_lost":
            first, last = params["lost_seqs"]
            assert first == expected and last >= first, (first, last, expected)
            assert params["bytes_lost"] > 0 and "No space left on device" in params["reason"]
            lost.append((first, last))
            expected = last + 1
    assert expected == next_seq
    return delivered, lost


async def test_a_write_failure_is_told_at_once_and_what_memory_holds_is_written_later(tmp_path: Path) -> None:
    outages = WriteOutages()
    log = OutputLog("j", tmp_path / "j.log", memory_limit=400, full_buffer=1 << 20, outages=outages)
    log.append_output("stdout", "first\n")
    await asyncio.sleep(0)  # the flush the first entry scheduled writes it to the real file
    _fail_writes(log)
    for n in range(1, 40):
        log.append_output("stdout", f"line {n}\n")
    await asyncio.sleep(0)  # the scheduled flush meets the full disk
    assert log.write_error is not None and "ENOSPC" in log.write_error
    assert outages.failing == {"j": log.write_error}
    for n in range(40, 60):
        log.append_output("stdout", f"line {n}\n")
    assert log._mem_start <= 1  # nothing that is only in memory was trimmed, over the 400-byte tail

    events = _read_all(log)
    notices = [e for e in events if e["method"] == "process.error"]
    assert [n["params"]["error"] for n in notices] == ["log_write_failed"]
    assert "No space left on device" in notices[0]["params"]["message"] and notices[0]["params"]["seq"] == 40
    assert [e["params"]["seq"] for e in events if e["method"] == "process.output"] == list(range(60))
    assert events.index(notices[0]) == 40  # told where it happened, after the 40 outputs already appended

    _space_returns(log)
    await asyncio.sleep(1.3)  # the retry (every second) writes everything pending
    assert log.write_error is None and outages.failing == {}
    log.append_event("process.completed", {"status": "completed", "exit_code": 0})
    log.close()
    log.release_memory()
    reread = OutputLog.reopen("j", log.path, log.next_seq, log.output_bytes, log.size_on_disk)  # type: ignore[arg-type]
    assert _read_all(reread) == [*events, _read_all(log)[-1]]  # the file holds exactly what was delivered


async def test_output_beyond_the_budget_is_dropped_and_its_seqs_named(tmp_path: Path) -> None:
    outages = WriteOutages()
    log = OutputLog("j", tmp_path / "j.log", memory_limit=1 << 20, full_buffer=2000, outages=outages)
    _fail_writes(log)
    sent = 0
    for n in range(300):
        log.append_output("stdout", f"line {n:04d}\n")
        sent += 10
        if n == 0:
            await asyncio.sleep(0)  # the first flush fails: the outage starts
    log.append_event("agent.text", {"text": "dropped: derived from dropped output"}, derived=True)
    log.append_event("agent.text", {"text": "kept: not derived"})  # ends the first lost run
    log.append_output("stdout", "after\n")  # still over the budget: dropped
    log.append_event("process.completed", {"status": "completed", "exit_code": 0})
    events = _read_all(log)
    delivered, lost = _check_accounted(events, log.next_seq)
    assert events[-1]["method"] == "process.completed"
    assert len(lost) == 2 and lost[-1][1] == log.next_seq - 1  # the notice stands before process.completed
    lost_bytes = sum(e["params"]["bytes_lost"] for e in events if e["params"].get("error") == "output_lost")
    assert lost_bytes == log.lost_bytes == sent + 6 - 10 * len(delivered)
    first_notice = next(e for e in events if e["params"].get("error") == "output_lost")
    assert "1 derived event(s)" in first_notice["params"]["message"]
    assert events[events.index(first_notice) + 1]["params"]["text"].startswith("kept")
    assert not any(e["params"].get("text", "").startswith("dropped") for e in events)

    _space_returns(log)
    log.close()  # the last write succeeds: the file now holds the whole stream, notices and all
    assert log.write_error is None and outages.failing == {}
    reread = OutputLog.reopen("j", log.path, log.next_seq, log.output_bytes, log.size_on_disk)  # type: ignore[arg-type]
    assert _read_all(reread) == events


# -- a real server whose state dir fills ----------------------------------------------------------


def _mount_tmpfs(path: Path, size: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")


ServerOnFullDisk = Callable[..., tuple[ServerProcess, Path]]


@pytest.fixture
def tmpfs_server(tmp_path: Path) -> Iterator[ServerOnFullDisk]:
    """``tmpfs_server(size, free, **env)``: a server whose state dir is a tmpfs of ``size`` filled up to its last
    ``free`` bytes by a file (returned) the test can delete to give the space back."""
    started: list[ServerProcess] = []

    def start(size: str, free: int, **env: str) -> tuple[ServerProcess, Path]:
        srv = ServerProcess(tmp_path / f"server{len(started)}", env)
        srv.workdir.mkdir()
        _mount_tmpfs(srv.state_dir, size)
        started.append(srv)
        filler = srv.state_dir / "filler"
        stat = os.statvfs(srv.state_dir)
        with open(filler, "wb") as handle:
            handle.write(b"\0" * max(stat.f_bavail * stat.f_frsize - free, 0))
        srv.start()
        return srv, filler

    yield start
    for srv in started:
        if srv.proc is not None and srv.proc.poll() is None:
            _stop_checked(srv)
        subprocess.run(["umount", "-l", str(srv.state_dir)], check=False)


@pytest.fixture
def full_disk_server(tmpfs_server: ServerOnFullDisk) -> tuple[ServerProcess, Path]:
    """A server whose state dir is a 20 MB tmpfs with its last ~3 MB free, 1 MiB kept per job while full."""
    return tmpfs_server("20m", 3 << 20, CC_EXECUTOR_LOG_FULL_BUFFER=str(1 << 20), CC_EXECUTOR_OUTPUT_CHUNK_SIZE="4096")


def _numbers(data: str) -> list[int]:
    return [int(x) for x in re.findall(r"^(\d+)$", data, re.MULTILINE)]


async def test_a_state_dir_that_fills_mid_job_loses_nothing_silently(
    full_disk_server: tuple[ServerProcess, Path], tmp_path: Path
) -> None:
    server, filler = full_disk_server
    go = tmp_path / "go"
    # 2,000,000 numbered lines (about 15 MB) into 3 MB of free space, then wait for the test to free space.
    command = f"seq 1 2000000; while [ ! -e {go} ]; do sleep 0.05; done; echo done"
    async with await RpcClient.connect(server.url) as client:
        job_id = (await client.call("execute", command=command))["job_id"]
        seq_bytes = sum(len(str(n)) + 1 for n in range(1, 2000001))
        deadline = time.monotonic() + 90
        while (await client.call("jobs.get", job_id=job_id))["output_bytes"] < seq_bytes:  # lost bytes count too
            assert time.monotonic() < deadline
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.5)  # the retry in the next second tells what was dropped so far
        events = client.job_pending(job_id)
        assert any(e["params"].get("error") == "output_lost" for e in events), "told within a second"
        notices = [e["params"] for e in events if e["method"] == "process.error"]
        assert notices and notices[0]["error"] == "log_write_failed"  # told at once, before the loss
        assert "No space left on device" in notices[0]["message"]
        summary = await client.call("jobs.get", job_id=job_id)
        assert summary["state"] == "running" and summary["log_write_error"] is not None
        filler.unlink()  # space returns
        deadline = time.monotonic() + 30
        while (await client.call("jobs.get", job_id=job_id))["log_write_error"] is not None:
            assert time.monotonic() < deadline, "the log was not written once space returned"
            await asyncio.sleep(0.1)
        go.touch()
        events += await client.collect_until_completed(job_id, timeout=60.0)
        final = await client.call("jobs.wait", job_id=job_id)
    assert final["state"] == "completed" and final["exit_code"] == 0

    delivered, lost = _check_accounted(events, final["next_seq"])
    assert lost, "the job wrote 15 MB into 3 MB: some output must have been dropped (and said so)"
    lost_events = [e for e in events if e["method"] == "process.error" and e["params"]["error"] == "output_lost"]
    assert final["output_lost_bytes"] == sum(e["params"]["bytes_lost"] for e in lost_events)
    # The lines delivered are the job's lines in order; a jump in the numbers happens only across a lost range.
    by_seq = {e["params"]["seq"]: _numbers(e["params"]["data"]) for e in events if e["method"] == "process.output"}
    lost_after = {first - 1 for first, _last in lost}
    previous: int | None = None
    for seq in delivered:
        numbers = by_seq[seq]
        if not numbers:
            continue
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
        if previous is not None and previous not in lost_after and seq - 1 in by_seq and by_seq[seq - 1]:
            assert numbers[0] == by_seq[seq - 1][-1] + 1
        previous = seq
    assert events[-1]["method"] == "process.completed"
    assert any(e["method"] == "process.output" and e["params"]["data"] == "done\n" for e in events)
    print(
        f"15 MB job: {len(delivered)} chunks delivered, {len(lost)} lost range(s), "
        f"{final['output_lost_bytes']} of {final['output_bytes']} bytes lost"
    )  # docs/reliability.md figures

    # The log and the registry caught up once space returned: a restart brings the job back as it ended,
    # and its replay is exactly the stream the live client saw.
    assert server.terminate() == 0
    server.start()
    async with await RpcClient.connect(server.url) as client:
        again = await client.call("jobs.get", job_id=job_id)
        assert again["state"] == "completed" and again["next_seq"] == final["next_seq"]
        await client.call("attach", job_id=job_id, from_seq=0)
        replay = await client.collect_until_completed(job_id, timeout=60.0)
    strip = ("duration",)

    def same(e: dict[str, Any]) -> tuple[str, str]:
        params = {k: v for k, v in e["params"].items() if k not in strip}
        return e["method"], json.dumps(params, sort_keys=True)

    live_stream = [same(e) for e in events if e["method"] != "process.started"]
    assert [same(e) for e in replay if e["method"] != "process.started"] == live_stream
    log = server.log_text()
    assert log.count("job logs cannot be written") == 1  # one warning per outage, not per chunk
    assert "Traceback" not in log


async def test_a_job_that_ends_while_the_disk_is_full_is_never_reported_lost(
    full_disk_server: tuple[ServerProcess, Path], tmp_path: Path
) -> None:
    server, filler = full_disk_server
    async with await RpcClient.connect(server.url) as client:
        job_id = (await client.call("execute", command="seq 1 1000000; exit 3"))["job_id"]
        live = await client.collect_until_completed(job_id, timeout=120.0)
        final = await client.call("jobs.wait", job_id=job_id)
        assert final["state"] == "failed" and final["exit_code"] == 3 and final["log_write_error"] is not None
        filler.unlink()
        freed = time.monotonic()
        deadline = freed + 30
        while (await client.call("jobs.get", job_id=job_id))["log_write_error"] is not None:
            assert time.monotonic() < deadline, "the log was not written once space returned"
            await asyncio.sleep(0.05)
        print(
            f"7 MB job: {final['output_lost_bytes']} of {final['output_bytes']} bytes lost; log caught up "
            f"{time.monotonic() - freed:.2f} s after space returned"
        )
        await asyncio.sleep(REGISTRY_RETRY_MAX + 1)  # the registry's retries are at most this far apart
    assert server.terminate() == 0
    server.start()
    async with await RpcClient.connect(server.url) as client:
        again = await client.call("jobs.get", job_id=job_id)
    assert again["state"] == "failed" and again["exit_code"] == 3
    assert again["next_seq"] == final["next_seq"] and again["output_bytes"] == final["output_bytes"]
    assert live[-1]["method"] == "process.completed"
    assert "accepts writes again" in server.log_text()


async def test_on_log_full_stop_ends_the_job_failed_with_the_reason(tmpfs_server: ServerOnFullDisk) -> None:
    srv, _filler = tmpfs_server("6m", 512 << 10, CC_EXECUTOR_ON_LOG_FULL="stop")
    async with await RpcClient.connect(srv.url) as client:
        job_id = (await client.call("execute", command="while :; do seq 1 100000; done"))["job_id"]
        events = await client.collect_until_completed(job_id, timeout=60.0)
        final = await client.call("jobs.wait", job_id=job_id)
    print(
        f"stop: ended {final['ended_at'] - final['started_at']:.2f} s after start, "
        f"{final['output_bytes']} bytes of output"
    )
    assert final["state"] == "failed"
    assert "log could not be written" in final["reason"] and "ON_LOG_FULL=stop" in final["reason"]
    errors = [e["params"] for e in events if e["method"] == "process.error"]
    assert errors[0]["error"] == "log_write_failed" and "the job is stopped" in errors[0]["message"]
