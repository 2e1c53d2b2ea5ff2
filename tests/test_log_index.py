"""The saved sparse index of a log file (``<log>.idx``, ``jobs/log_index.py``) and the chunked fallback scan.

A reopened log must find the same positions and read the same entries whether its index comes from the
sidecar or from a scan, and a sidecar that is stale, cut short, garbled or missing must only make it scan.
Real files in a tmp dir, no server.
"""

from __future__ import annotations

import json
import logging
import os
import struct
from array import array
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from test_unit_output_log import read_all

from cc_executor.jobs import log_index, retention
from cc_executor.jobs.log_index import (
    HEADER_SIZE,
    load_index,
    save_index,
    scan_log,
    sidecar_path,
)
from cc_executor.jobs.output_log import INDEX_EVERY, OutputLog, _prefix


@pytest.fixture(autouse=True)
def every_log_gets_a_sidecar(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(log_index, "MIN_ENTRIES", 0)  # small logs here, so the tests stay fast


async def closed_log(path: Path, outputs: int) -> OutputLog:
    """A finished job's log: ``outputs`` output entries of varied length, an event after every seventh."""
    log = OutputLog("j", path, memory_limit=1 << 16)
    for n in range(outputs):
        log.append_output("stdout", "x" * (n % 37) + f" line {n}\n")
        if n % 7 == 6:
            log.append_event("process.stalled", {"idle_seconds": n})
    log.append_event("process.completed", {"status": "completed", "exit_code": 0})
    log.close()
    return log


def reopened(log: OutputLog, next_seq: int | None = None) -> OutputLog:
    assert log.path is not None
    return OutputLog.reopen("j", log.path, log.next_seq if next_seq is None else next_seq, 0, log.size_on_disk)


def scanned(log: OutputLog) -> OutputLog:
    """The same log reopened with no sidecar: its index comes from a scan (the sidecar is put back after)."""
    assert log.path is not None
    side = sidecar_path(log.path)
    saved = side.read_bytes() if side.exists() else None
    side.unlink(missing_ok=True)
    again = reopened(log)
    again._ensure_scanned()
    assert not again._index_loaded
    if saved is not None:
        side.write_bytes(saved)
    return again


def behaviour(log: OutputLog) -> tuple[list[int], list[list[dict[str, Any]]], list[dict[str, Any]]]:
    """Everything a reader sees: the position of every seq (and past the end), a read from each of those
    positions, and the whole log in small reads."""
    seqs = [*range(log.next_seq + 1), log.next_seq + 5]
    positions = [log.position_for_seq(s) for s in seqs]
    reads = [[json.loads(e) for e in log.read(p, max_entries=3)[0]] for p in positions]
    return positions, reads, read_all(log, max_entries=50)


def index_of(log: OutputLog) -> tuple[list[int], list[int], list[int], int]:
    log._ensure_scanned()
    return list(log._index_pos), list(log._index_seq), list(log._index_off), log.end


def reference_index(path: Path, next_seq: int) -> tuple[list[int], list[int], list[int], int, int]:
    """The index as the line-by-line scan of earlier versions built it (the seq rule applied at its points)."""
    pos: list[int] = []
    seqs: list[int] = []
    offs: list[int] = []
    seq = offset = n = 0
    with open(path, "rb") as handle:
        for raw in handle:
            if n % INDEX_EVERY == 0:
                found = _prefix(raw)
                if found is not None and seq <= found <= next_seq:
                    seq = found
                pos.append(n)
                seqs.append(seq)
                offs.append(offset)
            offset += len(raw)
            n += 1
    return pos, seqs, offs, n, offset


# -- the sidecar ----------------------------------------------------------------------------------


def test_an_index_survives_a_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "j.log"
    lines = [f"{n}\t{{}}\n".encode() for n in range(3 * INDEX_EVERY + 5)]
    path.write_bytes(b"".join(lines))
    offs = [sum(len(x) for x in lines[:i]) for i in range(0, len(lines), INDEX_EVERY)]
    pos = array("q", range(0, len(lines), INDEX_EVERY))
    seq = array("q", pos)
    off = array("q", offs)
    assert save_index(path, pos, seq, off, len(lines), path.stat().st_size, len(lines), INDEX_EVERY)
    loaded = load_index(path, len(lines), INDEX_EVERY)
    assert loaded is not None
    assert (loaded.pos, loaded.seq, loaded.off) == (pos, seq, off)
    assert (loaded.end, loaded.size) == (len(lines), path.stat().st_size)
    assert isinstance(loaded.pos, array) and loaded.pos.typecode == "q"
    assert len(sidecar_path(path).read_bytes()) == HEADER_SIZE + 24 * len(pos)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []  # the temp file was renamed
    assert load_index(path, len(lines) + 1, INDEX_EVERY) is None  # another next_seq: not this log's index


async def test_a_closed_log_saves_its_index_and_a_reopened_one_uses_it(tmp_path: Path) -> None:
    log = await closed_log(tmp_path / "j.log", 5 * INDEX_EVERY + 9)
    assert sidecar_path(tmp_path / "j.log").exists()
    expected = behaviour(log)  # the live log, from its own index and file
    again = reopened(log)
    assert behaviour(again) == expected and again._index_loaded
    assert index_of(again) == index_of(log) == index_of(scanned(log))
    assert again.end == log.end and again.size_on_disk == log.size_on_disk and again.scan_problem is None
    assert isinstance(again._index_seq, array) and isinstance(log._index_off, array)
    # From the middle, the end, and past the end: the same answers as a full scan gives.
    full = scanned(log)
    for s in (0, log.next_seq // 2, log.next_seq - 1, log.next_seq, log.next_seq + 1):
        fresh = reopened(log)
        at = fresh.position_for_seq(s)
        assert at == full.position_for_seq(s) and fresh.read(at) == full.read(at) and fresh._index_loaded


async def test_a_small_log_gets_no_sidecar_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(log_index, "MIN_ENTRIES", 1024)
    log = await closed_log(tmp_path / "j.log", 40)
    assert not sidecar_path(tmp_path / "j.log").exists()
    assert behaviour(reopened(log)) == behaviour(log)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-13])


