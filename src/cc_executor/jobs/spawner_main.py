"""The spawner: a small single-threaded child of the server that starts every job and outlives none of them.

Why a separate process: a process group alone lets a job survive a server SIGKILL, and a descendant that calls
``setsid`` leaves the group. The spawner is a child sub-reaper, so every orphan of every job is re-parented to
it (and reaped by it: no zombie lingers), and it kills everything below it when the server goes away, seen
either as EOF on its control socket or as its parent-death signal. Run as
``python -m cc_executor.jobs.spawner_main --fd N --parent PID``; it imports the standard library only.

Control protocol: one JSON object per SOCK_SEQPACKET message. The server sends ``spawn`` requests (a request
too large for one message comes as a memfd attached to it); the spawner answers ``spawned`` (with the parent's
pipe ends and a pidfd of the leader attached) or ``error``, and later reports each leader's ``exit``.

The /proc helpers at the end are shared with the server-side client: a job's processes are its group, the
descendants of its leader, and any process carrying the job's token in its environment (an adopted escapee).
So is ``start_job``, the one way a job leader is started (here or directly by the server): its identity
(``CC_EXECUTOR_JOB_USER``), its cwd and its resource limits are applied in the forked child, before exec.
"""

from __future__ import annotations

import argparse
import array
import errno
import json
import os
import resource
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .prctl import set_child_subreaper, set_parent_death_signal

TOKEN_ENV = "CC_EXECUTOR_JOB_TOKEN"
INLINE_LIMIT = 64 * 1024  # larger requests travel in a memfd
RECV_SIZE = INLINE_LIMIT + 4096
MAX_FDS = 4
KILL_ALL_TIMEOUT = 3.0


def recv_message(sock: socket.socket, flags: int = 0) -> tuple[bytes, list[int], int]:
    """One datagram and the fds attached to it (``socket.recv_fds`` drops ``flags`` in Python 3.11)."""
    fds = array.array("i")
    data, ancdata, msg_flags, _ = sock.recvmsg(RECV_SIZE, socket.CMSG_SPACE(MAX_FDS * fds.itemsize), flags)
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    return data, list(fds), msg_flags


# -- /proc ------------------------------------------------------------------------------------------


@dataclass(slots=True)
class ProcStat:
    pid: int
    state: str
    ppid: int
    pgrp: int
    session: int
    starttime: int

    @property
    def live(self) -> bool:
        return self.state not in ("Z", "X")


def read_stat(pid: int) -> ProcStat | None:
    """The fields we need from ``/proc/<pid>/stat`` (the command name may hold spaces and parentheses)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read()
    except OSError:
        return None
    fields = raw[raw.rindex(b")") + 2 :].split(b" ")
    # state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
    # priority nice num_threads itrealvalue starttime ...
    return ProcStat(pid, fields[0].decode(), int(fields[1]), int(fields[2]), int(fields[3]), int(fields[19]))


def scan_processes() -> dict[int, ProcStat]:
    """Every process visible in /proc, by pid."""
    table: dict[int, ProcStat] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            stat = read_stat(int(entry.name))
            if stat is not None:
                table[stat.pid] = stat
    return table


def descendants(table: dict[int, ProcStat], root: int) -> set[int]:
    """Pids below ``root`` in the parent tree of ``table``."""
    children: dict[int, list[int]] = {}
    for stat in table.values():
        children.setdefault(stat.ppid, []).append(stat.pid)
    found: set[int] = set()
    stack = list(children.get(root, ()))
    while stack:
        pid = stack.pop()
        if pid not in found:
            found.add(pid)
            stack.extend(children.get(pid, ()))
    return found


def environ_token(pid: int) -> str | None:
    """The job token in a process's initial environment, or None (gone, not ours to read, or no token)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    marker = TOKEN_ENV.encode() + b"="
    for item in data.split(b"\0"):
        if item.startswith(marker):
            return item[len(marker) :].decode(errors="replace")
    return None


def job_processes(
    pgid: int, leader: int, token: str, root: int | None, uids: Collection[int] | None = None
) -> tuple[list[int], list[int]]:
    """Live processes of one job as (group members, escapees). Escapees left the group: they are descendants
    of the leader, or carry the job's token; only descendants of ``root`` (the spawner) are considered, or
    every process owned by one of ``uids`` (default: ours; add the job user's) when ``root`` is None (the
    spawner is gone and its adoptees with it)."""
    table = scan_processes()
    members = [s.pid for s in table.values() if s.pgrp == pgid and s.live]
    under_leader = descendants(table, leader) if leader in table else set()
    candidates: Iterable[int] = descendants(table, root) if root is not None else table.keys()
    owners = frozenset(uids) if uids is not None else frozenset({os.getuid()})
    escapees = []
    for pid in candidates:
        stat = table.get(pid)
        if stat is None or not stat.live or stat.pgrp == pgid or pid == os.getpid():
            continue
        # A descendant of the leader, or a process we may judge that carries the job's token.
        if pid in under_leader or ((root is not None or owned_by(pid, owners)) and environ_token(pid) == token):
            escapees.append(pid)
    return members, escapees


