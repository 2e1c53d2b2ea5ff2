"""Runs one command hook as an asyncio subprocess in its own process group, bounded in time and output."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from dataclasses import dataclass

# After the hook itself exits, how long to wait for stray background children to close its pipes.
PIPE_DRAIN_GRACE = 0.5
_POLL = 0.05


@dataclass(slots=True)
class CommandRun:
    """What happened: ``exit_code`` None means it never finished (``timed_out``) or never started (``error``)."""

    exit_code: int | None
    stdout: str
    stderr: str
    duration: float
    timed_out: bool = False
    error: str | None = None


async def _read_bounded(stream: asyncio.StreamReader, limit: int) -> bytes:
    """Keep the first ``limit`` bytes but read to EOF, so a chatty hook never blocks on a full pipe."""
    kept = bytearray()
    while chunk := await stream.read(65536):
        if len(kept) < limit:
            kept += chunk[: limit - len(kept)]
    return bytes(kept)


async def _feed_stdin(proc: asyncio.subprocess.Process, data: bytes) -> None:
    assert proc.stdin is not None
    try:
        proc.stdin.write(data)
        await proc.stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the hook did not read its stdin: allowed
    finally:
        try:
            proc.stdin.close()
        except (BrokenPipeError, ConnectionResetError):
            pass


async def _wait_exit(proc: asyncio.subprocess.Process, timeout: float) -> bool:
    """True once the hook itself has exited. ``proc.wait()`` is no use here: on Python 3.11 it also waits for
    the pipes to close, which a background child of the hook can delay forever."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while proc.returncode is None:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        await asyncio.sleep(min(delay, left))
        delay = min(delay * 2, 0.1)
    return True


def _signal_group(pgid: int, sig: int) -> bool:
    """Signal the whole group; False when no process is left in it."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists but not ours to signal (should not happen for our own children)
    return True


async def kill_group(pgid: int, grace: float) -> None:
    """SIGTERM the group, wait up to ``grace`` for it to empty, then SIGKILL what is left."""
    if not _signal_group(pgid, signal.SIGTERM):
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        await asyncio.sleep(_POLL)
        if not _signal_group(pgid, 0):
            return
    _signal_group(pgid, signal.SIGKILL)


async def run_command(
    command: str,
    *,
    shell: str,
    stdin: bytes,
    cwd: str | None,
    env: dict[str, str],
    timeout: float,
    kill_grace: float,
    max_capture: int,
) -> CommandRun:
    """Run ``shell -c command`` with ``start_new_session=True`` so its pgid is its pid and it dies as a group."""
    started = time.monotonic()
    spawn = asyncio.ensure_future(
        asyncio.create_subprocess_exec(
            shell,
            "-c",
            command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=cwd or None,
            env=env,
            start_new_session=True,
        )
    )
    try:
        # Shielded: a cancel that comes while asyncio still sets up the pipes would otherwise kill only the
        # leader and wait for pipes that a background child of the hook holds open, forever.
        proc = await asyncio.shield(spawn)
    except OSError as exc:
        return CommandRun(None, "", "", time.monotonic() - started, error=f"cannot start hook: {exc}")
    except asyncio.CancelledError:
        with contextlib.suppress(OSError):
            late = await spawn  # a few ms: the hook may have started already
            await kill_group(late.pid, 0)
        raise
    pgid = proc.pid  # new session: the child leads its own group
    assert proc.stdout is not None and proc.stderr is not None
    feeder = asyncio.create_task(_feed_stdin(proc, stdin))
    readers = asyncio.gather(_read_bounded(proc.stdout, max_capture), _read_bounded(proc.stderr, max_capture))
    timed_out = False
    try:
        if not await _wait_exit(proc, timeout):
            timed_out = True
            await kill_group(pgid, kill_grace)
            await _wait_exit(proc, kill_grace + 1.0)
    except asyncio.CancelledError:
        await kill_group(pgid, 0)
        readers.cancel()
        feeder.cancel()
        raise
    try:
        # Background children that keep the pipes open are not waited for: they are ended with the group.
        out, err = await asyncio.wait_for(asyncio.shield(readers), PIPE_DRAIN_GRACE)
    except TimeoutError:
        await kill_group(pgid, kill_grace)
        try:
            out, err = await asyncio.wait_for(readers, kill_grace + 1.0)
        except TimeoutError:
            out, err = b"", b""
    feeder.cancel()
    return CommandRun(
        None if timed_out else proc.returncode,
        out.decode("utf-8", "replace"),
        err.decode("utf-8", "replace"),
        time.monotonic() - started,
        timed_out=timed_out,
    )
