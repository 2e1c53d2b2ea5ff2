"""The server's side of the spawner: start it, ask it for jobs, and cope when it dies.

Jobs are started by a separate sub-reaper process (``spawner_main``) so that no job process outlives the
server, even one that left its group with ``setsid`` or double-forked, and even when the server is SIGKILLed.
``Spawner.spawn`` returns the same ``SpawnedProcess`` interface as ``process.spawn`` (a subclass whose
signalling also reaches the job's escapees), so a ``Job`` does not know the difference.

If the spawner itself dies, the client kills every job group it still knows (and every process carrying a
job's token), resolves their exit futures with -SIGKILL, and starts a new spawner. See docs/reliability.md.

The spawner is started with the base environment (``security.job_env.base_environ``), not the server's: a job
can read its parent's ``/proc/<pid>/environ``, so the spawner must hold no token and no Redis password.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psutil

from ..security.job_env import base_environ
from .proc_table import live_group_members
from .process import SpawnedProcess
from .spawner_main import (
    INLINE_LIMIT,
    JobUser,
    descendants,
    environ_token,
    instance_id,
    job_processes,
    owned_by,
    parse_token,
    read_stat,
    recv_message,
    scan_processes,
)

log = logging.getLogger(__name__)

Rlimits = Mapping[str, tuple[int, int]]


@dataclass(slots=True)
class SpawnerProcess(SpawnedProcess):
    """A job started by the spawner: signals reach its group and its escapees (found via /proc)."""

    token: str = ""
    uid: int = -1  # the job's user (CC_EXECUTOR_JOB_USER, else ours): whose processes may be its escapees
    _instance: str | None = None
    _client: Spawner | None = field(default=None, repr=False)

    def _root(self) -> int | None:
        """The spawner that holds this job's orphans, or None once it is gone (then search everywhere)."""
        client = self._client
        if client is not None and client.instance is not None and client.instance == self._instance:
            return client.pid
        return None

    def _escapees(self) -> tuple[list[int], list[int]]:
        """(group members, escapees), cheaply: a process that left the group is either still below the
        living leader, or was orphaned and adopted by the spawner, its sub-reaper, so it is one of the
        spawner's direct children (and carries this job's token). Only with the spawner gone is all of /proc
        searched, since its adoptees were handed to someone else."""
        root = self._root()
        adopted = direct_children(root) if root is not None else None
        if adopted is None:
            return job_processes(self.pgid, self.pid, self.token, root, {os.getuid(), self.uid})
        members = live_group_members(self.pgid) if self.signal_group(0) else []
        escapees = [p.pid for p in SpawnedProcess.escaped_descendants(self)]
        leaders = self._client.running if self._client is not None else {}
        for pid in adopted:
            if pid in leaders or pid in escapees:
                continue
            stat = read_stat(pid)
            if stat is not None and stat.live and stat.pgrp != self.pgid and environ_token(pid) == self.token:
                escapees.append(pid)
        return members, escapees

    def escaped_descendants(self) -> list[psutil.Process]:
        found = []
        for pid in self._escapees()[1]:
            with contextlib.suppress(psutil.Error):
                found.append(psutil.Process(pid))
        return found

    def signal_tree(self, sig: int) -> None:
        """Signal the whole group, then each escapee (setsid, or re-parented to the spawner) and, when the
        escapee leads a group of its own (it called setsid), that group too."""
        escapees = self._escapees()[1]  # before the group dies: its orphans move to the spawner as we look
        self.signal_group(sig)
        for pid in escapees:
            with contextlib.suppress(OSError):
                os.kill(pid, sig)
            with contextlib.suppress(OSError):
                if os.getpgid(pid) == pid:
                    os.killpg(pid, sig)

    def group_alive(self) -> bool:
        """True while any process of the job lives: a group member or an escapee. Zombies do not count."""
        members, escapees = self._escapees()
        return bool(members or escapees)