def owned_by(pid: int, uids: Collection[int]) -> bool:
    """Whether ``pid`` runs as one of ``uids`` (jobs run as the server's user, or as CC_EXECUTOR_JOB_USER)."""
    try:
        return os.stat(f"/proc/{pid}").st_uid in uids
    except OSError:
        return False


def job_token(owner: str | None, spawner: str, serial: int) -> str:
    """A job's ``CC_EXECUTOR_JOB_TOKEN``: ``<owner>:<spawner>-<serial>``, where ``owner`` is the state dir's
    instance id (``jobs.instance_lock``) and ``spawner`` the spawner's ``pid-starttime``; without an owner, the
    older ``<spawner>-<serial>``."""
    base = f"{spawner}-{serial}"
    return f"{owner}:{base}" if owner else base


def parse_token(token: str) -> tuple[str | None, str | None]:
    """(owner instance id or None for an old token, the spawner's ``pid-starttime`` or None if malformed)."""
    owner, sep, rest = token.rpartition(":")
    if not sep:
        owner, rest = "", token
    if rest.count("-") < 2:
        return (owner or None), None
    spawner = rest.rsplit("-", 1)[0]
    pid = spawner.split("-", 1)[0]
    return (owner or None), (spawner if pid.isdigit() else None)


def instance_id(pid: int) -> str | None:
    """``pid-starttime``: names one spawner for as long as it lives, never a later process reusing the pid."""
    stat = read_stat(pid)
    return f"{pid}-{stat.starttime}" if stat is not None and stat.live else None


# -- the spawner process ----------------------------------------------------------------------------


@dataclass
class SpawnerState:
    sock: socket.socket
    instance: str
    leaders: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    serial: int = 0
    stopping: bool = False


def _send(state: SpawnerState, message: dict[str, Any], fds: list[int] | None = None) -> None:
    data = json.dumps(message).encode()
    try:
        if fds:
            socket.send_fds(state.sock, [data], fds)
        else:
            state.sock.send(data)
    except OSError:
        state.stopping = True  # the server is gone


def _send_error(state: SpawnerState, request_id: Any, code: int, message: str | None, filename: Any) -> None:
    """Answer a spawn request with a failure; ``limit`` (our fd limit) lets the server say what ran out."""
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    _send(
        state,
        {"op": "error", "id": request_id, "errno": code, "message": message, "filename": filename, "limit": limit},
    )


def rlimit_setter(rlimits: Mapping[str, Sequence[int]]) -> Callable[[], None]:
    """A ``preexec_fn`` applying ``{"RLIMIT_AS": (soft, hard)}`` in the forked child (names are checked here,
    so the child only makes system calls). The one place a job's limits are applied, spawner or not."""
    limits = []
    for name, (soft, hard) in rlimits.items():
        if not name.startswith("RLIMIT_") or not hasattr(resource, name):
            raise ValueError(f"unknown resource limit {name!r}")
        limits.append((getattr(resource, name), (int(soft), int(hard))))

    def apply() -> None:  # runs in the forked child of a single-threaded parent
        for res, value in limits:
            resource.setrlimit(res, value)

    return apply


