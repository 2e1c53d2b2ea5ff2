"""Spawning a job's process tree and signalling all of it.

Each job runs ``SHELL -c COMMAND`` as the leader of a new session, so its pgid is its own pid (known without
asking: ``killpg(getpgid(pid))`` called before the child ran ``setsid`` would hit the server's own group).
Exit is watched through a pidfd, so no thread per child and no reliance on SIGCHLD handlers; the leader is
reaped as soon as it exits. Signals go to the whole group and, while the leader lives, also to any
descendant that left the group with ``setsid`` (found through /proc via psutil). The job's environment is
built by ``jobs.job_env.job_environ``; its identity, cwd and limits are applied by
``spawner_main.start_job``, the same code the spawner runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import resource
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import psutil

from .proc_table import live_group_members
from .spawner_main import JobUser, start_job

# What a spawn fails with when something ran out, rather than because the request was wrong.
EXHAUSTION_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.EAGAIN, errno.ENOBUFS})


def fd_limit() -> int:
    """This process's soft RLIMIT_NOFILE (what EMFILE means here)."""
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def exhaustion_message(code: int, where: str, limit: int | None = None, detail: str = "") -> str:
    """Say what ran out and where ("the server", "the spawner"), e.g. "too many open files in the server
    (EMFILE); the limit is 128", so a client can tell a full machine from a bad request."""
    name = errno.errorcode.get(code, str(code))
    if code == errno.EMFILE:
        text = f"too many open files in {where} ({name})"
    elif code == errno.ENFILE:
        text = f"too many open files on the system, seen by {where} ({name}): the kernel's file table is full"
    elif code == errno.EAGAIN:
        text = f"{where} could not create a process ({name}): a process or thread limit was reached"
    elif code in (errno.ENOMEM, errno.ENOBUFS):
        text = f"out of memory in {where} ({name})"
    else:
        text = f"{os.strerror(code)} in {where} ({name})"
    if detail:
        text += f": {detail}"
    if code == errno.EMFILE and limit is not None:
        text += f"; the limit is {limit}"
    return text


