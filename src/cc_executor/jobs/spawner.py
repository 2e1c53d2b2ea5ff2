"""The server's side of the spawner: start it, ask it for jobs, and cope when it dies.

Jobs are started by a separate sub-reaper process (``spawner_main``) so that no job process outlives the
server, even one that left its group with ``setsid`` or double-forked, and even when the server is SIGKILLed.
``Spawner.spawn`` returns the same ``SpawnedProcess`` interface as ``process.spawn`` (a subclass whose
signalling also reaches the job's escapees), so a ``Job`` does not know the difference.

If the spawner itself dies, the client kills every job group it still knows (and every process carrying a
job's token), resolves their exit futures with -SIGKILL, and starts a new spawner. See docs/reliability.md.

The spawner is started with the base environment (``jobs.job_env.base_environ``), not the server's: a job
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

from .job_env import base_environ
from .proc_table import live_group_members
from .process import (
    EXHAUSTION_ERRNOS,
    SpawnedProcess,
    SpawnExhausted,
    exhaustion_message,
    fd_limit,
)
from .spawner_main import (
    INLINE_LIMIT,
    JobUser,
    descendants,
    environ_token,
    instance_id,
    job_processes,
    memfd_header,
    owned_by,
    parse_token,
    read_stat,
    recv_message,
    scan_processes,
)
from .waits import wake

log = logging.getLogger(__name__)

Rlimits = Mapping[str, tuple[int, int]]

# A spawn that meets a dying spawner is sent again to its successor, this many times in all.
SPAWN_ATTEMPTS = 3
# A spawn the spawner never answers (a lost request) fails after this long instead of waiting forever.
REPLY_TIMEOUT = 30.0


class SpawnerDied(BrokenPipeError):
    """The spawner went away while a spawn was being sent or answered: worth trying its successor."""


class SpawnerUnavailable(OSError):
    """No spawner could take the job (it kept dying, could not be restarted, or did not answer)."""

    def __str__(self) -> str:
        return str(self.strerror)


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
        """(group members, escapees); when /proc cannot be read (out of fds), what signals alone can tell:
        the group, if it answers, and no escapee."""
        try:
            return self._find_escapees()
        except OSError:
            return ([self.pgid] if self.signal_group(0) else []), []

    def _find_escapees(self) -> tuple[list[int], list[int]]:
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
            # Popen, not asyncio's subprocess: the spawner must outlive this loop, and stop() polls its exit.
            popen = subprocess.Popen(  # noqa: S603, ASYNC220 - our own interpreter and module
                [
                    self.python,
                    "-m",
                    "cc_executor.jobs.spawner_main",
                    "--fd",
                    str(theirs.fileno()),
                    "--parent",
                    str(os.getpid()),
                ],
                stdin=subprocess.DEVNULL,
                env=self.env if self.env is not None else base_environ(os.environ),
                pass_fds=(theirs.fileno(),),
                start_new_session=True,  # a terminal's Ctrl-C is for the server to handle, not the spawner
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        try:
            pidfd = os.pidfd_open(popen.pid)
        except OSError:  # out of fds: a spawner we cannot watch is of no use, and must not linger
            ours.close()
            popen.kill()
            popen.wait()
            raise
        self._popen = popen
        ours.setblocking(False)
        self._sock = ours
        self._pidfd = pidfd
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
            while popen.poll() is None and loop.time() < deadline:  # noqa: ASYNC110 - a Popen has no exit event
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

    async def _ready(self) -> None:
        """A live spawner, (re)started if need be; what failed, said in words, if none can be had."""
        try:
            await self._ensure_started()
        except OSError as exc:
            if exc.errno in EXHAUSTION_ERRNOS:
                raise SpawnExhausted(
                    exc.errno, exhaustion_message(exc.errno, "the server", fd_limit(), "could not start the spawner")
                ) from exc
            raise SpawnerUnavailable(errno.EAGAIN, f"the job spawner could not be (re)started: {exc}") from exc

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
        OSError when it cannot (``SpawnExhausted`` when something ran out, ``SpawnerUnavailable`` when no spawner
        could take it). A spawn that meets a dying spawner is sent to the next one: the dead one's unanswered
        jobs are killed first (``_lost``), so the command does not run twice."""
        for attempt in range(1, SPAWN_ATTEMPTS + 1):
            if self._stopping:
                raise BrokenPipeError(errno.EPIPE, "the spawner is stopped")
            await self._ready()
            try:
                return await self._spawn_once(
                    shell, command, cwd=cwd, env=env, stdin_pipe=stdin_pipe, rlimits=rlimits, user=user
                )
            except SpawnerDied as exc:
                if self._stopping:
                    raise
                log.info("the job spawner died during a spawn (attempt %d of %d)", attempt, SPAWN_ATTEMPTS)
                last = exc
        raise SpawnerUnavailable(
            errno.EPIPE, f"the job spawner died {SPAWN_ATTEMPTS} times while this job was being started ({last})"
        )

    async def _spawn_once(
        self,
        shell: str,
        command: str,
        *,
        cwd: str | None,
        env: Mapping[str, str],
        stdin_pipe: bool,
        rlimits: Rlimits | None,
        user: JobUser | None,
    ) -> SpawnedProcess:
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
            try:
                return await asyncio.wait_for(reply, REPLY_TIMEOUT)
            except TimeoutError:  # a late answer finds no caller and its job is killed (``_dispatch``)
                raise SpawnerUnavailable(
                    errno.ETIMEDOUT, f"the job spawner did not answer within {REPLY_TIMEOUT:g} s"
                ) from None
        finally:
            self._pending.pop(request_id, None)

    def _adopt(self, message: dict[str, Any], fds: list[int]) -> SpawnerProcess:
        """Track a job the moment it is reported: its exit may be the very next message."""
        pid = int(message["pid"])  # everything that can fail comes before the fds change hands
        token = str(message["token"])
        uid = int(message.get("uid", os.getuid()))
        stdin_fd = fds[3] if len(fds) > 3 else None
        proc = SpawnerProcess(
            pid,
            pid,
            fds[0],
            fds[1],
            stdin_fd,
            asyncio.get_running_loop().create_future(),
            _pidfd=fds[2],
            token=token,
            uid=uid,
            _instance=self.instance,
            _client=self,
        )
        self.running[pid] = proc
        return proc

    async def _send(self, message: dict[str, Any]) -> None:
        data = json.dumps(message).encode()
        fds: list[int] = []
        if len(data) > INLINE_LIMIT:  # too big for one datagram: hand over a memfd holding it
            try:
                memfd = os.memfd_create("cc-executor-spawn", os.MFD_CLOEXEC)
            except OSError as exc:
                code = exc.errno or errno.EMFILE
                raise SpawnExhausted(code, exhaustion_message(code, "the server", fd_limit())) from exc
            with os.fdopen(memfd, "wb", closefd=False) as handle:
                handle.write(data)
            data, fds = memfd_header(int(message["id"])), [memfd]
        loop = asyncio.get_running_loop()
        try:
            async with self._send_lock:
                while True:
                    sock = self._sock
                    if sock is None:
                        raise SpawnerDied(errno.EPIPE, "the spawner exited")
                    try:
                        if fds:
                            socket.send_fds(sock, [data], fds)
                        else:
                            sock.send(data)
                        return
                    except (BrokenPipeError, ConnectionResetError) as exc:
                        # The spawner is dead but its end has not been noticed yet: notice it now.
                        if sock is self._sock:
                            self._lost()
                        raise SpawnerDied(errno.EPIPE, "the spawner exited") from exc
                    except BlockingIOError:
                        writable = loop.create_future()
                        loop.add_writer(sock.fileno(), wake, writable)
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
            if not self._receive_one(self._sock):
                return

    def _receive_one(self, sock: socket.socket) -> bool:
        """Read and handle one message; False when none is waiting or the spawner is gone (then ``_lost``
        has run). Nothing raised here may escape: a reply left unhandled is a request left unanswered."""
        try:
            data, fds, flags = recv_message(sock, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return False
        except OSError:
            data, fds, flags = b"", [], 0
        if not data and not fds:
            if sock is self._sock:
                self._lost()
            return False
        try:
            message = json.loads(data)
            if not isinstance(message, dict):
                raise TypeError("not an object")
        except (ValueError, TypeError):
            self._close_fds(fds)
            log.warning("ignored an unreadable message from the job spawner")
            return True
        try:
            self._dispatch(message, fds, truncated=bool(flags & socket.MSG_CTRUNC))
        except Exception as exc:  # noqa: BLE001 - a malformed message: fail its request, keep the connection
            log.warning("could not handle a %r message from the job spawner: %r", message.get("op"), exc)
            self._close_fds(fds)
            reply = self._pending.get(message.get("id") or 0)
            if reply is not None and not reply.done():
                reply.set_exception(OSError(errno.EPROTO, f"unreadable reply from the job spawner: {exc!r}"))
        return True

    @staticmethod
    def _close_fds(fds: Iterable[int]) -> None:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)

    def _dispatch(self, message: dict[str, Any], fds: list[int], truncated: bool = False) -> None:
        """Handle one message. ``truncated``: the kernel could not give us every fd attached to it (our fd
        table was full, MSG_CTRUNC); the ones that did arrive are in ``fds`` and are closed here."""
        op = message.get("op")
        if op == "hello" and self._hello is not None and not self._hello.done():
            self._hello.set_result(message)
        elif op in ("spawned", "error"):
            reply = self._pending.get(message.get("id") or 0)
            expected = int(message.get("fds", 3))
            complete = not truncated and len(fds) >= max(expected, 3)
            if op == "spawned" and (reply is None or reply.done() or not complete):
                # Nobody will watch this job (the caller gave up), or it cannot be watched (its pipes did not
                # arrive): end it. Its exit report then finds no job, which is fine.
                with contextlib.suppress(OSError, KeyError, ValueError, TypeError):
                    os.killpg(int(message["pid"]), signal.SIGKILL)
                self._close_fds(fds)
                if reply is not None and not reply.done():
                    reply.set_exception(
                        SpawnExhausted(
                            errno.EMFILE,
                            exhaustion_message(
                                errno.EMFILE,
                                "the server",
                                fd_limit(),
                                f"the spawner's reply arrived with {len(fds)} of its {expected} fds",
                            ),
                        )
                    )
            elif op == "spawned":
                assert reply is not None
                reply.set_result(self._adopt(message, fds))
            else:
                self._close_fds(fds)
                if reply is not None and not reply.done():
                    reply.set_exception(self._spawn_error(message))
        elif op == "exit":
            proc = self.running.pop(int(message["pid"]), None)
            if proc is not None:
                proc.cpu_time = float(message["cpu"])
                self._resolve(proc, os.waitstatus_to_exitcode(int(message["status"])))

    @staticmethod
    def _spawn_error(message: dict[str, Any]) -> OSError:
        """The OSError for a spawner's ``error`` reply; when something ran out there, one that says so."""
        code = int(message["errno"])
        if code in EXHAUSTION_ERRNOS:
            limit = message.get("limit")
            return SpawnExhausted(code, exhaustion_message(code, "the spawner", int(limit) if limit else None))
        filename = message.get("filename")
        args = (filename,) if filename is not None else ()
        return OSError(code, str(message["message"]), *args)

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
        dead_instance = self.instance
        sock, self._sock = self._sock, None
        if sock is not None:
            loop.remove_reader(sock.fileno())
            # Replies it sent before dying are still queued: a job it reported is adopted (and killed below
            # with the rest), not started a second time by the retry of its spawn.
            with contextlib.suppress(OSError):
                while self._receive_one(sock):
                    pass
            sock.close()
        self.instance = None
        self.pid = None
        unanswered = False
        for reply in self._pending.values():
            if not reply.done():
                unanswered = True
                reply.set_exception(SpawnerDied(errno.EPIPE, "the spawner exited"))
        if self._hello is not None and not self._hello.done():
            self._hello.set_exception(BrokenPipeError(errno.EPIPE, "the spawner exited before it was ready"))
        reason = None if self._stopping or not self.running else self._death_reason()
        for proc in list(self.running.values()):
            if reason is not None and proc.end_reason is None:
                proc.end_reason = reason
            self._kill_orphaned(proc)
        if unanswered and dead_instance is not None and not self._stopping:
            # A spawn it may have started but not reported: nothing holds that job, and its retry is coming.
            self._sweep_instance(dead_instance)
        if was_running and not self._stopping:
            log.warning("the job spawner exited; its jobs were killed, starting a new one")
            if self.restart:
                self.restarts += 1
                self._starting = asyncio.create_task(self._restart())

    def _death_reason(self) -> str:
        """Why jobs of a spawner that just died ended, with its exit status when known."""
        popen = self._popen
        code = popen.poll() if popen is not None else None
        if code is None and popen is not None:
            # EOF can come a moment before the process is reapable; a dying process does not take long.
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = popen.wait(0.2)
        if code is None:
            how = ""
        elif code < 0:
            try:
                how = f" (signal {-code}, {signal.Signals(-code).name})"
            except ValueError:
                how = f" (signal {-code})"
        else:
            how = f" (exit status {code})"
        return f"the spawner process died{how}; the job's process tree was killed with it"

    def _sweep_instance(self, instance: str) -> None:
        """SIGKILL every process carrying a token of the (dead) spawner ``instance``."""
        uids = {os.getuid()} | {proc.uid for proc in self.running.values()}
        try:
            table = scan_processes()
        except OSError:
            return
        for stat in table.values():
            if not stat.live or stat.pid == os.getpid() or not owned_by(stat.pid, uids):
                continue
            token = environ_token(stat.pid)
            if token and parse_token(token)[1] == instance:
                with contextlib.suppress(OSError):
                    os.kill(stat.pid, signal.SIGKILL)

    async def _restart(self) -> None:
        try:
            await self.start()
        except OSError as exc:  # e.g. out of fds: expected under load, no traceback
            log.warning("could not restart the job spawner (%s); the next spawn will try again", exc)
        except Exception:
            log.exception("could not restart the job spawner; the next spawn will try again")

    def _kill_orphaned(self, proc: SpawnerProcess) -> None:
        """A job whose spawner died: SIGKILL its group and token carriers, resolve once its leader is gone."""
        self.running.pop(proc.pid, None)
        try:
            proc.signal_tree(signal.SIGKILL)
        except OSError:  # /proc unreadable: the group at least
            proc.signal_group(signal.SIGKILL)
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
    ``uids`` (default: ours; pass the job user's too, see ``jobs.job_env.job_uids``), the group is its own
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