@dataclass(frozen=True, slots=True)
class JobUser:
    """The account every job runs as (``CC_EXECUTOR_JOB_USER``), resolved once in the server, so the forked
    child only makes system calls (no passwd lookup between fork and exec)."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JobUser:
        return cls(
            str(data["name"]),
            int(data["uid"]),
            int(data["gid"]),
            tuple(int(g) for g in data["groups"]),
            str(data["home"]),
        )


def _setup_error(code: int, step: str, user: JobUser | None, cwd: str | None) -> OSError:
    """The OSError a caller sees when the child could not become the job user, enter its cwd or set limits."""
    reason = os.strerror(code) if code else "failed"
    if step == "cwd" and user is not None:
        return OSError(code, f"the job user {user.name} (uid {user.uid}) cannot use this cwd: {reason}", cwd)
    if step == "rlimits":
        return OSError(code, f"could not apply the job's resource limits: {reason}")
    who = f"{user.name} (uid {user.uid})" if user is not None else "?"
    return OSError(code, f"could not switch to the job user {who} ({step}): {reason}")


def start_job(
    argv: Sequence[str],
    *,
    cwd: str | None,
    env: Mapping[str, str],
    stdin_pipe: bool,
    rlimits: Mapping[str, Sequence[int]] | None = None,
    user: JobUser | None = None,
) -> subprocess.Popen[bytes]:
    """Start a job leader in a new session with piped output. With ``user``, the child drops to that user
    (setgroups, setgid, setuid), *then* enters its cwd, so a cwd the user may not enter fails the start
    instead of being entered with the server's rights; without a cwd it runs in the server's cwd when the user
    may enter it, else in the user's home, else in ``/``. Failures of these steps raise an OSError saying
    which step failed (``preexec_fn`` alone would only say "Exception occurred in preexec_fn")."""
    stdin = subprocess.PIPE if stdin_pipe else subprocess.DEVNULL
    common: dict[str, Any] = {
        "env": dict(env),
        "stdin": stdin,
        "stdout": subprocess.PIPE,
        "stderr": subprocess.PIPE,
        "start_new_session": True,
        "close_fds": True,
    }
    set_limits = rlimit_setter(rlimits) if rlimits else None
    if user is None and set_limits is None:  # nothing to do in the child: keep subprocess's fast path
        return subprocess.Popen(list(argv), cwd=cwd, **common)  # noqa: S603 - running the command is the product
    places: tuple[str, ...] = ()
    if user is not None:
        if cwd is not None:
            places = (cwd,)
        else:
            try:
                places = (os.getcwd(), user.home, "/")
            except OSError:  # our own cwd was removed
                places = (user.home, "/")
    groups = list(user.groups) if user is not None else []
    report_r, report_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)

    def apply() -> None:  # in the forked child, before exec: system calls only
        step = "setgroups"
        try:
            if user is not None:
                os.setgroups(groups)
                step = "setgid"
                os.setgid(user.gid)
                step = "setuid"
                os.setuid(user.uid)
                step = "cwd"
                for index, place in enumerate(places):
                    try:
                        os.chdir(place)
                        break
                    except OSError:
                        if index == len(places) - 1:
                            raise
            step = "rlimits"
            if set_limits is not None:
                set_limits()
        except OSError as exc:
            os.write(report_w, f"{exc.errno or 0} {step}".encode())
            raise

    try:
        return subprocess.Popen(  # noqa: S603 - running the client's command is the product
            list(argv),
            cwd=cwd if user is None else None,  # with a user, the cwd is entered after the switch, in apply()
            preexec_fn=apply,  # noqa: PLW1509 - the spawner is single-threaded; the direct path accepts it
            **common,
        )
    except subprocess.SubprocessError:
        try:
            report = os.read(report_r, 256).decode().split(" ", 1)
        except BlockingIOError:
            report = []
        if len(report) != 2:
            raise
        raise _setup_error(int(report[0]), report[1], user, cwd) from None
    finally:
        os.close(report_r)
        os.close(report_w)


def _spawn(state: SpawnerState, request: dict[str, Any]) -> None:
    state.serial += 1
    owner = request.get("owner")
    token = job_token(str(owner) if owner else None, state.instance, state.serial)
    try:
        env = dict(request["env"])
        env[TOKEN_ENV] = token
        user = JobUser.from_json(request["user"]) if request.get("user") else None
        popen = start_job(
            request["argv"],
            cwd=request.get("cwd"),
            env=env,
            stdin_pipe=bool(request.get("stdin")),
            rlimits=request.get("rlimits"),
            user=user,
        )
    except (OSError, ValueError, TypeError, KeyError, subprocess.SubprocessError) as exc:
        if isinstance(exc, OSError) and exc.errno:
            _send_error(state, request.get("id"), exc.errno, exc.strerror, exc.filename)
        else:
            _send_error(state, request.get("id"), errno.EINVAL, str(exc), None)
        return
    assert popen.stdout is not None and popen.stderr is not None
    # Opened before we can reap the leader, so it names this process and never a later one with its pid.
    try:
        pidfd = os.pidfd_open(popen.pid)
    except OSError as exc:  # out of fds after the fork: a leader we cannot hand over must not run on
        try:
            os.killpg(popen.pid, signal.SIGKILL)
        except OSError:
            pass
        for stream in (popen.stdin, popen.stdout, popen.stderr):
            if stream is not None:
                stream.close()
        popen.wait()
        _send_error(state, request.get("id"), exc.errno or errno.EMFILE, exc.strerror or "pidfd_open failed", None)
        return
    fds = [popen.stdout.fileno(), popen.stderr.fileno(), pidfd]
    if popen.stdin is not None:
        fds.append(popen.stdin.fileno())
    state.leaders[popen.pid] = popen
    uid = user.uid if user is not None else os.getuid()
    _send(
        state,
        {"op": "spawned", "id": request["id"], "pid": popen.pid, "token": token, "uid": uid, "fds": len(fds)},
        fds,
    )
    os.close(pidfd)
    for stream in (popen.stdin, popen.stdout, popen.stderr):
        if stream is not None:
            stream.close()


def memfd_header(request_id: int) -> bytes:
    """The datagram sent with a request that travels in a memfd: it names the request, so the request can
    still be answered when its memfd does not arrive (the spawner was out of fds)."""
    return json.dumps({"op": "memfd", "id": request_id}).encode()


def _header_id(data: bytes) -> Any:
    """The request id in a datagram, or None when it names none."""
    try:
        message = json.loads(data)
    except ValueError:
        return None
    return message.get("id") if isinstance(message, dict) else None


def _read_request(data: bytes, fds: list[int]) -> dict[str, Any]:
    try:
        request: dict[str, Any] = {"op": "memfd"} if data == b"memfd" else json.loads(data)
        if request.get("op") == "memfd" and fds:
            with os.fdopen(fds[0], "rb", closefd=False) as handle:
                handle.seek(0)
                request = json.loads(handle.read())
        return request
    finally:
        for fd in fds:
            os.close(fd)


def _handle_control(state: SpawnerState) -> None:
    """Serve every request waiting on the control socket; EOF means the server is gone."""
    while not state.stopping:
        try:
            data, fds, flags = recv_message(state.sock, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return
        except OSError:
            state.stopping = True
            return
        if not data and not fds:
            state.stopping = True
            return
        if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
            for fd in fds:
                os.close(fd)
            # MSG_CTRUNC: a memfd did not fit in our fd table. Answer, or the server would wait for nothing.
            if flags & socket.MSG_CTRUNC and not flags & socket.MSG_TRUNC:
                request_id = _header_id(data)
                if request_id is not None:
                    _send_error(state, request_id, errno.EMFILE, "the request's memfd did not arrive", None)
            continue
        try:
            request = _read_request(data, fds)
        except (OSError, ValueError):
            continue  # a malformed request must not take every running job down with the spawner
        if request.get("op") == "spawn":
            try:
                _spawn(state, request)
            except Exception as exc:  # noqa: BLE001 - a bug here must not take every running job down with the spawner
                _send_error(state, request.get("id"), errno.EINVAL, f"{type(exc).__name__}: {exc}", None)


def _reap(state: SpawnerState) -> None:
    """Wait for every exited child (leaders and adopted orphans); report the leaders' ends."""
    while True:
        try:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        popen = state.leaders.pop(pid, None)
        if popen is None:
            continue
        popen.returncode = os.waitstatus_to_exitcode(status)
        _send(state, {"op": "exit", "pid": pid, "status": status, "cpu": usage.ru_utime + usage.ru_stime})


