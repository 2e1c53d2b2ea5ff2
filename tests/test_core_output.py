"""Output as a client sees it: both streams, exit codes, event fields, long lines, floods, odd bytes."""

from __future__ import annotations

import random
import string
import uuid
from pathlib import Path

from conftest import ServerFactory
from rpc_client import RpcClient, completed, outputs, text_of


async def run(client: RpcClient, command: str, **params: object) -> tuple[dict, list[dict]]:
    """Execute and collect every notification up to ``process.completed``."""
    result = await client.call("execute", command=command, **params)
    events = await client.collect_until_completed(result["job_id"])
    return result, events


def assert_seqs_contiguous(events: list[dict]) -> None:
    seqs = [p["seq"] for p in outputs(events)]
    assert seqs == list(range(len(seqs))), seqs


async def test_both_streams_exit_code_and_event_fields(client: RpcClient) -> None:
    result, events = await run(client, "echo out; echo err >&2; echo out2; exit 3", timeout=7)
    assert result["status"] == "started"
    assert result["timeout"] == 7 and result["timeout_source"] == "request"
    assert isinstance(result["pid"], int) and result["pgid"] == result["pid"]

    started = [e["params"] for e in events if e["method"] == "process.started"]
    assert len(started) == 1 and events[0]["method"] == "process.started"
    assert started[0]["job_id"] == result["job_id"] and started[0]["status"] == "started"
    assert started[0]["pid"] == result["pid"] and started[0]["pgid"] == result["pgid"]
    assert started[0]["timeout"] == 7

    assert text_of(events, "stdout") == "out\nout2\n"
    assert text_of(events, "stderr") == "err\n"
    assert all(p["truncated"] is False for p in outputs(events))
    assert_seqs_contiguous(events)

    end = completed(events)
    assert events[-1]["method"] == "process.completed"
    assert end["status"] == "failed" and end["exit_code"] == 3 and end["signal"] is None
    assert end["pid"] == result["pid"] and end["pgid"] == result["pgid"]
    assert isinstance(end["duration"], float) and 0 <= end["duration"] < 30


async def test_success_is_completed_with_default_timeout_source(client: RpcClient) -> None:
    marker = uuid.uuid4().hex  # a command class with no history on the shared server
    result, events = await run(client, f"test {marker} = {marker}")
    # The default timeout, stretched by the load multiplier (1x to 3x) when the machine is busy.
    assert result["timeout_source"] == "default" and 3600 <= result["timeout"] <= 3 * 3600
    end = completed(events)
    assert end["status"] == "completed" and end["exit_code"] == 0


async def test_three_megabyte_line_arrives_whole_in_numbered_chunks(client: RpcClient, tmp_path: Path) -> None:
    rng = random.Random(7)
    line = "".join(rng.choices(string.ascii_letters + string.digits, k=3 * 1024 * 1024))
    source = tmp_path / "line.txt"
    source.write_text(line + "\n")
    _, events = await run(client, f"cat {source}")
    frames = outputs(events, "stdout")
    assert text_of(events, "stdout") == line + "\n"
    # As the original: every chunk but the last says the line goes on; the last, whole line, is not truncated.
    assert [f["truncated"] for f in frames] == [True] * (len(frames) - 1) + [False]
    chunked = [f for f in frames if "total_chunks" in f]
    assert len(chunked) == len(frames) > 1
    total = chunked[0]["total_chunks"]
    assert [f["chunk_index"] for f in chunked] == list(range(total))
    assert all(f["total_chunks"] == total for f in chunked)
    assert_seqs_contiguous(events)


async def test_line_over_max_buffer_size_is_truncated_and_marked(make_server: ServerFactory) -> None:
    srv = make_server(MAX_BUFFER_SIZE="65536")
    async with await RpcClient.connect(srv.url) as rpc:
        command = "head -c 200000 /dev/zero | tr '\\0' x; echo; echo after"
        _, events = await run(rpc, command)
    frames = outputs(events, "stdout")
    text = text_of(events, "stdout")
    long_line = [f for f in frames if "total_chunks" in f]
    assert long_line and all(f["truncated"] for f in long_line), "an over-long line must be marked truncated"
    assert not any(f["truncated"] for f in frames if "total_chunks" not in f)
    assert text.count("x") == 65536
    assert text.startswith("x" * 65536)
    assert text.endswith("\nafter\n"), "the lines after a truncated one must still arrive"
    assert completed(events)["exit_code"] == 0


async def test_many_short_lines_are_coalesced_in_order(client: RpcClient) -> None:
    _, events = await run(client, "seq 1 5000")
    frames = outputs(events, "stdout")
    assert text_of(events, "stdout") == "".join(f"{i}\n" for i in range(1, 5001))
    assert len(frames) < 5000 / 10, f"{len(frames)} messages for 5000 lines: not coalesced"
    assert_seqs_contiguous(events)


async def test_invalid_utf8_becomes_replacement_characters(client: RpcClient) -> None:
    _, events = await run(client, r"printf 'a\xff\xfeb\n'; printf 'ok\n' >&2")
    assert text_of(events, "stdout") == "a\ufffd\ufffdb\n"
    assert text_of(events, "stderr") == "ok\n"


async def test_multibyte_character_split_across_writes_arrives_intact(client: RpcClient) -> None:
    # The euro sign is e2 82 ac: two bytes, a pause long enough for a partial-line flush, then the last one.
    _, events = await run(
        client, r"printf '\xe2\x82'; sleep 0.3; printf '\xac\n'; printf 'x\xf0\x9f'; sleep 0.3; printf '\x98\x80\n'"
    )
    text = text_of(events, "stdout")
    assert "\ufffd" not in text
    assert text == "\u20ac\nx\U0001f600\n"


async def test_zsh_shell_setting_runs_commands_under_zsh(make_server: ServerFactory) -> None:
    srv = make_server(CC_EXECUTOR_SHELL="zsh")
    async with await RpcClient.connect(srv.url) as rpc:
        _, events = await run(rpc, 'echo "zsh=$ZSH_VERSION"; print -r -- from-print')
    text = text_of(events, "stdout")
    lines = text.splitlines()
    assert lines[0].startswith("zsh=") and len(lines[0]) > len("zsh="), text
    assert lines[1] == "from-print"
    assert completed(events)["status"] == "completed"


async def test_a_job_knows_its_id_and_labels_and_no_request_can_change_them(client: RpcClient) -> None:
    labels = {"team": "infra", "task-name": "build 1", "": "empty name", "nul": "a\x00b"}
    env = {"CC_EXECUTOR_JOB_ID": "someone-else", "CC_EXECUTOR_LABEL_TEAM": "forged", "KEEP": "mine"}
    result, events = await run(client, "env | sort", labels=labels, env=env, timeout=30)
    seen = dict(line.split("=", 1) for line in text_of(events).splitlines() if "=" in line)
    assert seen["CC_EXECUTOR_JOB_ID"] == result["job_id"]
    assert seen["CC_EXECUTOR_LABEL_TEAM"] == "infra" and seen["CC_EXECUTOR_LABEL_TASK_NAME"] == "build 1"
    assert seen["KEEP"] == "mine"
    assert "CC_EXECUTOR_LABEL_NUL" not in seen and "CC_EXECUTOR_LABEL_" not in seen
    assert completed(events)["exit_code"] == 0
