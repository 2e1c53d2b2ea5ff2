"""Record what the real Claude Code CLI prints for each mock scenario, and what our server sends for it.

Not a test: a tool for the next CLI version. ``.venv/bin/python tests/record_claude_cli.py [SCENARIO ...]
[--slow] [--out FILE]`` runs each scenario twice against a fresh ``tests/anthropic_mock.py``: the CLI on its
own (stdout lines, stderr, exit code, the requests it made and when) and as a job of a real ``cc_executor
serve`` (every notification but ``process.output``, and ``process.completed``); then ``cc-executor run`` on
the same job for its stderr. The record goes to FILE as JSON (default /tmp/claude-cli-record.json);
docs/claude-cli-<version>.md is written from it. ``--slow`` adds the runs with the CLI's default retries.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anthropic_mock import AnthropicMock
from claude_cli import CLAUDE_BIN, claude_command, claude_env, installed_version
from conftest import ServerProcess
from rpc_client import RpcClient

TOOLS = ("--allowedTools", "Bash")


@dataclass
class Case:
    name: str  # the record's name
    scenario: str  # the mock scenario
    flags: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    cancel: bool = False  # through the server: cancel once the mock saw the request (or the tree started)
    direct: bool = True  # also run the CLI on its own
    direct_timeout: float = 120.0
    slow: bool = False


CASES = [
    Case("plain", "plain"),
    Case("bash", "bash", TOOLS),
    Case("two_tools", "two_tools", TOOLS),
    Case("bash_tree_cancel", "bash_tree", TOOLS, cancel=True, direct=False),
    Case("bash_leftover", "bash_leftover", TOOLS),
    Case("rate_limit", "rate_limit"),
    Case("rate_limit_no_retries", "rate_limit", env={"CLAUDE_CODE_MAX_RETRIES": "0"}),
    Case("usage_limit", "usage_limit"),
    Case("overloaded", "overloaded"),
    Case("server_error", "server_error"),
    Case("bad_request", "bad_request"),
    Case("unauthorized", "unauthorized"),
    Case("max_tokens", "max_tokens"),
    Case("big_delta", "big_delta"),
    Case("slow_first_byte", "slow_first_byte"),
    Case("stream_cut", "stream_cut"),
    Case("stream_hang_cancel", "stream_hang", cancel=True, direct=False),
    Case("rate_limit_text_format", "rate_limit", ("--output-format", "text")),
    Case("root_skip_permissions", "plain", ("--dangerously-skip-permissions",)),
    Case("bad_flag", "plain", ("--no-such-flag",)),
    Case(
        "rate_limit_default_retries", "rate_limit", env={"CLAUDE_CODE_MAX_RETRIES": ""}, slow=True, direct_timeout=400
    ),
    Case(
        "overloaded_default_retries", "overloaded", env={"CLAUDE_CODE_MAX_RETRIES": ""}, slow=True, direct_timeout=400
    ),
    Case("stream_hang_direct", "stream_hang", slow=True, direct_timeout=400),
]


def requests_of(mock: AnthropicMock, t0: float) -> list[dict[str, Any]]:
    out = []
    for r in mock.requests:
        body = r.body if isinstance(r.body, dict) else {}
        out.append(
            {
                "at_s": round(r.at - t0, 2),
                "method": r.method,
                "path": r.path,
                "scenario": r.scenario,
                "stream": body.get("stream"),
                "max_tokens": body.get("max_tokens"),
                "retry_count": r.headers.get("X-Stainless-Retry-Count") or r.headers.get("x-stainless-retry-count"),
                "anthropic_beta": r.headers.get("anthropic-beta"),
            }
        )
    return out


def env_of(case: Case, mock: AnthropicMock, home: Path) -> dict[str, str]:
    env = claude_env(mock, home, CC_MOCK_PIDS_FILE=str(home / "tree-pids"), **case.env)
    return {k: v for k, v in env.items() if v != ""}  # "" removes a default (the CLI's own retries)


def command_of(case: Case) -> str:
    command = claude_command(case.scenario, *case.flags)
    if "--output-format text" in command:
        command = command.replace("--output-format stream-json --verbose ", "")
    return command


def run_direct(case: Case) -> dict[str, Any]:
    with AnthropicMock() as mock, tempfile.TemporaryDirectory(prefix="cc-rec-") as scratch:
        home = Path(scratch)
        env = {**env_of(case, mock, home)}
        t0 = time.monotonic()
        try:
            done = subprocess.run(
                ["bash", "-c", command_of(case)], env=env, cwd=home, capture_output=True, timeout=case.direct_timeout
            )
            code: int | None = done.returncode
            stdout, stderr = done.stdout, done.stderr
        except subprocess.TimeoutExpired as timed_out:
            code, stdout, stderr = None, timed_out.stdout or b"", timed_out.stderr or b""
        return {
            "command": command_of(case),
            "exit_code": code,
            "wall_s": round(time.monotonic() - t0, 2),
            "stdout": stdout.decode(errors="replace").splitlines(),
            "stderr": stderr.decode(errors="replace"),
            "requests": requests_of(mock, t0),
        }


async def run_server(case: Case, server: ServerProcess) -> dict[str, Any]:
    with AnthropicMock() as mock, tempfile.TemporaryDirectory(prefix="cc-rec-") as scratch:
        home = Path(scratch)
        env = env_of(case, mock, home)
        t0 = time.monotonic()
        async with await RpcClient.connect(server.url) as rpc:
            job = await rpc.call("execute", command=command_of(case), env=env, cwd=str(home))
            job_id = job["job_id"]
            if case.cancel:
                deadline = time.monotonic() + 60
                pids = home / "tree-pids"
                while time.monotonic() < deadline:
                    started = pids.exists() and len(pids.read_text().splitlines()) >= 3
                    if (case.scenario == "bash_tree" and started) or (
                        case.scenario != "bash_tree" and mock.messages(case.scenario)
                    ):
                        break
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.3)
                await rpc.call("control", type="CANCEL", job_id=job_id)
            events = await rpc.collect_until_completed(job_id, timeout=max(case.direct_timeout, 60) + 60)
            got = await rpc.call("jobs.get", job_id=job_id)
        stdout = "".join(
            e["params"]["data"] for e in events if e["method"] == "process.output" and e["params"]["type"] == "stdout"
        )
        return {
            "wall_s": round(time.monotonic() - t0, 2),
            "notifications": [
                {"method": e["method"], "params": e["params"]} for e in events if e["method"] != "process.output"
            ],
            "stdout_lines": len(stdout.splitlines()),
            "jobs_get": {k: got.get(k) for k in ("state", "exit_code", "reason", "failure_reason", "agent")},
            "requests": requests_of(mock, t0),
        }


def run_cli_run(case: Case, server: ServerProcess) -> dict[str, Any]:
    """``cc-executor run --env … CMD``: its exit code and stderr (stdout is the job's output)."""
    with AnthropicMock() as mock, tempfile.TemporaryDirectory(prefix="cc-rec-") as scratch:
        home = Path(scratch)
        env = {**os.environ, "CC_EXECUTOR_URL": server.url}
        args = [sys.executable, "-m", "cc_executor", "run", "--cwd", str(home)]
        for name, value in env_of(case, mock, home).items():
            args += ["--env", f"{name}={value}"]
        done = subprocess.run(
            [*args, command_of(case)], env=env, capture_output=True, text=True, timeout=case.direct_timeout + 60
        )
        return {"exit_code": done.returncode, "stderr": done.stderr, "stdout_lines": len(done.stdout.splitlines())}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("names", nargs="*")
    parser.add_argument("--slow", action="store_true")
    parser.add_argument("--out", default="/tmp/claude-cli-record.json")
    parser.add_argument("--markdown", metavar="RECORD", help="print RECORD (a JSON record) as markdown; run nothing")
    args = parser.parse_args()
    if args.markdown:
        print(render_markdown(json.loads(Path(args.markdown).read_text())))
        return
    cases = [c for c in CASES if (c.name in args.names if args.names else (args.slow or not c.slow))]
    record: dict[str, Any] = {"cli_version": installed_version(), "binary": str(CLAUDE_BIN), "cases": {}}
    with tempfile.TemporaryDirectory(prefix="cc-rec-server-") as workdir:
        server = ServerProcess(Path(workdir))
        server.start()
        try:
            for case in cases:
                print(f"-- {case.name}", file=sys.stderr, flush=True)
                entry: dict[str, Any] = {"scenario": case.scenario, "flags": list(case.flags), "env": case.env}
                if case.direct:
                    entry["direct"] = run_direct(case)
                if not case.slow:
                    entry["server"] = await run_server(case, server)
                    if not case.cancel:
                        entry["cc_executor_run"] = run_cli_run(case, server)
                record["cases"][case.name] = entry
                Path(args.out).write_text(json.dumps(record, indent=1))
        finally:
            server.stop()


# -- rendering the record as markdown (docs/claude-cli-<version>.md) ----------------------------------------------

_BULKY = ("usage", "modelUsage", "subagent_stats", "model_usage_since_last_result", "tool_result_meta")
_IDS = ("uuid", "session_id", "timestamp", "request_id")


def _short(value: Any, keep_bulky: bool) -> Any:
    if isinstance(value, str):
        return value if len(value) <= 200 else f"{value[:60]}…({len(value)} chars)"
    if isinstance(value, list):
        if len(value) > 6 and all(isinstance(item, str) for item in value):
            return [*value[:3], f"…{len(value) - 3} more"]
        return [_short(item, keep_bulky) for item in value]
    if isinstance(value, dict):
        return {
            k: ("…" if k in _BULKY and not keep_bulky and v else _short(v, keep_bulky))
            for k, v in value.items()
            if k not in _IDS
        }
    return value


def _event_line(line: str, keep_bulky: bool) -> str:
    try:
        event = json.loads(line)
    except ValueError:
        return line if len(line) <= 300 else line[:300] + "…"
    if not isinstance(event, dict):
        return line
    if event.get("subtype") == "init":
        keys = (
            "type",
            "subtype",
            "cwd",
            "model",
            "permissionMode",
            "apiKeySource",
            "claude_code_version",
            "output_style",
            "tools",
        )
        event = {k: event[k] for k in keys if k in event}
    return json.dumps(_short(event, keep_bulky), ensure_ascii=False)


def _notification(note: dict[str, Any]) -> str:
    params = {k: v for k, v in note["params"].items() if k not in ("job_id", "command")}
    return f"{note['method']} {json.dumps(_short(params, True), ensure_ascii=False)}"


def render_markdown(record: dict[str, Any]) -> str:
    out: list[str] = []
    first_full = True
    for name, case in record["cases"].items():
        out.append(f"### `{name}`\n")
        direct = case.get("direct")
        if direct:
            requests = direct["requests"]
            times = ", ".join(f"{r['at_s']}{'' if r['stream'] else ' (stream: false)'}" for r in requests)
            out.append(f"`{direct['command']}`" + (f" with `{case['env']}`" if case["env"] else ""))
            out.append("")
            out.append(
                f"Exit code **{direct['exit_code']}** after {direct['wall_s']} s; "
                f"{len(requests)} request(s) at {times or '-'} s; stderr: "
                + (f"`{direct['stderr'].strip()}`" if direct["stderr"].strip() else "empty")
                + ".\n"
            )
            out.append("```")
            for line in direct["stdout"]:
                keep = first_full and '"type":"result"' in line
                out.append(_event_line(line, keep))
                first_full = first_full and not keep
            out.append("```\n")
        server = case.get("server")
        if server:
            out.append(
                f"Through the server ({server['stdout_lines']} stdout lines, {len(server['requests'])} request(s)):\n"
            )
            out.append("```")
            out.extend(_notification(n) for n in server["notifications"] if n["method"] != "process.started")
            jobs = server["jobs_get"]
            out.append(
                f"jobs.get: reason={json.dumps(jobs['reason'])} "
                f"failure_reason={json.dumps(_short(jobs['failure_reason'], True), ensure_ascii=False)}"
            )
            out.append("```\n")
        run = case.get("cc_executor_run")
        if run:
            err = run["stderr"].strip()
            out.append(
                f"`cc-executor run`: exit {run['exit_code']}, stderr " + (f"`{err}`" if err else "empty") + ".\n"
            )
    return "\n".join(out)


if __name__ == "__main__":
    asyncio.run(main())
