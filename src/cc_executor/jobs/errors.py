"""Errors of the job core. Transports map them to their own codes (see ``rpc/errors.py``)."""

from __future__ import annotations

from typing import Any


class JobError(Exception):
    """Base class: ``message`` is safe to show to the client, ``data`` adds structured detail."""

    def __init__(self, message: str, data: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class JobNotFound(JobError):
    """No job with that id, or no live job to act on."""


class LimitReached(JobError):
    """A session, job or resource limit would be exceeded."""


class CommandRejected(JobError):
    """The command is not allowed by the configured policy."""


class BlockedByHook(JobError):
    """A pre-execute hook refused the command."""


class RateLimited(JobError):
    """Too many requests; ``data['retry_after']`` says when to try again."""


class InvalidJobRequest(JobError):
    """The request is well-formed JSON-RPC but cannot run (bad cwd, job not in the right state...)."""


class SpawnFailed(LimitReached):
    """A job could not start because something the server needs ran out or is gone (file descriptors, memory,
    processes, the spawner): the message says which; trying again later may work."""
