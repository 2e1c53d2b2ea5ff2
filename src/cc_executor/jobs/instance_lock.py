"""One instance per state dir: an exclusive ``flock`` on ``<state dir>/instance.lock``, and a stable instance id.

Whoever runs the job core on a state dir (``cc-executor serve``, or ``cc-executor mcp`` in-process) takes the
lock before it touches anything there: the spawner, the registry, the leftover cleanup. A second one finds
the lock held and stops, naming the holder, which it reads from the lock file: JSON with ``pid``, ``url``
(``ws://host:port/ws/mcp``, null for an in-process MCP server), ``instance`` (the id below), ``mode``
and ``started_at``. The kernel drops the lock when the holder exits, however it exits, so a stale lock file
never blocks a restart. The lock fd is close-on-exec: no spawner or job inherits the lock.

The instance id names the state dir's job core across restarts (``<state dir>/instance_id``, written once). It
is part of every job token (``jobs.spawner_main.job_token``), so the start-up sweep of orphans kills only
processes of this state dir's own jobs, never those of another live instance.

Standard library only; the core knows nothing of the CLI or the server that call it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

LOCK_FILE_NAME = "instance.lock"
INSTANCE_ID_FILE_NAME = "instance_id"


class InstanceLocked(Exception):
    """The state dir is in use by another live instance; ``holder`` is what its lock file says (may be {})."""

    def __init__(self, state_dir: Path, holder: dict[str, Any]) -> None:
        self.state_dir = state_dir
        self.holder = holder
        super().__init__(f"the state dir {state_dir} is in use by {describe_holder(holder)}")


def describe_holder(holder: dict[str, Any]) -> str:
    """``cc-executor serve (pid 123, ws://127.0.0.1:8003/ws/mcp)``, from a lock file's content."""
    mode = holder.get("mode") or "another cc-executor"
    pid = holder.get("pid", "?")
    where = holder.get("url") or "no URL: runs jobs in-process"
    return f"{mode} (pid {pid}, {where})"


def lock_path(state_dir: Path) -> Path:
    return state_dir / LOCK_FILE_NAME


def read_holder(state_dir: Path) -> dict[str, Any]:
    """What the lock file says about its holder; {} when it is missing, empty or not JSON."""
    try:
        data = json.loads(lock_path(state_dir).read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def lock_holder(state_dir: Path) -> dict[str, Any] | None:
    """What the lock file says about its holder while one holds it (a live instance); None when none does.

    Tested with a shared lock taken and dropped at once: it is refused exactly while an instance holds its
    exclusive one, whatever the file still says after a crash."""
    try:
        fd = os.open(lock_path(state_dir), os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return read_holder(state_dir)
    finally:
        os.close(fd)  # drops the shared lock, if it was taken
    return None


def instance_id(state_dir: Path) -> str:
    """The state dir's stable instance id (hex), created on first use; the same after every restart."""
    path = state_dir / INSTANCE_ID_FILE_NAME
    with contextlib.suppress(OSError):
        text = path.read_text(encoding="ascii").strip()
        if text and all(c in "0123456789abcdef" for c in text):
            return text
    new = secrets.token_hex(8)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    temp.write_text(new + "\n", encoding="ascii")
    os.chmod(temp, 0o600)
    os.replace(temp, path)
    return new


class InstanceLock:
    """The held lock of one state dir; ``release()`` (or process exit) lets the next instance in."""

    def __init__(self, state_dir: Path, fd: int) -> None:
        self.state_dir = state_dir
        self._fd = fd
        self.instance = instance_id(state_dir)

    @classmethod
    def acquire(cls, state_dir: Path) -> InstanceLock:
        """Take the lock (the state dir must exist); raises ``InstanceLocked`` naming the live holder. A
        refused caller has changed nothing: the file is opened without truncation and not written."""
        path = lock_path(state_dir)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise InstanceLocked(state_dir, read_holder(state_dir)) from None
        except BaseException:
            os.close(fd)
            raise
        try:
            return cls(state_dir, fd)
        except BaseException:
            os.close(fd)
            raise

    def write(self, *, url: str | None, mode: str) -> None:
        """Record who holds the lock (rewritten in place: the lock belongs to this inode)."""
        data = {
            "pid": os.getpid(),
            "url": url,
            "instance": self.instance,
            "mode": mode,
            "started_at": time.time(),
        }
        raw = (json.dumps(data) + "\n").encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, raw, 0)

    @property
    def held(self) -> bool:
        return self._fd >= 0

    def release(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the only fd of this open file drops the flock
            self._fd = -1
