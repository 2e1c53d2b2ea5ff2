"""The protocol's vocabulary, without a server: states, control verbs, error codes and their round trip
through the client, and the task-list runner's stop and chain rules."""

from __future__ import annotations

from typing import get_args

import pytest

from cc_executor.client import ClientError, JobNotFound, RateLimited, ServerError
from cc_executor.client.errors import error_from_response
from cc_executor.client.task_list import Outcome, link, run_in_order, submit_chain
from cc_executor.protocol import errors
from cc_executor.protocol.control import DONE, ControlType, control_type
from cc_executor.protocol.params import ControlParams, ListParams
from cc_executor.protocol.state import (
    FINAL_STATES,
    LIVE_STATES,
    STATE_FILTERS,
    FinalState,
    JobState,
    StateFilter,
    is_final,
    matches,
)


def test_state_words_are_spelled_once() -> None:
    assert {s.value for s in FINAL_STATES} == set(get_args(FinalState))
    assert get_args(StateFilter) == STATE_FILTERS == ("live", *(s.value for s in JobState))
    assert {JobState.QUEUED, JobState.RUNNING, JobState.PAUSED} == LIVE_STATES
    assert is_final("timed_out") and is_final(JobState.LOST) and not is_final("running") and not is_final(None)


@pytest.mark.parametrize(
    ("state", "wanted", "passes"),
    [
        (JobState.PAUSED, "live", True),
        (JobState.COMPLETED, "live", False),
        (JobState.FAILED, "failed", True),
        (JobState.FAILED, "completed", False),
        (JobState.LOST, None, True),
    ],
)
def test_list_filter(state: JobState, wanted: str | None, passes: bool) -> None:
    assert matches(state, wanted) is passes


def test_list_params_take_every_filter_and_refuse_others() -> None:
    for word in STATE_FILTERS:
        assert ListParams.model_validate({"state": word}).state == word
    with pytest.raises(ValueError, match="state"):
        ListParams.model_validate({"state": "done"})


def test_control_verbs_any_case_and_their_answers() -> None:
    assert control_type("pause") is ControlType.PAUSE and control_type("Signal") is ControlType.SIGNAL
    assert ControlParams.model_validate({"type": "cancel"}).type is ControlType.CANCEL
    assert DONE == {
        ControlType.PAUSE: "paused",
        ControlType.RESUME: "resumed",
        ControlType.CANCEL: "cancelled",
        ControlType.SIGNAL: "signalled",
    }
    with pytest.raises(ValueError, match="PAUSE, RESUME, CANCEL, SIGNAL"):
        control_type("stop")
    with pytest.raises(ValueError):
        ControlParams.model_validate({"type": 3})


def test_every_code_is_one_class_and_comes_back_as_it_went() -> None:
    codes = [value for name, value in vars(errors).items() if name.isupper() and isinstance(value, int)]
    assert sorted(codes) == sorted(errors.BY_CODE) and len(set(codes)) == len(codes)
    for code, kind in errors.BY_CODE.items():
        sent = kind("why", {"limit": 3})
        assert sent.to_dict() == {"code": code, "message": "why", "data": {"limit": 3}}
        back = error_from_response(sent.to_dict())
        # The client raises the server's own class (so `except JobNotFound` is one thing everywhere), and a
        # ServerError/ClientError too.
        assert isinstance(back, kind) and isinstance(back, ServerError) and isinstance(back, ClientError)
        assert back.code == code and back.message == "why" and back.data == {"limit": 3}
        assert str(back) == f"why (code {code})"


def test_typed_fields_and_unknown_codes() -> None:
    limited = error_from_response({"code": -32005, "message": "slow", "data": {"retry_after": 1.5}})
    assert isinstance(limited, RateLimited) and limited.retry_after == 1.5
    assert error_from_response({"code": -32005, "message": "slow", "data": {"retry_after": True}}).retry_after is None
    down = errors.HistoryUnavailable.of("redis", "connection refused", 100.0, 5.0)
    assert down.code == errors.HISTORY_UNAVAILABLE and down.store == "redis" and down.retry_in == 5.0
    assert down.data == {"store": "redis", "reason": "connection refused", "since": 100.0, "retry_in": 5.0}
    odd = error_from_response({"code": -32099, "message": "odd"})
    assert type(odd) is ServerError and odd.code == -32099
    garbled = error_from_response({"code": "x"})
    assert garbled.code == errors.INTERNAL_ERROR and garbled.message == "server error"
    assert isinstance(error_from_response({"code": -32003, "message": "gone"}), JobNotFound)
    assert issubclass(errors.SpawnFailed, errors.LimitReached) and errors.SpawnFailed("x").code == -32001


async def test_in_order_stops_at_the_first_failure_unless_keep_going() -> None:
    outcomes = {"a": Outcome.SUCCEEDED, "b": Outcome.FAILED, "c": Outcome.SUCCEEDED}
    for keep_going, expected in ((False, ["a", "b"]), (True, ["a", "b", "c"])):
        ran: list[str] = []

        async def step(task: str) -> Outcome:
            ran.append(task)  # noqa: B023 - each loop turn awaits its own run before the next defines step
            return outcomes[task]

        assert await run_in_order(["a", "b", "c"], step, keep_going) == len(expected)
        assert ran == expected


async def test_an_interruption_ends_the_list_even_with_keep_going() -> None:
    ran: list[int] = []

    async def step(task: int) -> Outcome:
        ran.append(task)
        return Outcome.INTERRUPTED if task == 1 else Outcome.FAILED

    await run_in_order([0, 1, 2], step, keep_going=True)
    assert ran == [0, 1]


async def test_chain_links_each_job_to_the_previous_one() -> None:
    submitted: list[tuple[str, list[str] | None]] = []

    async def submit(task: str, depends: list[str] | None) -> str:
        submitted.append((task, depends))
        return f"job-{task}"

    async def cancel(job_id: str) -> None:
        raise AssertionError("nothing is cancelled when every task is accepted")

    assert await submit_chain(["a", "b", "c"], submit, cancel) == ["job-a", "job-b", "job-c"]
    assert submitted == [("a", None), ("b", ["job-a"]), ("c", ["job-b"])]
    submitted.clear()
    await submit_chain(["a", "b"], submit, cancel, keep_going=True)
    assert submitted == [("a", None), ("b", None)]
    assert link(None, False) is None and link("j", False) == ["j"] and link("j", True) is None


async def test_a_refused_task_cancels_what_was_queued_and_raises_the_refusal() -> None:
    cancelled: list[str] = []

    async def submit(task: str, depends: list[str] | None) -> str:
        if task == "c":
            raise errors.CommandNotAllowed("refused: c")
        return f"job-{task}"

    async def cancel(job_id: str) -> None:
        cancelled.append(job_id)
        if job_id == "job-a":
            raise errors.InvalidParams("already ended")  # one that ended meanwhile does not stop the others

    with pytest.raises(errors.CommandNotAllowed, match="refused: c"):
        await submit_chain(["a", "b", "c", "d"], submit, cancel)
    assert cancelled == ["job-a", "job-b"]
