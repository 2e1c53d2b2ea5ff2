"""The permission bridge's core (agents/permission_bridge.py) and which job events become notifications
(notify/job_events.py), without processes: a stand-in job records what is logged on it. The real CLI asking
through the real server is in test_agents_permission_bridge.py."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

import pytest

from cc_executor.agents.permission_bridge import MAX_PENDING_PER_JOB, PermissionBridge, cli_answer
from cc_executor.jobs.job import Job
from cc_executor.notify.job_events import notices_for
from cc_executor.protocol.errors import InvalidParams, JobNotFound, LimitReached
from cc_executor.protocol.state import JobState


@dataclass
class Logged:
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def append_event(self, method: str, params: dict[str, Any]) -> None:
        self.events.append((method, params))


def stand_in(job_id: str = "j1", timeout: float | None = None, state: JobState = JobState.RUNNING) -> Any:
    touched: list[bool] = []
    return SimpleNamespace(
        id=job_id,
        state=state,
        proc=object() if state is JobState.RUNNING else None,
        spec=SimpleNamespace(permission_timeout=timeout),
        extra={"agent": {"session_id": "sess-1"}},
        awaiting=0,
        log=Logged(),
        output_reader=SimpleNamespace(touch=lambda: touched.append(True)),
        touched=touched,
    )


async def asked(bridge: PermissionBridge, job: Any, **kw: Any) -> asyncio.Task[dict[str, Any]]:
    task = asyncio.create_task(bridge.ask(cast(Job, job), "Bash", {"command": "ls"}, "toolu_1", **kw))
    await asyncio.sleep(0)
    return task


async def test_an_allowed_request_returns_the_cli_s_answer_and_logs_both_ends() -> None:
    bridge, job = PermissionBridge(60), stand_in()
    task = await asked(bridge, job)
    [pending] = bridge.pending("j1")
    assert pending["tool_name"] == "Bash" and pending["session_id"] == "sess-1" and job.awaiting == 1
    answer = bridge.respond(pending["request_id"], "allow", {"command": "ls -l"}, by="session s")
    assert answer["updated_input"] == {"command": "ls -l"} and answer["by"] == "session s"
    result = await task
    assert json.loads(result["text"]) == {"behavior": "allow", "updatedInput": {"command": "ls -l"}}
    assert [m for m, _ in job.log.events] == ["permission.request", "permission.resolved"]
    assert "job_id" not in job.log.events[0][1]  # the event belongs to the job already
    assert job.awaiting == 0 and job.touched and bridge.pending() == []
    with pytest.raises(JobNotFound, match="no permission request"):
        bridge.respond(pending["request_id"], "deny")


async def test_nobody_answering_is_a_deny_at_the_job_s_timeout() -> None:
    bridge, job = PermissionBridge(60), stand_in(timeout=0.05)
    result = await (await asked(bridge, job))
    assert result["behavior"] == "deny" and result["by"] == "timeout"
    assert json.loads(result["text"]) == {"behavior": "deny", "message": "no answer within 0.05 s (denied by default)"}


async def test_a_deny_ignores_an_edited_input_and_a_job_s_end_denies_what_waits() -> None:
    bridge, job = PermissionBridge(60), stand_in()
    first = await asked(bridge, job)
    bridge.respond(bridge.pending()[0]["request_id"], "deny", {"command": "rm"}, "no")
    assert json.loads((await first)["text"]) == {"behavior": "deny", "message": "no"}
    second = await asked(bridge, job)
    bridge.job_ended("j1")
    assert (await second)["message"] == "the job ended"


async def test_keys_are_per_job_and_void_once_it_ends() -> None:
    bridge = PermissionBridge(60)
    key = bridge.key_for("j1")
    assert bridge.key_for("j1") == key and len(key) == 48
    assert bridge.key_ok("j1", key) and not bridge.key_ok("j2", key) and not bridge.key_ok("j1", None)
    assert not bridge.key_ok("j1", key[:-1] + "0" if key[-1] != "0" else key[:-1] + "1")
    bridge.job_ended("j1")
    assert not bridge.key_ok("j1", key)


async def test_a_job_that_is_not_running_or_floods_is_refused() -> None:
    bridge = PermissionBridge(60)
    with pytest.raises(InvalidParams, match="only a running job may ask"):
        await bridge.ask(cast(Job, stand_in(state=JobState.COMPLETED)), "Bash", {}, None)
    job = stand_in()
    tasks = [await asked(bridge, job) for _ in range(MAX_PENDING_PER_JOB)]
    with pytest.raises(LimitReached):
        await bridge.ask(cast(Job, job), "Bash", {}, None)
    bridge.job_ended("j1")
    await asyncio.gather(*tasks)


def test_cli_answer_keeps_the_original_input_unless_edited() -> None:
    assert json.loads(cli_answer("allow", {"a": 1}, None, "")) == {"behavior": "allow", "updatedInput": {"a": 1}}
    assert json.loads(cli_answer("deny", {"a": 1}, {"b": 2}, "why")) == {"behavior": "deny", "message": "why"}


def test_which_job_events_become_notifications() -> None:
    assert notices_for("process.started", {"job_id": "j", "pid": 1}) == [("started", {"pid": 1})]
    assert notices_for("process.output", {"job_id": "j", "seq": 0}) == []
    ended = notices_for("process.completed", {"job_id": "j", "status": "cancelled", "reason": "budget: max_turns 2"})
    assert [event for event, _ in ended] == ["ended", "budget"]
    assert notices_for("process.completed", {"status": "completed", "reason": None})[0][0] == "ended"
    assert notices_for("error.rate_limit_exceeded", {"message": "m"}) == [
        ("rate_limited", {"source": "rate_limit", "message": "m"})
    ]
    assert notices_for("agents.window", {"state": "closed"})[0][0] == "rate_limited"
    assert notices_for("agents.window", {"state": "open"}) == []
    assert notices_for("permission.request", {"request_id": "r"}) == [("permission", {"request_id": "r"})]
    assert notices_for("process.stalled", {"idle_seconds": 3})[0][0] == "stalled"


async def test_an_asker_that_goes_away_leaves_a_resolved_event_and_nothing_waiting() -> None:
    bridge, job = PermissionBridge(60), stand_in()
    task = await asked(bridge, job)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [m for m, _ in job.log.events] == ["permission.request", "permission.resolved"]
    assert job.log.events[1][1]["by"] == "asker gone" and bridge.pending() == [] and job.awaiting == 0
