"""The first ``attach`` after a server restart to a finished job with a very long log.

Why a rewritten log: a real job's output is coalesced by the job core into few entries, so printing millions of
entries would take minutes. The job is created through the server with a small command, the server is stopped,
and its log file is rewritten in the on-disk format (``<next_seq>\\t<notification>`` per entry,
``jobs/output_log.py``) with one output entry per seq, and its registry row (``jobs.sqlite3``: ``log_bytes`` and
the summary's ``next_seq``/``output_bytes``) updated to match, so the restarted server trusts the file.

Measured, on a server just started on that state dir (one restart per attach, so each is the first): the time
from sending ``attach`` until its response, and until the first ``process.output`` arrives, for ``from_seq`` 0
and a seq in the middle, with the index a server saves beside a log it closes (``<id>.log.idx``), and once more
for ``from_seq`` 0 without it (a log of an older version: the file is scanned once). The content is checked:
the seq and text of the first ``CHECK_FRAMES`` frames, then the last output and ``process.completed`` by a
second attach.
websocketd keeps no log: no counterpart.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cc_executor.jobs.log_index import remove_index, sidecar_path
from cc_executor.jobs.output_log import OutputLog
from cc_executor.jobs.registry import JobRegistry

from .result import Row, WorkloadResult
from .servers import Running, our_server
from .sinks import Collect
from .sizes import Sizes
from .transports import OurConnection

NAME = "restart_attach"
TARGET_MS = 50.0
NO_INDEX = "from_seq 0, no saved index (a log of an older version)"  # the file is scanned once: no target
CHECK_FRAMES = 5000  # frames checked one by one after each attach (then the last one by a second attach)
WRITE_BATCH = 100_000  # entries formatted per write while rewriting the log
RECV_TIMEOUT = 120.0


@dataclass
class Attach:
    """One attach: milliseconds to its response and to the first output, and whether the content was right."""

    response_ms: float
    first_output_ms: float | None
    frames_checked: int
    content_ok: bool
    problem: str = ""
    seconds: float = 0.0  # from the first output until the last frame checked


def _data(seq: int) -> str:
    return f"{seq}\n"


async def _job_on(ours: Running) -> tuple[str, dict[str, Any], list[bytes]]:
    """A small finished job run by ``ours``: its id, its summary (``jobs.get``) and its log's lines."""
    assert ours.state_dir is not None
    conn = await OurConnection.open(ours.url)
    try:
        job_id = await conn.start("echo restart_attach")
        await conn.stream(job_id, Collect())
        summary = dict(await conn.call("jobs.get", job_id=job_id))
    finally:
        await conn.close()
    path = ours.state_dir / "jobs" / f"{job_id}.log"
    for _ in range(100):  # the log is written on the server's next loop turn
        lines = path.read_bytes().splitlines(keepends=True)
        if any(b'"process.completed"' in raw for raw in lines):
            return job_id, summary, lines
        await asyncio.sleep(0.02)
    raise RuntimeError(f"job {job_id}: no process.completed in {path}")


def _write_job(state: Path, job_id: str, summary: dict[str, Any], lines: list[bytes], entries: int) -> None:
    """The job's log in ``state`` as ``process.started``, ``entries`` one-line outputs and ``process.completed``,
    and its registry row written by the registry's own code, agreeing with it (``log_bytes``, ``next_seq``,
    ``output_bytes``)."""
    path = state / "jobs" / f"{job_id}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    started = next(raw for raw in lines if b'"process.started"' in raw)
    completed = json.loads(next(raw for raw in lines if b'"process.completed"' in raw).partition(b"\t")[2])
    head = '{"jsonrpc":"2.0","method":"process.output","params":{"job_id":"' + job_id + '","seq":'
    output_bytes = 0
    with open(path, "wb") as out:
        out.write(b"0\t" + started.partition(b"\t")[2])
        for low in range(0, entries, WRITE_BATCH):
            seqs = range(low, min(low + WRITE_BATCH, entries))
            text = "".join(f'{s}\t{head}{s},"type":"stdout","data":"{s}\\n","truncated":false}}}}\n' for s in seqs)
            out.write(text.encode())
            output_bytes += sum(len(_data(s)) for s in seqs)
        completed["params"] |= {"next_seq": entries, "output_bytes": output_bytes}
        out.write(f"{entries}\t{json.dumps(completed, separators=(',', ':'))}\n".encode())
    registry = JobRegistry(state / "jobs.sqlite3", state)
    try:
        registry.save(summary | {"next_seq": entries, "output_bytes": output_bytes}, path, path.stat().st_size)
    finally:
        registry.close()
    # The index a server saves beside a log it closes (``<id>.log.idx``), made by the same code: reading the
    # rewritten file once, as a server does for a log without one, saves it.
    OutputLog.reopen(job_id, path, entries, output_bytes, path.stat().st_size).position_for_seq(1)
    assert sidecar_path(path).exists()


async def _recv(conn: OurConnection) -> dict[str, Any]:
    return dict(json.loads(await asyncio.wait_for(conn.ws.recv(), RECV_TIMEOUT)))


async def _send_attach(conn: OurConnection, job_id: str, from_seq: int) -> None:
    request = {"jsonrpc": "2.0", "id": 1, "method": "attach", "params": {"job_id": job_id, "from_seq": from_seq}}
    await conn.ws.send(json.dumps(request))