def _garbage(path: Path) -> None:
    path.write_bytes(os.urandom(len(path.read_bytes())))


def _flip_a_bit(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[HEADER_SIZE + 8 * 3 + 2] ^= 0x10  # inside the positions: the CRC no longer matches
    path.write_bytes(bytes(data))


def _bad_header(path: Path) -> None:
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, 8, 99)  # an unknown version
    path.write_bytes(bytes(data))


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _missing(path: Path) -> None:
    path.unlink()


@pytest.mark.parametrize("damage", [_truncate, _garbage, _flip_a_bit, _bad_header, _empty, _missing])
async def test_a_damaged_sidecar_makes_it_scan_and_it_stays_right(tmp_path: Path, damage: Any) -> None:
    log = await closed_log(tmp_path / "j.log", 4 * INDEX_EVERY + 3)
    expected = behaviour(log)
    damage(sidecar_path(tmp_path / "j.log"))
    again = reopened(log)
    assert behaviour(again) == expected and not again._index_loaded and again.scan_problem is None
    # The scan saved a good sidecar again: the next reopen uses it.
    third = reopened(log)
    assert behaviour(third) == expected and third._index_loaded


async def test_a_stale_sidecar_is_not_used_once_the_file_grew(tmp_path: Path) -> None:
    log = await closed_log(tmp_path / "j.log", 3 * INDEX_EVERY - 1)
    extra = [
        f'{log.next_seq}\t{{"jsonrpc":"2.0","method":"process.error","params":{{"job_id":"j","n":{n}}}}}\n'
        for n in range(INDEX_EVERY + 2)
    ]
    with open(tmp_path / "j.log", "ab") as handle:  # appended behind the log's back, after its sidecar
        handle.write("".join(extra).encode())
    size = (tmp_path / "j.log").stat().st_size
    again = OutputLog.reopen("j", tmp_path / "j.log", log.next_seq, 0, size)
    assert again.read(0, max_entries=1) and not again._index_loaded
    assert again.end == log.end + len(extra)
    entries = read_all(again)
    assert entries[: log.end] == read_all(log) and [e["params"].get("n") for e in entries[log.end :]] == list(
        range(len(extra))
    )
    assert index_of(again)[:3] == tuple(reference_index(tmp_path / "j.log", log.next_seq)[:3])


