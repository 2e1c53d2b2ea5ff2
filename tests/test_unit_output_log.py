"""``OutputLog`` on its own: numbering, positions, bounded reads, the memory tail, the file behind it, a reopened
log, and a damaged or missing file described as ``LogProblem`` (docs/protocol.md, "When a replay meets a damaged
log"). No job, no server: entries are appended by hand and files damaged in a tmp dir.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from cc_executor.jobs.log_outage import WriteOutages
from cc_executor.jobs.memory_tail import TailPool
from cc_executor.jobs.output_log import INDEX_EVERY, LogProblem, OutputLog
from cc_executor.protocol import binary_output


def read_all(log: OutputLog, problems: list[LogProblem] | None = None, **limits: int) -> list[dict[str, Any]]:
    """Every entry from position 0, in bounded reads, as a reader would take them."""
    out: list[str] = []
    pos = 0
    while True:
        batch, after = log.read(pos, problems=problems, **limits)
        if after == pos:
            return [json.loads(e) for e in out]
        out += batch
        pos = after


def closed_log(path: Path, outputs: int) -> OutputLog:
    """A finished job's log on disk: ``outputs`` output entries, an event after every tenth, then completed."""
    log = OutputLog("j", path, memory_limit=1 << 20)
    for n in range(outputs):
        log.append_output("stdout", f"line {n}\n")
        if n % 10 == 9:
            log.append_event("process.stalled", {"idle_seconds": n})
    log.append_event("process.completed", {"status": "completed", "exit_code": 0})
    log.close()
    return log


def reopened(log: OutputLog) -> OutputLog:
    assert log.path is not None
    return OutputLog.reopen("j", log.path, log.next_seq, log.output_bytes, log.size_on_disk)


# -- numbering and positions ----------------------------------------------------------------------


async def test_output_gets_seqs_from_zero_and_events_take_none() -> None:
    log = OutputLog("j", None, memory_limit=1 << 20)
    assert log.append_output("stdout", "a\n") == 0
    log.append_event("process.paused", {"status": "paused"})
    assert log.append_output("stderr", "b\n", truncated=True) == 1
    assert log.append_output("stdout", "c" * 4, False, 0, 2) == 2
    assert (log.next_seq, log.end, log.output_bytes) == (3, 4, 8)
    entries = read_all(log)
    assert entries[0] == {
        "jsonrpc": "2.0",
        "method": "process.output",
        "params": {"job_id": "j", "seq": 0, "type": "stdout", "data": "a\n", "truncated": False},
    }
    assert entries[1] == {"jsonrpc": "2.0", "method": "process.paused", "params": {"job_id": "j", "status": "paused"}}
    assert entries[2]["params"]["truncated"] is True and "chunk_index" not in entries[2]["params"]
    assert (entries[3]["params"]["chunk_index"], entries[3]["params"]["total_chunks"]) == (0, 2)


async def test_position_for_seq_starts_after_what_the_client_saw() -> None:
    log = OutputLog("j", None, memory_limit=1 << 20)
    log.append_output("stdout", "0\n")  # pos 0
    log.append_event("process.paused", {})  # pos 1: after output 0
    log.append_output("stdout", "1\n")  # pos 2
    log.append_event("process.resumed", {})  # pos 3: after output 1
    log.append_output("stdout", "2\n")  # pos 4
    # "from seq N": output N on, plus the events that happened after output N-1.
    assert [log.position_for_seq(n) for n in range(5)] == [0, 1, 3, 5, 5]
    assert not log.is_past_end(4)  # still open: seq 4 may come
    log.close()
    assert log.is_past_end(4) and not log.is_past_end(3)
    assert log.position_for_seq(99) == log.end == 5


async def test_reads_are_bounded_but_never_empty_before_the_end() -> None:
    log = OutputLog("j", None, memory_limit=1 << 20)
    for n in range(10):
        log.append_output("stdout", f"{n}" * 50 + "\n")
    batch, after = log.read(0, max_entries=3)
    assert (len(batch), after) == (3, 3)
    batch, after = log.read(3, max_bytes=1)  # one entry is over the bound: it still comes, alone
    assert (len(batch), after) == (1, 4) and json.loads(batch[0])["params"]["seq"] == 3
    assert log.read(10) == ([], 10)


async def test_tail_text_is_the_last_output_of_both_streams() -> None:
    log = OutputLog("j", None, memory_limit=1 << 20)
    log.append_output("stdout", "out\n")
    log.append_event("process.paused", {})
    log.append_output("stderr", "err\n")
    assert log.tail_text() == "out\nerr\n" and log.tail_text(4) == "err\n"


async def test_wait_beyond_wakes_on_an_append_and_on_close() -> None:
    log = OutputLog("j", None, memory_limit=1 << 20)
    waiter = asyncio.ensure_future(log.wait_beyond(0))
    await asyncio.sleep(0)
    assert not waiter.done()
    log.append_output("stdout", "x\n")
    await asyncio.wait_for(waiter, 1)
    waiter = asyncio.ensure_future(log.wait_beyond(1))
    await asyncio.sleep(0)
    log.close()
    await asyncio.wait_for(waiter, 1)
    log.append_output("stdout", "after close\n")  # a closed log takes nothing more
    assert log.end == 1


