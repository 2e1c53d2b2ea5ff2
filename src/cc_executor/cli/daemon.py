"""The server in the background: ``cc-executor serve --daemon`` starts it detached, with its log in a file and its
pid in the state dir; ``cc-executor stop`` ends it the way Ctrl-C would (SIGTERM: a graceful shutdown).

Which server runs on a state dir is what its instance lock says (``jobs/instance_lock.py``): ``stop`` signals the
lock's live holder, so it finds a server however it was started (``make run``, systemd, ``--daemon``).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import Settings

PID_FILE_NAME = "server.pid"
LOG_FILE_NAME = "server.log"
START_WAIT = 30.0  # seconds a daemon gets to answer /health before ``serve --daemon`` gives up on it
STOP_WAIT = 30.0  # seconds ``stop`` waits for the graceful shutdown (jobs' last events, the registry) to finish
LOG_TAIL_LINES = 15


def pid_file(state_dir: Path) -> Path:
    return state_dir / PID_FILE_NAME


def default_log_file(state_dir: Path) -> Path:
    return state_dir / LOG_FILE_NAME


def write_pid_file(state_dir: Path) -> Path:
    """``<state dir>/server.pid`` with this process's pid (for ``kill``, monitoring, service managers)."""
    path = pid_file(state_dir)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.write_text(f"{os.getpid()}\n", encoding="ascii")
    os.replace(temp, path)
    return path


def remove_pid_file(state_dir: Path) -> None:
    """Remove the pid file if it is still this process's (a newer server may have written its own)."""
    path = pid_file(state_dir)
    try:
        if path.read_text(encoding="ascii").strip() == str(os.getpid()):
            path.unlink()
    except OSError:
        pass


def log_to_file(path: Path) -> None:
    """Send this process's stderr (logging, uvicorn, the banner, any traceback) to ``path``, appended."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    sys.stderr.flush()
    os.dup2(fd, sys.stderr.fileno())
    os.close(fd)


def _health_url(settings: Settings) -> str:
    host = settings.host if settings.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{settings.port}/health"


def _answers(url: str) -> bool:
    """Whether an HTTP server answers at ``url`` (any status: a 401 is a live server too)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2.0):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def start_daemon(args: argparse.Namespace, settings: Settings) -> int:
    """Start ``cc-executor serve`` (these options, without ``--daemon``) detached; return once it answers."""
    import subprocess

    from ..jobs.instance_lock import describe_holder, lock_holder
    from .serve import ws_url

    holder = lock_holder(settings.state_dir)
    if holder is not None:
        print(f"cc-executor: {describe_holder(holder)} already runs on {settings.state_dir}", file=sys.stderr)
        return 2
    log_file = Path(args.log_file) if args.log_file else default_log_file(settings.state_dir)
    command = [sys.executable, "-m", "cc_executor", "serve", "--log-file", str(log_file)]
    if args.host is not None:
        command += ["--host", args.host]
    if args.port is not None:
        command += ["--port", str(args.port)]
    if args.no_auth:
        command.append("--no-auth")
    log_file.parent.mkdir(parents=True, exist_ok=True)
    started_at = log_file.stat().st_size if log_file.exists() else 0
    child = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    url, deadline = _health_url(settings), time.monotonic() + START_WAIT
    while time.monotonic() < deadline:
        code = child.poll()
        if code is not None:
            print(f"cc-executor: the server exited with code {code} while starting; from {log_file}:", file=sys.stderr)
            print(_since(log_file, started_at), file=sys.stderr, flush=True)
            return code or 1
        if (lock_holder(settings.state_dir) or {}).get("pid") == child.pid and _answers(url):
            print(
                f"CC Executor runs in the background (pid {child.pid}), listening on "
                f"{ws_url(settings.host, settings.port)}\n"
                f"  log:   {log_file}\n  pid:   {pid_file(settings.state_dir)}\n"
                f"  token: {settings.state_dir / 'token'}\n  stop it with: cc-executor stop",
                file=sys.stderr,
                flush=True,
            )
            return 0
        time.sleep(0.1)
    print(f"cc-executor: the server (pid {child.pid}) did not answer at {url} within {START_WAIT:g} s; see {log_file}")
    return 1


def _since(path: Path, offset: int) -> str:
    """What ``path`` gained after ``offset`` (this start's lines), at most the last ``LOG_TAIL_LINES``."""
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-LOG_TAIL_LINES:]) or _tail(path)


def stop(args: argparse.Namespace) -> int:
    """Signal the server holding the state dir's lock to shut down gracefully, and wait until it is gone."""
    from ..config import ConfigError, load_settings
    from ..jobs.instance_lock import lock_holder

    try:
        state_dir = load_settings().state_dir
    except ConfigError as exc:
        print(f"cc-executor: {exc}", file=sys.stderr)
        return 2
    holder = lock_holder(state_dir)
    if holder is None:
        print(f"cc-executor: no server is running on {state_dir}", file=sys.stderr)
        return 1
    pid = holder.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        print(f"cc-executor: the state dir {state_dir} is locked, but its lock file names no pid", file=sys.stderr)
        return 1
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        print(f"cc-executor: the server (pid {pid}) is already gone", file=sys.stderr)
        return 0
    except PermissionError:
        print(f"cc-executor: not allowed to signal the server (pid {pid}); it runs as another user", file=sys.stderr)
        return 1
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if lock_holder(state_dir) is None and not _alive(pid):
            print(f"cc-executor: stopped the server (pid {pid}) on {state_dir}", file=sys.stderr)
            return 0
        time.sleep(0.1)
    print(
        f"cc-executor: the server (pid {pid}) is still shutting down after {args.timeout:g} s; "
        f"`kill -9 {pid}` ends it now (its jobs' processes go with it)",
        file=sys.stderr,
    )
    return 1


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie waiting for its parent to reap it has ended)."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "stop",
        help="stop the server running on this state dir (gracefully, as Ctrl-C would)",
        description="Send SIGTERM to the server holding the state dir's lock (CC_EXECUTOR_STATE_DIR) and wait "
        "until it has shut down. Exit 1 when no server runs there.",
    )
    parser.add_argument(
        "--timeout", type=float, default=STOP_WAIT, help=f"seconds to wait for it (default {STOP_WAIT:g})"
    )
    parser.set_defaults(func=stop)
