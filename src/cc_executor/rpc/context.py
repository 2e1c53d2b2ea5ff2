"""What a method needs from the connection that called it; sessions (and tests) implement it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..executor import Executor


class RpcContext(Protocol):
    session_id: str
    executor: Executor

    def follow(self, job_id: str, from_pos: int, from_seq: int | None = None) -> None:
        """Stream the job's log from ``from_pos`` to this client, starting after the current response;
        ``from_seq`` is the seq the client asked for (so a replay past the end can say so)."""

    def follow_remote(self, job_id: str, from_seq: int) -> None:
        """Cluster mode: stream another node's job from ``from_seq`` (from the cluster's copy of its log),
        starting after the current response."""

    def unfollow(self, job_id: str) -> bool:
        """Stop streaming the job to this client; False when it was not following it."""

    def note_job(self, job_id: str) -> None:
        """Remember a job this session started (for ``control`` without ``job_id``)."""

    def admit_execute(self) -> None:
        """Raise ``RateLimited`` when this client starts jobs faster than allowed."""

    def current_job(self) -> str | None:
        """The session's most recent live job, if any."""

    def watch_jobs(self) -> None:
        """Send ``jobs.changed`` for every job that changes from now on, starting after the current response."""

    def unwatch_jobs(self) -> bool:
        """Stop ``jobs.changed``; False when this connection was not watching."""