# -- memory and disk ------------------------------------------------------------------------------


async def test_memory_keeps_a_bounded_tail_and_older_entries_are_read_from_the_file(tmp_path: Path) -> None:
    log = OutputLog("j", tmp_path / "j.log", memory_limit=2000)
    for n in range(200):
        log.append_output("stdout", f"line {n:03d}\n")
        log.flush()  # on disk, so memory may let it go
    assert 0 < log._mem_start < 200 and log._mem_bytes <= 2000  # most of it is only in the file now
    entries = read_all(log, max_entries=17)
    assert [e["params"]["seq"] for e in entries] == list(range(200))
    assert [e["params"]["data"] for e in entries[:2]] == ["line 000\n", "line 001\n"]
    assert log.position_for_seq(150) == 150 and log.position_for_seq(3) == 3  # 3 is found through the index
    log.close()


async def test_tails_share_one_total_and_a_log_that_prints_trims_to_its_share(tmp_path: Path) -> None:
    pool = TailPool(3000)
    logs = [OutputLog(f"j{n}", tmp_path / f"j{n}.log", memory_limit=10_000, pool=pool) for n in range(3)]
    for log in logs[:2]:
        for n in range(20):
            log.append_output("stdout", f"line {n:03d}\n")  # 2 x ~1800 characters: the pool is over its 3000
            log.flush()
    assert pool.holders == 2 and pool.used == sum(log._mem_bytes for log in logs)
    for n in range(30):
        logs[2].append_output("stdout", f"line {n:03d}\n")
        logs[2].flush()
    assert logs[2]._mem_bytes <= 3000 // 3 + 100  # its share of the pool (plus the newest entry)
    assert logs[2]._mem_start > 0 and [e["params"]["seq"] for e in read_all(logs[2])] == list(range(30))
    assert pool.used == sum(log._mem_bytes for log in logs) and pool.holders == 3
    for log in logs:
        log.close()
        log.release_memory()
    assert pool.used == 0 and pool.holders == 0
    assert TailPool(100).allowance(50) == 50  # under its limit, a log keeps its own


async def test_entries_not_yet_on_disk_are_never_dropped_from_memory(tmp_path: Path) -> None:
    log = OutputLog("j", tmp_path / "j.log", memory_limit=100)
    for n in range(50):
        log.append_output("stdout", f"line {n:03d}\n")  # no flush between: none of it is on disk yet
    assert log._mem_start == 0
    log.flush()
    log.append_output("stdout", "one more\n")  # now the written ones can go
    assert log._mem_start > 0
    assert [e["params"]["seq"] for e in read_all(log)] == list(range(51))
    log.close()