async def _attach(server: Running, job_id: str, from_seq: int, entries: int, check_all: bool) -> Attach:
    """``attach`` as the first request after the restart, timed, and its replay checked frame by frame."""
    conn = await OurConnection.open(server.url)
    try:
        start = time.perf_counter()
        await _send_attach(conn, job_id, from_seq)
        response_ms: float | None = None
        first_ms: float | None = None
        expected = from_seq
        limit = entries if check_all else min(entries, from_seq + CHECK_FRAMES)
        while True:
            message = await _recv(conn)
            now = (time.perf_counter() - start) * 1000
            if message.get("id") == 1:
                if "error" in message:
                    return Attach(now, None, 0, False, f"attach: {message['error']}")
                response_ms = now
                continue
            method, params = message.get("method"), message.get("params") or {}
            if method == "process.output":
                if first_ms is None:
                    first_ms = now
                if params.get("seq") != expected or params.get("data") != _data(expected):
                    problem = f"expected seq {expected}, got {params.get('seq')} {params.get('data')!r}"
                    return Attach(response_ms or now, first_ms, expected - from_seq, False, problem)
                expected += 1
                if expected >= limit and not check_all:
                    break
            elif method == "process.completed":
                break
            elif method == "process.error":
                return Attach(response_ms or now, first_ms, expected - from_seq, False, f"replay: {params}")
        checked = expected - from_seq
        ok = response_ms is not None and first_ms is not None and expected == limit
        problem = "" if ok else f"stopped at seq {expected}"
        replay_s = time.perf_counter() - start - (first_ms or 0.0) / 1000
        return Attach(response_ms or 0.0, first_ms, checked, ok, problem, replay_s)
    finally:
        conn.ws.transport.abort()  # the rest of a long replay is not drained


async def _tail_ok(server: Running, job_id: str, entries: int) -> bool:
    """The last output entry and the job's end, by an attach from the last seq."""
    conn = await OurConnection.open(server.url)
    try:
        await _send_attach(conn, job_id, entries - 1)
        outputs: list[dict[str, Any]] = []
        while True:
            message = await _recv(conn)
            if "error" in message:
                return False
            params = message.get("params") or {}
            if message.get("method") == "process.output":
                outputs.append(params)
            elif message.get("method") == "process.completed":
                last = [(o.get("seq"), o.get("data")) for o in outputs] == [(entries - 1, _data(entries - 1))]
                return last and params.get("next_seq") == entries
            elif message.get("method") == "process.error":
                return False
    finally:
        await conn.close()


async def run(sizes: Sizes, ours: Running) -> WorkloadResult:
    """One restart per attach in the full run, so each is the first; ``--quick`` makes both on one restart (the
    middle one second, on an index the first built) to stay a few seconds."""
    n = sizes.restart_entries
    check_all = False  # replay runs at tens of thousands of frames/s: all of them would take seconds even in --quick
    result = WorkloadResult(NAME)
    job_id, summary, lines = await _job_on(ours)
    attaches = [("from_seq 0", 0), (f"from_seq {n // 2:,}", n // 2)]
    rounds = [attaches] if sizes.quick else [[one] for one in attaches]
    rounds.append([(NO_INDEX, 0)])  # last: it removes the saved index
    with tempfile.TemporaryDirectory(prefix="cc-bench-restart-") as tmp:
        workdir = Path(tmp)
        began = time.perf_counter()
        _write_job(workdir / "state", job_id, summary, lines, n)
        write_s = time.perf_counter() - began
        log_mb = (workdir / "state" / "jobs" / f"{job_id}.log").stat().st_size / 1e6
        for attach_round in rounds:
            if attach_round[0][0] == NO_INDEX:
                remove_index(workdir / "state" / "jobs" / f"{job_id}.log")
            began = time.perf_counter()
            async with our_server(workdir=workdir) as server:
                start_s = time.perf_counter() - began
                for i, (label, from_seq) in enumerate(attach_round):
                    attach = await _attach(server, job_id, from_seq, n, check_all)
                    tail = await _tail_ok(server, job_id, n)
                    if i:
                        label += " (2nd attach after the restart)"
                    _report(result, label, n, attach, tail, check_all, start_s)
    result.notes.append(f"log written with {n:,} entries ({log_mb:,.0f} MB) in {write_s:.1f} s")
    return result


def _report(
    result: WorkloadResult, label: str, n: int, attach: Attach, tail: bool, check_all: bool, start_s: float
) -> None:
    result.accounted[label] = attach.content_ok and tail
    for what, value in (("response", attach.response_ms), ("first output", attach.first_output_ms)):
        target = "" if label == NO_INDEX else f"< {TARGET_MS:g} ms"
        row = Row(NAME, f"{label}: until {what} ({n:,} entries)", "ms", value, target=target)
        row.met = None if label == NO_INDEX else value is not None and value < TARGET_MS
        result.rows.append(row)
    checked = "every frame" if check_all else f"the first {attach.frames_checked:,} frames"
    rate = f", {attach.frames_checked / attach.seconds:,.0f} frames/s" if attach.seconds else ""
    result.notes.append(
        f"{label}: {checked} checked ({'right' if attach.content_ok else 'WRONG: ' + attach.problem}{rate}), "
        f"last output and process.completed {'right' if tail else 'WRONG'}; server start {start_s:.1f} s"
    )
