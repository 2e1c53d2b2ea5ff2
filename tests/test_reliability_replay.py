"""Every replay ends: a damaged, truncated, unreadable or missing log, or a ``from_seq`` past the end, still gives
valid frames only and, for an ended job, its ``process.completed`` (docs/protocol.md, "When a replay meets a
damaged log"). The logs are damaged on disk, as an operator's fault injection did, and read through the real
server; most tests restart it over the same state dir so the file is scanned afresh."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any, ClassVar

import websockets
from conftest import ServerFactory, ServerProcess
from rpc_client import RpcClient

from cc_executor.jobs.job import Job
from cc_executor.jobs.output_log import OutputLog
from cc_executor.protocol.state import JobState
from cc_executor.server.session import Session

COMMAND = 'for i in $(seq 1 20); do echo "<$i>"; sleep 0.01; done; exit 3'


async def finished_job(server: ServerProcess) -> tuple[str, Path, int]:
    async with await RpcClient.connect(server.url) as client:
        job_id = (await client.call("execute", command=COMMAND))["job_id"]
        await client.collect_until_completed(job_id)
        next_seq = (await client.call("jobs.wait", job_id=job_id))["next_seq"]
    return job_id, server.state_dir / "jobs" / f"{job_id}.log", next_seq


async def raw_replay(
    server: ServerProcess, job_id: str, from_seq: int = 0, within: float = 5.0
) -> list[dict[str, Any]]:
    """Attach over a plain socket; every frame must be JSON; stop at the job's process.completed."""
    events: list[dict[str, Any]] = []
    async with websockets.connect(server.url, max_size=None, open_timeout=10) as ws:
        await ws.send(
            json.dumps(
                {"jsonrpc": "2.0", "id": 1, "method": "attach", "params": {"job_id": job_id, "from_seq": from_seq}}
            )
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            try:
                raw = await asyncio.wait_for(ws.recv(), max(deadline - loop.time(), 0.001))
            except TimeoutError:
                raise AssertionError(f"replay did not end within {within} s; got {events}") from None
            message = json.loads(raw)  # a malformed frame fails here
            assert isinstance(message, dict), message
            assert "error" not in message, message
            params = message.get("params")
            if not isinstance(params, dict) or params.get("job_id") != job_id:
                continue
            events.append(message)
            if message["method"] == "process.completed":
                return events


def texts(events: list[dict[str, Any]]) -> list[str]:
    """The output text of each log entry, in order. A read that caught two lines makes one entry, which a replay to
    a plain client sends as one event per line, all with the entry's seq (it happens on a loaded machine), so
    events of one seq are joined: element k is entry k's text in an undamaged replay."""
    joined: list[tuple[int, str]] = []
    for e in events:
        if e["method"] == "process.output":
            seq, data = e["params"]["seq"], e["params"]["data"]
            if joined and joined[-1][0] == seq:
                joined[-1] = (seq, joined[-1][1] + data)
            else:
                joined.append((seq, data))
    return [data for _seq, data in joined]


def errors(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["params"] for e in events if e["method"] == "process.error"]


def output_with(events: list[dict[str, Any]], marker: str) -> tuple[int, list[str]]:
    """The seq of the output event holding ``marker``, and the texts of every log entry (``texts``)."""
    outs = [e["params"] for e in events if e["method"] == "process.output"]
    entries = texts(events)
    assert sorted({o["seq"] for o in outs}) == list(range(len(entries))), outs  # so index == seq
    return next(o["seq"] for o in outs if marker in o["data"]), entries


def edit_line(path: Path, needle: bytes, new: bytes) -> None:
    """Replace the line of the log holding ``needle`` with ``new`` (a whole line, newline included)."""
    lines = path.read_bytes().splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if needle in line)
    lines[index] = new
    path.write_bytes(b"".join(lines))


