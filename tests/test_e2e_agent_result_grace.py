"""End-to-end: an agent job's result grace and start-up watch through a real server, with the fake ``claude``.

The real CLI cannot be made to stay alive after its result, so the fake does it (``FAKE_CLAUDE_LINGER_SECONDS``:
it starts a child holding its pipes, a dev server, and stays alive itself). With a 1 s grace the job ends with
the result's status well before that, and /proc shows nothing of its tree is left.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from conftest import ServerFactory
from proc_scan import eventually, survivors
from rpc_client import RpcClient, completed, text_of
from test_e2e_agents import fake_env

pytestmark = pytest.mark.timeout(90)


def claude(scenario: str) -> str:
    return f"claude -p 'scenario:{scenario} run {uuid.uuid4().hex[:8]}' --output-format stream-json"


async def run(make_server: ServerFactory, command: str, **env: str) -> list[dict[str, Any]]:
    server = make_server(CC_EXECUTOR_AGENT_RESULT_GRACE="1", CC_EXECUTOR_AGENT_START_TIMEOUT="1")
    async with await RpcClient.connect(server.url) as rpc:
        result = await rpc.call("execute", command=command, env=fake_env(**env))
        return await rpc.collect_until_completed(result["job_id"], timeout=60)


async def test_a_cli_alive_after_its_result_is_stopped_after_the_grace(make_server: ServerFactory) -> None:
    events = await run(make_server, claude("normal"), FAKE_CLAUDE_LINGER_SECONDS="120")
    done = completed(events)
    assert done["status"] == "completed"
    assert re.fullmatch(
        r"the agent printed its result [0-9.]+ s ago but its process tree did not exit; stopped it", done["reason"]
    )
    assert done["agent"]["subtype"] == "success" and done["signal"] in ("SIGTERM", "SIGKILL")
    found = re.search(r"dev server pid (\d+)", text_of(events, "stderr"))
    assert found is not None
    child = int(found.group(1))
    assert await eventually(lambda: survivors(done["pgid"], [done["pid"], child]) == [])


async def test_a_silent_start_gives_one_startup_stall(make_server: ServerFactory) -> None:
    events = await run(make_server, claude("silent:3"))
    stalls = [e["params"] for e in events if e["method"] == "process.stalled" and e["params"].get("phase")]
    assert len(stalls) == 1 and stalls[0]["phase"] == "startup" and stalls[0]["idle_seconds"] >= 1
    done = completed(events)
    assert (done["status"], done["exit_code"]) == ("completed", 0)  # the stall alone does not stop it