class SpawnExhausted(OSError):
    """A job could not start because something ran out (fds, memory, processes); ``str()`` says what and
    where. An OSError, so callers that handle spawn failures keep working."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, message)
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(slots=True)
class SpawnedProcess:
    """A running job leader: its pid/pgid, the parent's ends of its pipes, and its exit future."""

    pid: int
    pgid: int
    stdout_fd: int
    stderr_fd: int
    stdin_fd: int | None
    exited: asyncio.Future[int]
    # CPU seconds of the leader and the descendants it waited for (from wait4).
    cpu_time: float | None = None
    _pidfd: int = -1
    _popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    # Why the job ended, when something outside it ended it (its spawner died): becomes the job's reason.
    end_reason: str | None = None

    @property
    def returncode(self) -> int | None:
        return self.exited.result() if self.exited.done() else None

    def signal_group(self, sig: int) -> bool:
        """Send ``sig`` to the job's process group; False when the group is already gone."""
        try:
            os.killpg(self.pgid, sig)
            return True
        except ProcessLookupError:
            return False
        except PermissionError:
            return False

    def escaped_descendants(self) -> list[psutil.Process]:
        """Descendants of the leader that are no longer in its process group (they called setsid)."""
        if self.exited.done():
            return []
        try:
            children = psutil.Process(self.pid).children(recursive=True)
        except psutil.Error:
            return []
        escaped = []
        for child in children:
            try:
                if os.getpgid(child.pid) != self.pgid:
                    escaped.append(child)
            except (ProcessLookupError, psutil.Error):
                continue
        return escaped

    def signal_tree(self, sig: int) -> None:
        """Signal the group and every escaped descendant still reachable through the leader."""
        for proc in self.escaped_descendants():
            try:
                proc.send_signal(sig)
            except psutil.Error:
                pass
        self.signal_group(sig)

    def group_alive(self) -> bool:
        """True while a process of the group is alive; zombies awaiting their reaper do not count."""
        try:
            os.killpg(self.pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        try:
            return bool(live_group_members(self.pgid))
        except OSError:  # /proc unreadable (out of fds): the group answered the signal, so count it alive
            return True


def spawn(
    shell: str,
    command: str,
    *,
    cwd: str | None,
    env: Mapping[str, str],
    stdin_pipe: bool,
    rlimits: Mapping[str, Sequence[int]] | None = None,
    user: JobUser | None = None,
) -> SpawnedProcess:
    """Start ``shell -c command`` in a new session (as ``user``, with ``rlimits``, both applied in the child
    before exec); the caller reads the returned pipe fds. Raises OSError when it cannot start."""
    loop = asyncio.get_running_loop()
    try:
        popen = start_job([shell, "-c", command], cwd=cwd, env=env, stdin_pipe=stdin_pipe, rlimits=rlimits, user=user)
    except OSError as exc:
        if exc.errno in EXHAUSTION_ERRNOS:
            raise SpawnExhausted(exc.errno, exhaustion_message(exc.errno, "the server", fd_limit())) from exc
        raise
    assert popen.stdout is not None and popen.stderr is not None
    taken: list[int] = []
    try:  # each of these needs a new fd, which may be the one that is not there
        stdout_fd = os.dup(popen.stdout.fileno())
        taken.append(stdout_fd)
        stderr_fd = os.dup(popen.stderr.fileno())
        taken.append(stderr_fd)
        stdin_fd = None
        if popen.stdin is not None:
            stdin_fd = os.dup(popen.stdin.fileno())
            taken.append(stdin_fd)
        pidfd = os.pidfd_open(popen.pid)
    except OSError as exc:
        # The child started but cannot be watched: end it now rather than leave it unsupervised.
        with contextlib.suppress(OSError):
            os.killpg(popen.pid, signal.SIGKILL)
        for fd in taken:
            os.close(fd)
        for stream in (popen.stdin, popen.stdout, popen.stderr):
            if stream is not None:
                stream.close()
        popen.wait()
        code = exc.errno or errno.EMFILE
        raise SpawnExhausted(code, exhaustion_message(code, "the server", fd_limit())) from exc
    for stream in (popen.stdin, popen.stdout, popen.stderr):
        if stream is not None:
            stream.close()
    exited: asyncio.Future[int] = loop.create_future()
    proc = SpawnedProcess(popen.pid, popen.pid, stdout_fd, stderr_fd, stdin_fd, exited, _popen=popen)
    proc._pidfd = pidfd

    def on_exit() -> None:
        try:
            pid, status, usage = os.wait4(popen.pid, os.WNOHANG)
        except ChildProcessError:
            pid, status, usage = popen.pid, 0, None
        if pid == 0:
            return
        code = os.waitstatus_to_exitcode(status) if usage is not None else (popen.poll() or 0)
        popen.returncode = code
        if usage is not None:
            proc.cpu_time = usage.ru_utime + usage.ru_stime
        loop.remove_reader(pidfd)
        os.close(pidfd)
        if not exited.done():
            exited.set_result(code)

    loop.add_reader(pidfd, on_exit)
    return proc


def signal_name(returncode: int | None) -> str | None:
    if returncode is None or returncode >= 0:
        return None
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"SIG{-returncode}"


async def terminate_tree(proc: SpawnedProcess, grace: float, poll: float = 0.05) -> None:
    """SIGTERM the whole tree (continuing it first, so stopped processes can die), wait up to ``grace``
    for it to go, then SIGKILL whatever is left. Returns once the group is empty and the leader reaped."""
    proc.signal_tree(signal.SIGTERM)
    proc.signal_tree(signal.SIGCONT)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    while loop.time() < deadline:
        if proc.exited.done() and not proc.group_alive():
            return
        await asyncio.sleep(poll)
    proc.signal_tree(signal.SIGKILL)
    deadline = loop.time() + 5.0
    while loop.time() < deadline:
        if proc.exited.done() and not proc.group_alive():
            return
        await asyncio.sleep(poll)