async def test_a_reopened_log_reads_the_same_and_finds_seqs(tmp_path: Path) -> None:
    log = closed_log(tmp_path / "j.log", 3 * INDEX_EVERY)
    before = read_all(log)
    again = reopened(log)
    problems: list[LogProblem] = []
    assert read_all(again, problems, max_entries=50) == before and problems == []
    assert again.end == log.end and again.closed and again.scan_problem is None
    # Output n is at n + n // 10 (a stall event after every tenth); the event after output 10k-1 has next_seq
    # 10k, so "from seq 10k" starts with it. The reopened log finds the same places through its rebuilt index.
    expected = [s + s // 10 - (s % 10 == 0 and s > 0) for s in range(again.next_seq + 1)]
    assert [again.position_for_seq(s) for s in range(again.next_seq + 1)] == expected
    assert [log.position_for_seq(s) for s in range(log.next_seq + 1)] == expected
    assert again.is_past_end(again.next_seq + 1) and again.position_for_seq(again.next_seq + 1) == again.end


async def test_a_final_event_can_be_added_to_a_reopened_log(tmp_path: Path) -> None:
    log = OutputLog("j", tmp_path / "j.log", memory_limit=1 << 20)
    log.append_output("stdout", "before the restart\n")
    log.close()
    again = reopened(log)
    again.append_to_file("process.completed", {"status": "lost", "reason": "server restarted"})
    assert [e["method"] for e in read_all(again)] == ["process.output", "process.completed"]
    assert [e["params"]["status"] for e in read_all(reopened(again))[1:]] == ["lost"]  # it is in the file


# -- a damaged file -------------------------------------------------------------------------------


def damage(path: Path, line: int, replacement: bytes) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    lines[line] = replacement
    path.write_bytes(b"".join(lines))


@pytest.mark.parametrize(
    ("garbage", "reason"),
    [
        (b"5\t{not json\n", "not valid JSON"),
        (b"5\t\xff\xfe garbage\n", "not valid UTF-8"),
        (b'5\t{"jsonrpc": "2.0", "id": 1, "result": 0}\n', "not a JSON-RPC notification"),
    ],
)
async def test_a_damaged_entry_is_skipped_and_described(tmp_path: Path, garbage: bytes, reason: str) -> None:
    log = closed_log(tmp_path / "j.log", 8)
    damage(tmp_path / "j.log", 5, garbage)
    problems: list[LogProblem] = []
    entries = read_all(reopened(log), problems)
    assert [e["params"].get("seq") for e in entries] == [0, 1, 2, 3, 4, 6, 7, None]
    assert problems == [
        LogProblem(
            "corrupt",
            f"log entry 5: {reason}; skipped (output seq 5-5 not delivered)",
            index=5,
            pos=5,
            entries=1,
            seq=5,
            lost_seqs=(5, 5),
        )
    ]


async def test_a_file_cut_mid_entry_ends_with_a_problem_and_a_reader_still_reaches_the_end(tmp_path: Path) -> None:
    log = closed_log(tmp_path / "j.log", 4)
    path = tmp_path / "j.log"
    path.write_bytes(path.read_bytes()[:-10])  # the completed entry loses its end
    problems: list[LogProblem] = []
    again = reopened(log)
    entries = read_all(again, problems)
    assert [e["method"] for e in entries] == ["process.output"] * 4
    assert len(problems) == 1 and problems[0].kind == "corrupt" and problems[0].pos == 4
    assert "cut short" in problems[0].message and problems[0].lost_seqs is None  # no output was in it
    assert again.read(again.end) == ([], again.end)


async def test_a_missing_file_is_a_problem_not_an_error(tmp_path: Path) -> None:
    log = closed_log(tmp_path / "j.log", 3)
    (tmp_path / "j.log").unlink()
    again = reopened(log)
    problems: list[LogProblem] = []
    assert read_all(again, problems) == []
    assert again.scan_problem is not None and again.scan_problem.kind == "missing"
    assert again.end == 0  # nothing could be counted, so a reader is at the end at once


async def test_a_live_log_whose_file_lost_entries_reports_them(tmp_path: Path) -> None:
    log = OutputLog("j", tmp_path / "j.log", memory_limit=50)
    for n in range(20):
        log.append_output("stdout", f"line {n:03d}\n")
        log.flush()
    assert log._mem_start > 5
    with open(tmp_path / "j.log", "r+b") as handle:  # the file ends after entry 2
        lines = handle.read().splitlines(keepends=True)
        handle.truncate(sum(len(x) for x in lines[:3]))
    problems: list[LogProblem] = []
    entries = read_all(log, problems)
    kept = log._mem_start
    assert [e["params"]["seq"] for e in entries] == [0, 1, 2, *range(kept, 20)]
    assert len(problems) == 1
    assert (problems[0].kind, problems[0].pos, problems[0].entries) == ("corrupt", 3, kept - 3)
    assert problems[0].lost_seqs == (3, kept - 1) and "ends early" in problems[0].message
    log.close()


# -- a disk that refuses writes -------------------------------------------------------------------


async def test_a_write_failure_keeps_entries_in_memory_and_says_so(tmp_path: Path) -> None:
    outages = WriteOutages()
    log = OutputLog("j", tmp_path / "j.log", memory_limit=1 << 20, outages=outages)
    told: list[OSError] = []
    log.on_write_failure = told.append
    assert log._fd is not None
    os.close(log._fd)
    log._fd = os.open("/dev/full", os.O_WRONLY)  # every write fails with ENOSPC
    log.append_output("stdout", "kept\n")
    log.flush()
    assert log.write_error == "No space left on device (ENOSPC)" and outages.failing == {"j": log.write_error}
    log.append_output("stdout", "also kept\n")
    log.flush()  # a second failure is not told again
    await asyncio.sleep(0)
    assert len(told) == 1 and told[0].errno == 28
    entries = read_all(log)
    assert [e["method"] for e in entries] == ["process.output", "process.error", "process.output"]
    notice = entries[1]["params"]
    assert notice["error"] == "log_write_failed" and notice["seq"] == 1 and "job is stopped" in notice["message"]
    assert log.lost_bytes == 0 and log.size_on_disk > 0
    log._cancel_retry()
    os.close(log._fd)
    log._fd = None


async def test_binary_reads_are_the_json_entries_from_memory_and_from_the_file(tmp_path: Path) -> None:
    log = OutputLog("j", tmp_path / "j.log", memory_limit=3000)
    for n in range(100):
        log.append_output("stderr" if n % 3 else "stdout", f"línea {n}\n", truncated=n == 7)
        if n % 10 == 0:
            log.append_event("process.stalled", {"idle_seconds": n})
        log.flush()
    log.append_output("stdout", "x" * 10, True, 0, 2)
    assert log._mem_start > 0  # the oldest are only in the file now
    texts: list[str] = []
    binaries: list[str | bytes] = []
    pos = 0
    while (batch := log.read(pos, max_entries=13))[0]:
        texts += batch[0]
        binaries += log.read_binary(pos, max_entries=13)[0]
        pos = batch[1]
    assert len(texts) == len(binaries) == log.end
    for text, frame in zip(texts, binaries, strict=True):
        message = json.loads(text)
        if isinstance(frame, bytes):
            assert binary_output.decode(frame) == (message["method"], message["params"])
        else:
            assert frame == text and message["method"] != "process.output"
    log.close()