async def test_a_line_with_bad_utf8_is_skipped_and_named(make_server: ServerFactory) -> None:
    server = make_server()
    job_id, path, _ = await finished_job(server)
    lost, before = output_with(await raw_replay(server, job_id), "<5>")
    line = next(x for x in path.read_bytes().splitlines(keepends=True) if b"<5>" in x)
    edit_line(path, b"<5>", line.replace(b"<5>", b"<\xff\xfe>"))
    assert server.terminate() == 0
    server.start()
    events = await raw_replay(server, job_id)
    assert texts(events) == before[:lost] + before[lost + 1 :]  # the replay goes on past the bad line
    [error] = errors(events)
    assert error["error"] == "log_corrupt" and error["replay"] is True and "UTF-8" in error["message"]
    assert error["lost_seqs"] == [lost, lost] and error["seq"] == lost
    done = events[-1]["params"]
    assert done["exit_code"] == 3 and "from_record" not in done  # the log's own process.completed


async def test_a_line_that_is_not_json_is_skipped_and_named(make_server: ServerFactory) -> None:
    server = make_server()
    job_id, path, _ = await finished_job(server)
    lost, before = output_with(await raw_replay(server, job_id), "<7>")
    edit_line(path, b"<7>", f'{lost}\t{{"jsonrpc":"2.0","method":"process.output","params":{{"job_id"\n'.encode())
    assert server.terminate() == 0
    server.start()
    events = await raw_replay(server, job_id)
    assert texts(events) == before[:lost] + before[lost + 1 :]
    [error] = errors(events)
    assert error["error"] == "log_corrupt" and "JSON" in error["message"] and error["lost_seqs"] == [lost, lost]
    assert events[-1]["params"]["exit_code"] == 3


async def test_a_log_truncated_mid_line_ends_with_a_completed_from_the_record(make_server: ServerFactory) -> None:
    server = make_server()
    job_id, path, next_seq = await finished_job(server)
    cut_seq, before = output_with(await raw_replay(server, job_id), "<10>")
    data = path.read_bytes()
    path.write_bytes(data[: data.index(b"<10>")])  # inside the entry holding <10>
    assert server.terminate() == 0
    server.start()
    events = await raw_replay(server, job_id)
    assert texts(events) == before[:cut_seq]
    [error] = errors(events)
    assert error["error"] == "log_corrupt" and "cut short" in error["message"]
    assert error["lost_seqs"] == [cut_seq, next_seq - 1]
    done = events[-1]["params"]
    assert done["from_record"] is True and done["status"] == "failed" and done["exit_code"] == 3
    assert done["next_seq"] == next_seq


async def test_a_truncated_log_on_the_same_server_ends_too(make_server: ServerFactory) -> None:
    """Without a restart: the server counted more entries than the file now holds."""
    server = make_server()
    job_id, path, _ = await finished_job(server)
    cut_seq, before = output_with(await raw_replay(server, job_id), "<15>")
    data = path.read_bytes()
    path.write_bytes(data[: data.index(b"<15>")])
    events = await raw_replay(server, job_id)
    assert texts(events) == before[:cut_seq]
    [error] = errors(events)
    assert error["error"] == "log_corrupt" and error["entries"] >= 2  # the cut entry and what followed it
    assert events[-1]["params"]["from_record"] is True and events[-1]["params"]["exit_code"] == 3


async def test_a_missing_log_is_named_and_the_replay_ends(make_server: ServerFactory) -> None:
    server = make_server()
    job_id, path, _ = await finished_job(server)
    path.unlink()
    events = await raw_replay(server, job_id)  # the same server, then after a restart
    assert [e["error"] for e in errors(events)] == ["log_missing"] and texts(events) == []
    assert events[-1]["params"]["from_record"] is True and events[-1]["params"]["exit_code"] == 3
    assert server.terminate() == 0
    server.start()
    events = await raw_replay(server, job_id)
    assert [e["error"] for e in errors(events)] == ["log_missing"] and texts(events) == []
    assert events[-1]["params"]["exit_code"] == 3 and events[-1]["params"]["status"] == "failed"


async def test_an_unreadable_log_is_named_and_the_replay_ends(make_server: ServerFactory) -> None:
    server = make_server()
    job_id, path, _ = await finished_job(server)
    path.unlink()
    path.mkdir()  # opening it fails with an OS error other than "missing", even as root
    events = await raw_replay(server, job_id)
    [error] = errors(events)
    assert error["error"] == "log_unreadable" and texts(events) == []
    assert events[-1]["params"]["from_record"] is True and events[-1]["params"]["exit_code"] == 3
    assert server.terminate() == 0
    server.start()
    events = await raw_replay(server, job_id)
    assert [e["error"] for e in errors(events)] == ["log_unreadable"]
    assert events[-1]["method"] == "process.completed" and events[-1]["params"]["exit_code"] == 3