async def test_a_same_size_rewrite_with_other_line_breaks_is_caught(tmp_path: Path) -> None:
    log = await closed_log(tmp_path / "j.log", 3 * INDEX_EVERY)
    path = tmp_path / "j.log"
    original = path.read_bytes()
    lines = original.splitlines(keepends=True)
    # One byte more in an early line's data, one less in a later one: same size and entries, but the
    # index points between them have moved.
    i = next(n for n in range(1, INDEX_EVERY) if b"xx" in lines[n])
    j = next(n for n in range(2 * INDEX_EVERY + 1, len(lines)) if b"xx" in lines[n])
    lines[i] = lines[i].replace(b"xx", b"xxx", 1)
    lines[j] = lines[j].replace(b"xx", b"x", 1)
    path.write_bytes(b"".join(lines))
    assert path.stat().st_size == len(original)
    again = reopened(log)
    again._ensure_scanned()
    assert not again._index_loaded  # the spot checks on load saw it
    assert behaviour(again) == behaviour(scanned(log)) and not again._index_loaded
    assert [e["method"] for e in read_all(again)] == [e["method"] for e in read_all(log)]


async def test_another_next_seq_is_not_this_sidecar(tmp_path: Path) -> None:
    log = await closed_log(tmp_path / "j.log", 2 * INDEX_EVERY)
    again = reopened(log, next_seq=log.next_seq + 3)  # the registry says otherwise: trust neither, scan
    again._ensure_scanned()
    assert not again._index_loaded and again.end == log.end


async def test_a_wrong_point_the_spot_checks_missed_is_caught_when_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    log = await closed_log(tmp_path / "j.log", 6 * INDEX_EVERY)
    expected = behaviour(log)
    path = tmp_path / "j.log"
    pos, seq, off, end = index_of(log)
    bad = array("q", off)
    bad[3] += 5  # mid-line, still increasing: the CRC is right (it is computed on save)
    assert save_index(path, array("q", pos), array("q", seq), bad, end, log.size_on_disk, log.next_seq, INDEX_EVERY)
    monkeypatch.setattr(log_index, "SPOT_CHECKS", 1)  # only the first and last points are checked on load
    again = reopened(log)
    with caplog.at_level(logging.WARNING, logger="cc_executor.jobs.output_log"):
        assert again.read(pos[3] + 1, max_entries=3)[0] == log.read(pos[3] + 1, max_entries=3)[0]
    assert "does not match the file" in caplog.text and not again._index_loaded
    assert behaviour(again) == expected and index_of(again) == index_of(log)
    fresh = reopened(log)
    fresh._ensure_scanned()
    assert fresh._index_loaded and list(fresh._index_off) == off
    # The same through position_for_seq.
    assert save_index(path, array("q", pos), array("q", seq), bad, end, log.size_on_disk, log.next_seq, INDEX_EVERY)
    again = reopened(log)
    assert again.position_for_seq(seq[3] + 1) == log.position_for_seq(seq[3] + 1) and not again._index_loaded


async def test_a_final_event_added_after_a_restart_keeps_the_sidecar_right(tmp_path: Path) -> None:
    for outputs in (INDEX_EVERY - 2, 2 * INDEX_EVERY + 5):  # the new entry on an index point, and not
        path = tmp_path / f"j{outputs}.log"
        log = await closed_log(path, outputs)
        again = reopened(log)
        again.append_to_file("process.completed", {"status": "lost", "reason": "server restarted"})
        third = OutputLog.reopen("j", path, log.next_seq, 0, again.size_on_disk)
        entries = read_all(third)
        assert third._index_loaded and entries == read_all(again) and entries[-1]["params"]["status"] == "lost"
        assert index_of(third) == index_of(again) == index_of(scanned(third))
        assert behaviour(third) == behaviour(scanned(third))


async def test_a_final_event_on_a_log_without_sidecar_saves_one(tmp_path: Path) -> None:
    log = await closed_log(tmp_path / "j.log", INDEX_EVERY - 1)
    sidecar_path(tmp_path / "j.log").unlink()  # a log written by an older version
    again = reopened(log)
    again.append_to_file("process.completed", {"status": "lost"})
    third = OutputLog.reopen("j", tmp_path / "j.log", log.next_seq, 0, again.size_on_disk)
    assert read_all(third) == read_all(again) and third._index_loaded