def direct_children(pid: int) -> list[int] | None:
    """The direct children of ``pid`` (one read of /proc), or None where the kernel does not list them."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children", "rb") as handle:
            return [int(child) for child in handle.read().split()]
    except (OSError, ValueError):
        return None


class Spawner:
    """Client of one spawner process at a time; restarts it when it dies unless ``stop()`` was called."""

    def __init__(
        self,
        *,
        restart: bool = True,
        start_timeout: float = 10.0,
        python: str = sys.executable,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """``env``: the spawner's own environment; None means the base environment of this process's."""
        self.restart = restart
        self.start_timeout = start_timeout
        self.python = python
        self.env = dict(env) if env is not None else None
        self.pid: int | None = None
        self.instance: str | None = None
        self.restarts = 0
        # The state dir's instance id, put in every job token (``spawner_main.job_token``) so the start-up sweep
        # of an instance kills its own orphans only; set by ``JobManager.restore`` before the first spawn.
        self.owner: str | None = None
        self.running: dict[int, SpawnerProcess] = {}
        self._sock: socket.socket | None = None
        self._popen: subprocess.Popen[bytes] | None = None
        self._pidfd = -1
        self._hello: asyncio.Future[dict[str, Any]] | None = None
        self._pending: dict[int, asyncio.Future[SpawnerProcess]] = {}
        self._next_id = 0
        self._send_lock = asyncio.Lock()
        self._start_lock = asyncio.Lock()
        self._starting: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def alive(self) -> bool:
        return self._sock is not None and self.instance is not None

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the spawner (call from the main thread: its parent-death signal follows the forking thread)."""
        async with self._start_lock:
            if not self.alive:
                await self._start()

    async def _start(self) -> None:
        self._stopping = False
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._popen = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [self.python, "-m", "cc_executor.jobs.spawner_main", "--fd", str(theirs.fileno()),
                 "--parent", str(os.getpid())],
                stdin=subprocess.DEVNULL,
                env=self.env if self.env is not None else base_environ(os.environ),
                pass_fds=(theirs.fileno(),),
                start_new_session=True,  # a terminal's Ctrl-C is for the server to handle, not the spawner
            )
        finally:
            theirs.close()
        ours.setblocking(False)
        self._sock = ours
        popen = self._popen
        self._pidfd = os.pidfd_open(popen.pid)
        self._hello = loop.create_future()
        loop.add_reader(ours.fileno(), self._on_readable)
        loop.add_reader(self._pidfd, self._on_spawner_exit, self._pidfd, popen)
        try:
            hello = await asyncio.wait_for(asyncio.shield(self._hello), self.start_timeout)
        except (TimeoutError, OSError):
            self._lost()
            popen.kill()
            raise
        self.pid = int(hello["pid"])
        self.instance = str(hello["instance"])

    async def stop(self, timeout: float = 5.0) -> None:
        """Close the control socket: the spawner kills every job it holds and exits; wait for that."""
        self._stopping = True
        if self._starting is not None:
            with contextlib.suppress(Exception):
                await self._starting
        popen = self._popen
        self._lost()
        if popen is not None:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while popen.poll() is None and loop.time() < deadline:
                await asyncio.sleep(0.02)
            if popen.poll() is None:
                popen.kill()
                popen.wait()
            if self._pidfd >= 0 and popen is self._popen:
                loop.remove_reader(self._pidfd)
                os.close(self._pidfd)
                self._pidfd = -1

    async def _ensure_started(self) -> None:
        if self._starting is not None and not self._starting.done():
            await asyncio.shield(self._starting)
        if not self.alive:
            await self.start()

    # -- spawning ---------------------------------------------------------------------------------

    async def spawn(
        self,
        shell: str,
        command: str,
        *,
        cwd: str | None,
        env: Mapping[str, str],
        stdin_pipe: bool,
        rlimits: Rlimits | None = None,
        user: JobUser | None = None,
    ) -> SpawnedProcess:
        """Start ``shell -c command`` as a new session leader in the spawner (as ``user`` when given); raises
        OSError when it cannot."""
        if self._stopping:
            raise BrokenPipeError(errno.EPIPE, "the spawner is stopped")
        await self._ensure_started()
        loop = asyncio.get_running_loop()
        self._next_id += 1
        request_id = self._next_id
        request = {
            "op": "spawn",
            "id": request_id,
            "argv": [shell, "-c", command],
            "cwd": cwd,
            "env": dict(env),
            "stdin": stdin_pipe,
            "rlimits": {name: list(value) for name, value in rlimits.items()} if rlimits else None,
            "user": user.to_json() if user is not None else None,
            "owner": self.owner,
        }
        reply: asyncio.Future[SpawnerProcess] = loop.create_future()
        self._pending[request_id] = reply
        try:
            await self._send(request)
            return await reply
        finally:
            self._pending.pop(request_id, None)

    def _adopt(self, message: dict[str, Any], fds: list[int]) -> SpawnerProcess:
        """Track a job the moment it is reported: its exit may be the very next message."""
        stdin_fd = fds[3] if len(fds) > 3 else None
        pid = int(message["pid"])
        proc = SpawnerProcess(
            pid, pid, fds[0], fds[1], stdin_fd, asyncio.get_running_loop().create_future(),
            _pidfd=fds[2], token=str(message["token"]), uid=int(message.get("uid", os.getuid())),
            _instance=self.instance, _client=self,
        )
        self.running[pid] = proc
        return proc

    async def _send(self, message: dict[str, Any]) -> None:
        data = json.dumps(message).encode()
        fds: list[int] = []
        if len(data) > INLINE_LIMIT:  # too big for one datagram: hand over a memfd holding it
            memfd = os.memfd_create("cc-executor-spawn", os.MFD_CLOEXEC)
            with os.fdopen(memfd, "wb", closefd=False) as handle:
                handle.write(data)
            data, fds = b"memfd", [memfd]
        loop = asyncio.get_running_loop()
        try:
            async with self._send_lock:
                while True:
                    sock = self._sock
                    if sock is None:
                        raise BrokenPipeError(errno.EPIPE, "the spawner exited")
                    try:
                        if fds:
                            socket.send_fds(sock, [data], fds)
                        else:
                            sock.send(data)
                        return
                    except BlockingIOError:
                        writable = loop.create_future()
                        loop.add_writer(sock.fileno(), lambda: writable.done() or writable.set_result(None))
                        try:
                            await writable
                        finally:
                            loop.remove_writer(sock.fileno())
        finally:
            for fd in fds:
                os.close(fd)

    # -- messages from the spawner ----------------------------------------------------------------

    def _on_readable(self) -> None:
        while self._sock is not None:
            try:
                data, fds, _ = recv_message(self._sock)
            except BlockingIOError:
                return
            except OSError:
                data, fds = b"", []
            if not data and not fds:
                self._lost()
                return
            self._dispatch(json.loads(data), fds)

    def _dispatch(self, message: dict[str, Any], fds: list[int]) -> None:
        op = message.get("op")
        if op == "hello" and self._hello is not None and not self._hello.done():
            self._hello.set_result(message)
        elif op in ("spawned", "error"):
            reply = self._pending.get(message.get("id") or 0)
            if reply is None or reply.done():  # the caller gave up: nobody will watch this job, so end it
                if op == "spawned":
                    with contextlib.suppress(OSError):
                        os.killpg(int(message["pid"]), signal.SIGKILL)
                for fd in fds:
                    os.close(fd)
            elif op == "spawned":
                reply.set_result(self._adopt(message, fds))
            else:
                filename = message.get("filename")
                args = (filename,) if filename is not None else ()
                reply.set_exception(OSError(int(message["errno"]), str(message["message"]), *args))
        elif op == "exit":
            proc = self.running.pop(int(message["pid"]), None)
            if proc is not None:
                proc.cpu_time = float(message["cpu"])
                self._resolve(proc, os.waitstatus_to_exitcode(int(message["status"])))

    @staticmethod
    def _resolve(proc: SpawnerProcess, code: int) -> None:
        if proc._pidfd >= 0:
            with contextlib.suppress(ValueError, RuntimeError):
                asyncio.get_running_loop().remove_reader(proc._pidfd)
            os.close(proc._pidfd)
            proc._pidfd = -1
        if not proc.exited.done():
            proc.exited.set_result(code)

    # -- the spawner went away --------------------------------------------------------------------

    def _on_spawner_exit(self, pidfd: int, popen: subprocess.Popen[bytes]) -> None:
        asyncio.get_running_loop().remove_reader(pidfd)
        os.close(pidfd)
        popen.wait()
        if popen is self._popen:
            self._pidfd = -1
            self._lost()

    def _lost(self) -> None:
        """The spawner is gone (or being stopped): kill what it held, fail waiting spawns, maybe restart."""
        loop = asyncio.get_running_loop()
        was_running = self.alive
        if self._sock is not None:
            loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
        self.instance = None
        self.pid = None
        for reply in self._pending.values():
            if not reply.done():
                reply.set_exception(BrokenPipeError(errno.EPIPE, "the spawner exited"))
        if self._hello is not None and not self._hello.done():
            self._hello.set_exception(BrokenPipeError(errno.EPIPE, "the spawner exited before it was ready"))
        for proc in list(self.running.values()):
            self._kill_orphaned(proc)
        if was_running and not self._stopping:
            log.warning("the job spawner exited; its jobs were killed, starting a new one")
            if self.restart:
                self.restarts += 1
                self._starting = asyncio.create_task(self._restart())

    async def _restart(self) -> None:
        try:
            await self.start()
        except Exception:
            log.exception("could not restart the job spawner; the next spawn will try again")

    def _kill_orphaned(self, proc: SpawnerProcess) -> None:
        """A job whose spawner died: SIGKILL its group and token carriers, resolve once its leader is gone."""
        self.running.pop(proc.pid, None)
        proc.signal_tree(signal.SIGKILL)
        if proc._pidfd < 0:
            self._resolve(proc, -signal.SIGKILL)
            return
        asyncio.get_running_loop().add_reader(proc._pidfd, self._resolve, proc, -signal.SIGKILL)