def kill_everything(state: SpawnerState) -> None:
    """SIGKILL every job group and every process below us (adopted escapees included), until none is left."""
    for pid in list(state.leaders):
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
    deadline = time.monotonic() + KILL_ALL_TIMEOUT
    me = os.getpid()
    while True:
        try:
            table = scan_processes()
        except OSError:  # out of fds: give back the control socket (we are exiting) and look once more
            try:
                state.sock.close()
                table = scan_processes()
            except OSError:
                table = {}  # the leaders' groups were killed above; nothing more can be found
        live = [pid for pid in descendants(table, me) if table[pid].live]
        for pid in live:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        _reap(state)
        if not live or time.monotonic() > deadline:
            return
        time.sleep(0.005)


def serve(sock: socket.socket, parent: int) -> None:
    """The spawner's loop: requests in, reaping on SIGCHLD, everything killed when the server goes."""
    instance = instance_id(os.getpid()) or str(os.getpid())
    state = SpawnerState(sock, instance)

    def on_stop(signum: int, frame: object) -> None:
        state.stopping = True

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGHUP, on_stop)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    set_parent_death_signal(signal.SIGTERM)
    if os.getppid() != parent:  # the server died before the death signal was armed
        return
    set_child_subreaper()
    selector = selectors.DefaultSelector()  # before hello: once the server hears it, we need no new fd to serve
    selector.register(sock, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    _send(state, {"op": "hello", "pid": os.getpid(), "instance": instance})
    try:
        while not state.stopping:
            for key, _ in selector.select():
                if key.fd == wake_r:
                    try:
                        while os.read(wake_r, 512):
                            pass
                    except BlockingIOError:
                        pass
                else:
                    _handle_control(state)
            _reap(state)
    finally:
        kill_everything(state)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cc_executor.jobs.spawner_main")
    parser.add_argument("--fd", type=int, required=True, help="the control socket (SOCK_SEQPACKET)")
    parser.add_argument("--parent", type=int, required=True, help="the server's pid")
    args = parser.parse_args(argv)
    sock = socket.socket(fileno=args.fd)
    serve(sock, args.parent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
