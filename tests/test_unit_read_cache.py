"""The read cache (``jobs/read_cache.py``): blocks of a log file checked once and shared by every reader behind the
memory tail. Real logs on disk; every read through the cache is compared with the line-by-line file reader."""

from __future__ import annotations

import json
import random
from pathlib import Path

from cc_executor.jobs.output_log import INDEX_EVERY, OutputLog
from cc_executor.jobs.read_cache import Block, ReadCache
from cc_executor.protocol import binary_output


async def flood(path: Path, outputs: int, cache: ReadCache | None) -> OutputLog:
    """A live log whose memory tail holds only its newest entries: the rest is read back from the file."""
    log = OutputLog("j", path, memory_limit=20_000, read_cache=cache)
    for n in range(outputs):
        data = "é" * (n % 5) + "x" * (n * 37 % 900) + f" {n}\n"
        log.append_output("stderr" if n % 4 == 0 else "stdout", data, truncated=n % 11 == 0)
        if n % 9 == 0:
            log.append_event("process.stalled", {"idle_seconds": n})
        log.flush()
    assert log._mem_start > 4 * INDEX_EVERY
    return log


def reads(log: OutputLog, binary: bool, seed: int) -> list[tuple[list[str | bytes], int]]:
    """Reads from random positions with random bounds (the same for the same seed)."""
    rng = random.Random(seed)
    out: list[tuple[list[str | bytes], int]] = []
    for _ in range(200):
        pos = rng.randrange(log.end + 2)
        limits = {"max_entries": rng.choice([1, 3, 64, 256]), "max_bytes": rng.choice([1, 500, 5_000, 1 << 20])}
        items, after = log.read_binary(pos, **limits) if binary else log.read(pos, **limits)
        out.append((list(items), after))
    return out


async def test_reads_through_the_cache_are_the_file_readers_reads(tmp_path: Path) -> None:
    cache = ReadCache(1 << 24)
    log = await flood(tmp_path / "j.log", 2000, cache)
    for binary in (False, True):
        cached = reads(log, binary, seed=7)
        log.read_cache = None
        plain = reads(log, binary, seed=7)
        log.read_cache = cache
        assert cached == plain
    assert cache.hits > cache.misses > 0  # the same blocks served many reads
    log.close()


async def test_binary_frames_from_the_cache_are_the_json_entries(tmp_path: Path) -> None:
    log = await flood(tmp_path / "j.log", 600, ReadCache(1 << 24))
    pos = 0
    while pos < log._mem_start:
        texts, after = log.read(pos, max_entries=100)
        frames, same = log.read_binary(pos, max_entries=100)
        assert after == same
        for text, frame in zip(texts, frames, strict=True):
            message = json.loads(text)
            if isinstance(frame, bytes):
                assert binary_output.decode(frame) == (message["method"], message["params"])
            else:
                assert frame == text and message["method"] != "process.output"
        pos = after
    log.close()


async def test_many_readers_read_each_block_from_the_file_once(tmp_path: Path) -> None:
    kept: list[int] = []

    class Counting(ReadCache):
        def put(self, token: int, point: int, block: Block) -> None:
            kept.append(point)
            super().put(token, point, block)

    cache = Counting(1 << 24)
    log = await flood(tmp_path / "j.log", 1500, cache)
    positions = [0] * 50  # fifty followers behind the tail, taking turns as a server's sessions do
    got: list[list[str | bytes]] = [[] for _ in positions]
    while any(p < log._mem_start for p in positions):
        for n, pos in enumerate(positions):
            if pos < log._mem_start:
                items, positions[n] = log.read_binary(pos, max_entries=64)
                got[n] += items
    assert all(items == got[0] for items in got)
    whole = log._mem_start // INDEX_EVERY  # blocks wholly before the tail (the partial one is read each time)
    assert sorted(kept) == list(range(whole))  # each read from the file and checked once, for all fifty
    log.close()


async def test_a_damaged_block_is_never_kept_and_its_problem_is_reported(tmp_path: Path) -> None:
    cache = ReadCache(1 << 24)
    log = await flood(tmp_path / "j.log", 800, cache)
    lines = log.path.read_bytes().splitlines(keepends=True) if log.path else []
    lines[3 * INDEX_EVERY + 5] = b"999\t{not json\n"  # same count of lines, one entry in block 3 is garbage
    assert log.path is not None
    log.path.write_bytes(b"".join(lines))
    problems: list = []
    texts, pos = [], 0
    while pos < log._mem_start:
        items, pos = log.read(pos, max_entries=50, problems=problems)
        texts += items
    assert len(texts) == log._mem_start - 1
    assert [(p.kind, p.pos, p.entries) for p in problems] == [("corrupt", 3 * INDEX_EVERY + 5, 1)]
    assert (log._cache_token, 3) not in cache._blocks and (log._cache_token, 2) in cache._blocks
    log.close()


def test_the_cache_keeps_the_most_recently_used_blocks_within_its_limit() -> None:
    cache = ReadCache(10_000)
    blocks = [Block(["x" * 900] * 2) for _ in range(10)]  # 1928 characters each
    for n, block in enumerate(blocks):
        cache.put(1, n, block)
        assert cache.used <= cache.limit
    assert sorted(k for _, k in cache._blocks) == [5, 6, 7, 8, 9]
    assert cache.get(1, 5) is blocks[5]  # now the most recent: the next to go is 6
    cache.put(1, 10, Block(["y" * 900] * 2))
    assert cache.get(1, 6) is None and cache.get(1, 5) is blocks[5]
    cache.put(1, 11, Block(["z" * 20_000]))  # larger than the whole cache: not kept, nothing evicted for it
    assert cache.get(1, 11) is None and len(cache) == 5
    assert cache.used == sum(b.size for b in cache._blocks.values())


def test_binary_frames_count_against_the_limit() -> None:
    cache = ReadCache(3_000)
    text = json.dumps(
        {
            "jsonrpc": "2.0",
            "method": "process.output",
            "params": {"job_id": "j", "seq": 0, "data": "d" * 900, "type": "stdout", "truncated": False},
        },
        separators=(",", ":"),
    )
    first, second = Block([text]), Block([text])
    cache.put(1, 0, first)
    cache.put(1, 1, second)
    assert len(cache) == 2
    first.frames(cache)  # about 900 more: over the limit, the least recent (this one, put first) goes
    assert cache.used <= cache.limit and cache.get(1, 0) is None and cache.get(1, 1) is second
    assert cache.used == second.size