def cleanup_recorded(
    pgids: Iterable[int],
    *,
    sweep_orphans: bool = True,
    uids: Collection[int] | None = None,
    owner: str | None = None,
) -> list[int]:
    """SIGKILL process groups that a previous server recorded as running, and (``sweep_orphans``) every
    process carrying a job token of a spawner that no longer lives. Call at start, before accepting work.

    A group is killed only when it still looks like one of our jobs: every live member runs as one of
    ``uids`` (default: ours; pass the job user's too, see ``security.job_env.job_uids``), the group is its own
    session (jobs are session leaders), and some member carries a job token. Our own process, its ancestors
    and its descendants are never touched. Returns the pids signalled.

    ``owner``: this state dir's instance id (``jobs.instance_lock``). With it, a recorded group is killed only
    if none of its tokens names another instance (a token without an owner, from an older server, still
    counts as ours: the group came from our registry), and the sweep kills only processes whose token names
    ``owner``: another live instance's jobs, and old tokens of unknown owner, are left alone. Without it
    (older callers), every token of a dead spawner is swept, whoever it belongs to."""
    table = scan_processes()
    owners = frozenset(uids) if uids is not None else frozenset({os.getuid()})
    me = os.getpid()
    protected = {me} | descendants(table, me)
    cursor = me
    while cursor in table and cursor > 1:
        cursor = table[cursor].ppid
        protected.add(cursor)
    killed: list[int] = []
    for pgid in set(pgids):
        members = [s for s in table.values() if s.pgrp == pgid and s.live]
        if pgid <= 1 or not members or any(m.pid in protected for m in members):
            continue
        if any(not owned_by(m.pid, owners) or m.session != pgid for m in members):
            continue
        tokens = [token for m in members if (token := environ_token(m.pid))]
        if not tokens:
            continue
        if owner is not None and any(parse_token(token)[0] not in (None, owner) for token in tokens):
            continue  # the pgid was reused by a job of another instance
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGKILL)
            killed.extend(m.pid for m in members)
    if sweep_orphans:
        alive_instances: dict[str, bool] = {}
        for stat in table.values():
            if not stat.live or stat.pid in protected or stat.pid in killed or not owned_by(stat.pid, owners):
                continue
            token = environ_token(stat.pid)
            if not token:
                continue
            token_owner, instance = parse_token(token)
            if instance is None or (owner is not None and token_owner != owner):
                continue
            if instance not in alive_instances:
                alive_instances[instance] = instance_id(int(instance.split("-")[0])) == instance
            if not alive_instances[instance]:
                with contextlib.suppress(OSError):
                    os.kill(stat.pid, signal.SIGKILL)
                    killed.append(stat.pid)
    return killed