async def test_from_seq_past_the_end_gets_a_notice_and_the_completed(make_server: ServerFactory) -> None:
    server = make_server()
    job_id, _, next_seq = await finished_job(server)
    events = await raw_replay(server, job_id, from_seq=next_seq + 5)
    [error] = errors(events)
    assert error["error"] == "from_seq_past_end" and error["from_seq"] == next_seq + 5
    assert error["next_seq"] == next_seq
    assert texts(events) == [] and events[-1]["params"]["exit_code"] == 3
    # from_seq at the end exactly is no error: just the job's own process.completed.
    events = await raw_replay(server, job_id, from_seq=next_seq)
    assert errors(events) == [] and [e["method"] for e in events] == ["process.completed"]
    assert "from_record" not in events[-1]["params"]


def test_the_reader_hands_out_only_valid_entries(tmp_path: Path) -> None:
    """Straight at the log: a garbled line, a line without its seq, and a cut last line."""
    path = tmp_path / "job.log"
    good = [
        f'{n}\t{{"jsonrpc":"2.0","method":"process.output","params":{{"job_id":"j","seq":{n},"data":"x"}}}}\n'
        for n in range(6)
    ]
    good[1] = "1\t{not json\n"
    good[2] = "no tab here\n"
    good[5] = good[5][:20]
    path.write_bytes("".join(good).encode())
    log = OutputLog.reopen("j", path, 6, 6, path.stat().st_size)
    problems: list[Any] = []
    entries, pos = log.read(0, problems=problems)
    assert pos == 6 and len(entries) == 3
    assert all(json.loads(e)["method"] == "process.output" for e in entries)
    assert [(p.kind, p.pos, p.entries, p.index) for p in problems] == [("corrupt", 1, 2, 1), ("corrupt", 5, 1, 3)]
    assert problems[0].lost_seqs == (1, 2) and problems[1].lost_seqs == (5, 5)
    assert log.read(0)[0] == entries  # without a problems list: the same valid entries, silently


class _FakeSocket:
    def __init__(self) -> None:
        self.frames: list[str] = []

    async def send_text(self, text: str) -> None:
        self.frames.append(text)


async def test_a_failing_sender_ends_its_follow_with_a_notice(caplog: Any, tmp_path: Path) -> None:
    """An exception inside the stream is logged once and ends the follow with process.error and completed."""

    class BrokenLog(OutputLog):
        def read(self, *args: Any, **kwargs: Any) -> tuple[list[str], int]:
            raise OSError(28, "No space left on device")

    class FakeJob:
        id = "job1"
        state = JobState.COMPLETED
        exit_code, signal, duration, pid, pgid, reason = 0, None, 1.0, 10, 10, None
        extra: ClassVar[dict[str, Any]] = {}
        log = BrokenLog.reopen("job1", tmp_path / "x.log", 4, 10, 0)
        completed_params = Job.completed_params  # what the replay builds its process.completed from

    class FakeManager:
        def get(self, job_id: str) -> FakeJob:
            return FakeJob()

    session = Session.__new__(Session)
    session.id = "s1"
    session.websocket = _FakeSocket()  # type: ignore[assignment]
    session.executor = type("E", (), {"manager": FakeManager()})()  # type: ignore[assignment]
    session._send_lock = asyncio.Lock()
    session._asgi_send = session._write_now = None  # no server under it: frames go through the WebSocket's send_text
    session._binary, session._framed = False, None
    with caplog.at_level(logging.WARNING, logger="cc_executor.server.session"):
        await asyncio.wait_for(session._stream("job1", 0), 5)
    frames = [json.loads(f) for f in session.websocket.frames]  # type: ignore[attr-defined]
    assert [f["method"] for f in frames] == ["process.error", "process.completed"]
    assert frames[0]["params"]["error"] == "log_unreadable" and "No space left" in frames[0]["params"]["message"]
    assert frames[1]["params"]["next_seq"] == 4 and frames[1]["params"]["from_record"] is True
    assert len([r for r in caplog.records if "replay of job job1 failed" in r.getMessage()]) == 1
