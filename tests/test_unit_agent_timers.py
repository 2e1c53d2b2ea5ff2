"""An agent job's two timers, on the fake clock and process of test_unit_job: the result grace (the CLI printed
its final ``result`` but its tree lives on: end the job with the result's status and stop the tree) and the
start-up watch (no stream-json event for ``start_timeout`` seconds: one ``process.stalled``, phase startup)."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from typing import Any

import pytest
from test_unit_job import Harness, Observer, harness_of  # noqa: F401 - harness_of is a fixture

from cc_executor.agents import AgentObserver, AgentSettings, observer_for
from cc_executor.protocol.state import JobState

INIT = {"type": "system", "subtype": "init", "session_id": "s1", "model": "m"}
SUCCESS = {"type": "result", "subtype": "success", "is_error": False, "result": "done", "session_id": "s1"}
FAILED = {"type": "result", "subtype": "error_max_turns", "is_error": True, "result": "", "session_id": "s1"}


def line(event: dict[str, Any]) -> bytes:
    return (json.dumps(event) + "\n").encode()


@pytest.fixture
def agent_job(harness_of: Callable[..., Harness]) -> Callable[..., Harness]:  # noqa: F811 - the fixture
    """``agent_job(result_grace=, start_timeout=, observer=True, **job settings)``: ``harness_of``'s job with an
    ``AgentObserver`` (or none); ended at teardown by ``harness_of`` if a test did not."""

    def build(*, result_grace: float = 30.0, start_timeout: float = 300.0, observer: bool = True, **job: Any):
        harness = harness_of(**job)
        if observer:
            settings = AgentSettings(result_grace=result_grace, start_timeout=start_timeout)
            harness.job.observers.append(AgentObserver(settings))
        return harness

    return build


# -- result grace ---------------------------------------------------------------------------------


async def test_a_tree_alive_past_the_grace_is_stopped_and_the_job_completes(
    agent_job: Callable[..., Harness],
) -> None:
    h = agent_job()
    proc = h.start()
    h.feed("stdout", line(INIT))
    h.clock.advance(5)
    h.feed("stdout", line(SUCCESS))
    h.clock.advance(29.9)
    assert h.job.state is JobState.RUNNING and proc.signals == []
    h.clock.advance(0.1)
    await h.end()
    assert signal.SIGTERM in proc.signals  # the usual ladder
    done = h.of("process.completed")[0]
    assert done["status"] == "completed"
    assert done["reason"] == "the agent printed its result 30 s ago but its process tree did not exit; stopped it"
    assert done["agent"]["subtype"] == "success"
    assert h.of("process.cancelled") == []


async def test_a_failed_result_ends_failed_with_both_reasons(agent_job: Callable[..., Harness]) -> None:
    h = agent_job(result_grace=2.0)
    h.start()
    h.feed("stdout", line(INIT) + line(FAILED))
    h.clock.advance(2)
    await h.end()
    done = h.of("process.completed")[0]
    assert done["status"] == "failed"
    assert done["reason"].startswith("claude result error_max_turns (is_error=true)")
    assert done["reason"].endswith(
        "; the agent printed its result 2 s ago but its process tree did not exit; stopped it"
    )


async def test_a_job_that_exits_within_the_grace_is_unaffected(agent_job: Callable[..., Harness]) -> None:
    h = agent_job()
    proc = h.start()
    h.feed("stdout", line(INIT) + line(SUCCESS))
    h.clock.advance(29)
    await h.end(0)
    h.clock.advance(1000)
    assert proc.signals == []
    done = h.of("process.completed")[0]
    assert (done["status"], done["exit_code"], done["reason"]) == ("completed", 0, None)


async def test_a_grace_of_zero_never_stops(agent_job: Callable[..., Harness]) -> None:
    h = agent_job(result_grace=0.0)
    proc = h.start()
    h.feed("stdout", line(INIT) + line(SUCCESS))
    h.clock.advance(10_000)
    assert h.job.state is JobState.RUNNING and proc.signals == []


async def test_an_interactive_job_with_stdin_open_is_not_stopped(agent_job: Callable[..., Harness]) -> None:
    h = agent_job(result_grace=1.0)
    proc = h.start(stdin=True)
    h.feed("stdout", line(INIT) + line(SUCCESS))  # one turn of a multi-turn run: the next may come on stdin
    h.clock.advance(100)
    assert h.job.state is JobState.RUNNING and proc.signals == []


# -- start-up watch -------------------------------------------------------------------------------


async def test_no_event_within_the_start_timeout_is_one_startup_stall(agent_job: Callable[..., Harness]) -> None:
    h = agent_job(start_timeout=300.0)
    proc = h.start()
    h.clock.advance(100)
    h.feed("stderr", b"not an event\n")  # output, but no stream-json event
    h.clock.advance(199.9)
    assert h.of("process.stalled") == []
    h.clock.advance(0.1)
    [stalled] = h.of("process.stalled")
    assert (stalled["idle_seconds"], stalled["phase"], stalled["action"]) == (300.0, "startup", "notify")
    assert h.job.stalled and h.job.stall_count == 1 and h.hook_events == ["stall"]
    h.clock.advance(10_000)
    assert len(h.of("process.stalled")) == 1 and proc.signals == []  # not killed for this alone


async def test_an_event_before_the_start_timeout_means_no_startup_stall(agent_job: Callable[..., Harness]) -> None:
    h = agent_job(start_timeout=300.0)
    h.start()
    h.clock.advance(299)
    h.feed("stdout", line(INIT))
    h.clock.advance(10_000)
    assert h.of("process.stalled") == [] and h.hook_events == []


async def test_a_start_timeout_of_zero_is_off(agent_job: Callable[..., Harness]) -> None:
    h = agent_job(start_timeout=0.0)
    h.start()
    h.clock.advance(10_000)
    assert h.of("process.stalled") == []


async def test_a_job_without_an_agent_observer_has_neither_timer(agent_job: Callable[..., Harness]) -> None:
    h = agent_job(observer=False)
    h.job.observers.append(Observer(None))  # an observer, but not an agent's
    proc = h.start()
    h.feed("stdout", line(SUCCESS))
    h.clock.advance(10_000)
    assert h.of("process.stalled") == [] and proc.signals == []


async def test_only_a_stream_json_run_is_watched_at_start(agent_job: Callable[..., Harness]) -> None:
    streaming = observer_for("claude -p hi --output-format stream-json --verbose", AgentSettings(start_timeout=5))
    text = observer_for("claude -p hi --output-format json", AgentSettings(start_timeout=5))
    assert streaming is not None and text is not None
    assert (streaming.start_timeout, text.start_timeout) == (5, 0.0)
    h = agent_job(observer=False)
    h.job.observers.append(text)
    h.start()
    h.clock.advance(10_000)
    assert h.of("process.stalled") == []