async def test_discard_and_retention_delete_the_sidecar(tmp_path: Path) -> None:
    log = await closed_log(tmp_path / "a.log", 10)
    assert sidecar_path(tmp_path / "a.log").exists()
    log.discard()
    assert list(tmp_path.iterdir()) == []
    old = await closed_log(tmp_path / "b.log", 10)
    assert sidecar_path(tmp_path / "b.log").exists()
    job = SimpleNamespace(id="b", state=SimpleNamespace(is_final=True), created_at=0.0, log=old)
    settings = SimpleNamespace(job_retention_days=1, job_retention_count=10, job_retention_bytes=1 << 30)
    assert retention.prune({"b": job}, settings) == ["b"]  # type: ignore[arg-type, dict-item]
    assert list(tmp_path.iterdir()) == []


async def test_a_sidecar_that_cannot_be_written_is_only_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def full(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(log_index.os, "replace", full)
    with caplog.at_level(logging.WARNING, logger="cc_executor.jobs.log_index"):
        log = await closed_log(tmp_path / "j.log", 3 * INDEX_EVERY)
    assert "No space left on device" in caplog.text
    assert [p.name for p in tmp_path.iterdir()] == ["j.log"]  # neither the sidecar nor its temp file
    monkeypatch.undo()
    assert behaviour(reopened(log)) == behaviour(log)


async def test_no_sidecar_for_a_file_that_does_not_hold_every_entry(tmp_path: Path) -> None:
    log = OutputLog("j", tmp_path / "j.log", memory_limit=1 << 20)
    log.append_output("stdout", "a\n")
    log.flush()
    with open(tmp_path / "j.log", "ab") as handle:  # someone else wrote to it: the sizes disagree
        handle.write(b"junk\n")
    log.close()
    assert not sidecar_path(tmp_path / "j.log").exists()


# -- the scan -------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk", [1, 7, 64, 1000, 1 << 18])
def test_the_chunked_scan_builds_the_index_a_line_by_line_scan_does(tmp_path: Path, chunk: int) -> None:
    path = tmp_path / "j.log"
    lines = []
    seq = 0
    for n in range(5 * INDEX_EVERY + 17):
        body = "y" * ((n * 7919) % 301) if n % 50 else "z" * 3000  # varied lengths, some long lines
        lines.append(f"{seq}\t{body}\n".encode())
        seq += n % 3 != 0
    cases = {
        "clean": b"".join(lines),
        "cut": b"".join(lines)[:-40],  # the last line has no newline: it still counts
        "empty": b"",
        "one": b"0\tx",
        "blank lines": b"\n" * (3 * INDEX_EVERY + 1),
        "garbled": b"".join([*lines[:64], b"no tab\n", b"99999\tbig\n", b"\t\n", *lines[67:]]),
    }
    for name, data in cases.items():
        path.write_bytes(data)
        got = scan_log(path, seq, INDEX_EVERY, chunk)
        want = reference_index(path, seq)
        assert (list(got.pos), list(got.seq), list(got.off), got.end, got.size) == want, name
        assert got.error is None


def test_the_scan_of_a_missing_file_says_so(tmp_path: Path) -> None:
    got = scan_log(tmp_path / "nope.log", 0, INDEX_EVERY)
    assert isinstance(got.error, FileNotFoundError) and got.end == 0 and len(got.pos) == 0
    again = OutputLog.reopen("j", tmp_path / "nope.log", 3, 0, 100)
    assert again.read(0) == ([], 0) and again.scan_problem is not None and again.scan_problem.kind == "missing"
    assert not sidecar_path(tmp_path / "nope.log").exists()


async def test_a_reopened_log_of_an_older_version_is_scanned_then_saved(tmp_path: Path) -> None:
    log = await closed_log(tmp_path / "j.log", 3 * INDEX_EVERY)
    sidecar_path(tmp_path / "j.log").unlink()
    first = reopened(log)
    assert behaviour(first) == behaviour(log) and not first._index_loaded
    assert sidecar_path(tmp_path / "j.log").exists()
    second = reopened(log)
    assert behaviour(second) == behaviour(log) and second._index_loaded
