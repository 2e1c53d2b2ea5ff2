"""``cc-executor serve``: start the server."""

from __future__ import annotations

import argparse
import atexit
import logging
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # loaded when the server starts, not for every ``cc-executor --help`` (start-up time)
    from ..config import Settings
    from ..jobs.instance_lock import InstanceLock

from .daemon import log_to_file, remove_pid_file, start_daemon, write_pid_file

log = logging.getLogger("cc_executor.serve")

# Held for the life of the process (the kernel drops it at exit, however the process ends).
_instance_lock: InstanceLock | None = None


def ws_url(host: str, port: int) -> str:
    """``ws://host:port/ws/mcp`` (an IPv6 address in brackets)."""
    from ..config import WS_PATH

    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"ws://{shown}:{port}{WS_PATH}"


def usage_hint() -> str:
    """How to use the server from another shell: the command by name when it is on PATH, else by its path."""
    here = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    found = shutil.which("cc-executor")
    if found or here is None or here.name != "cc-executor":
        return 'Use it from another shell: cc-executor run "echo hello"   (cc-executor stop ends it)'
    return (
        f'Use it from another shell: {here} run "echo hello"   ({here.parent} is not on your PATH;'
        " `make install` puts cc-executor there)"
    )


def take_instance_lock(settings: Settings) -> InstanceLock:
    """One instance per state dir: the lock is taken before the spawner, the registry, the token file or the
    leftover cleanup are touched; a live holder makes this raise ``InstanceLocked`` (docs/reliability.md)."""
    from ..jobs.instance_lock import InstanceLock

    global _instance_lock
    lock = InstanceLock.acquire(settings.state_dir)  # the dir exists: prepare_state_dir ran first
    lock.write(url=ws_url(settings.host, settings.port), mode="cc-executor serve")
    _instance_lock = lock
    return lock


def serve(args: argparse.Namespace) -> int:
    from ..config import ConfigError, load_settings
    from ..jobs.instance_lock import InstanceLocked
    from ..jobs.job_env import job_user_refusal, protect_server_process
    from ..jobs.state_dir import StateDirError, not_writable, prepare_state_dir
    from ..security.redact import RedactingFilter
    from ..security.token_file import TokenFileError
    from ..server.app import create_app, run_app
    from ..server.bind_policy import UnsafeBindError
    from ..server.ws_protocol import FrameBatchProtocol

    overrides = {}
    if args.host is not None:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    try:
        settings = load_settings(**overrides)
    except ConfigError as exc:
        print(f"cc-executor: {exc}", file=sys.stderr)
        return 2
    if args.daemon:
        return start_daemon(args, settings)
    if args.log_file:
        log_to_file(Path(args.log_file))
    refusal = job_user_refusal(settings.job_user, os.geteuid())
    if refusal is not None:
        print(f"cc-executor: {refusal}", file=sys.stderr)
        return 2
    # Before anything else: same-user jobs must not read this process's environment or memory (docs/security.md).
    protected = protect_server_process()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    redactor = RedactingFilter()
    redactor.install()
    if protected:
        log.debug("server marked non-dumpable: same-user processes cannot read its environment or memory")
    try:  # writable and user-only, before anything writes there (docs/reliability.md, "Start-up on bad state")
        prepare_state_dir(settings.state_dir, settings.jobs_dir)
    except StateDirError as exc:
        print(f"cc-executor: {exc}", file=sys.stderr, flush=True)
        return 2
    try:
        take_instance_lock(settings)
    except InstanceLocked as exc:
        print(f"cc-executor: {exc}; not starting a second server on it", file=sys.stderr, flush=True)
        return 2
    except OSError as exc:
        print(f"cc-executor: {not_writable(settings.state_dir, exc)}", file=sys.stderr, flush=True)
        return 2
    try:
        settings = _secure(settings, no_auth=args.no_auth)
    except (UnsafeBindError, TokenFileError) as exc:
        print(f"cc-executor: {exc}", file=sys.stderr)
        return 2
    redactor.add_secret(settings.token)
    app = create_app(settings)
    print(
        f"CC Executor listening on {ws_url(settings.host, settings.port)} (state in {settings.state_dir})\n"
        f"{usage_hint()}",
        file=sys.stderr,
        flush=True,
    )
    write_pid_file(settings.state_dir)
    atexit.register(remove_pid_file, settings.state_dir)
    # Uvicorn shuts down gracefully on SIGTERM/SIGINT, then restores the previous handlers and re-raises the
    # signal. With these no-op handlers in place the re-raise does nothing, so a clean shutdown exits 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    # Not uvicorn.run: run_app lets attached clients receive their jobs' last events before sockets close.
    started = run_app(
        app,
        host=settings.host,
        port=settings.port,
        ws=FrameBatchProtocol,  # uvicorn's websockets-sansio, plus sending many frames with one write
        ws_max_size=settings.ws_max_size,
        # Compressing every frame cost more than half the server's CPU on output floods (bench/); websocketd
        # does not compress either, and job output on loopback gains nothing from it.
        ws_per_message_deflate=False,
        ws_ping_interval=settings.ws_ping_interval,
        ws_ping_timeout=settings.ws_ping_timeout,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=5,
        access_log=settings.debug,
        log_config=None,  # keep the handlers configured above, with their redacting filter
    )
    return 0 if started else 3  # 3: what uvicorn.run exits with when the server never started


def _secure(settings: Settings, *, no_auth: bool) -> Settings:
    """Apply the authentication policy: a token unless ``--no-auth`` on loopback (see docs/security.md)."""
    from ..security.token_file import ensure_state_dir, ensure_token
    from ..server.bind_policy import check_auth_bind

    ensure_state_dir(settings.state_dir)
    warning = check_auth_bind(settings.host, auth_enabled=not no_auth)
    if warning:
        log.warning(warning)
    if no_auth:
        if settings.token:
            log.warning("--no-auth given: CC_EXECUTOR_TOKEN is ignored")
        return settings.model_copy(update={"token": None})
    info = ensure_token(settings.state_dir, settings.token)
    if info.path is not None:
        where = "generated and stored in" if info.source == "generated" else "read from"
        print(
            f"Authentication token {where} {info.path} (mode 0600). Clients of this user on this machine find it"
            " there; others send it as 'Authorization: Bearer <token>' or '?token=<token>'.",
            file=sys.stderr,
            flush=True,
        )
    return settings.model_copy(update={"token": info.token})


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("serve", help="start the server")
    parser.add_argument("--host", default=None, help="address to bind (default 127.0.0.1, or CC_EXECUTOR_HOST)")
    parser.add_argument("--port", type=int, default=None, help="port (default 8003, or DEFAULT_PORT)")
    parser.add_argument(
        "--no-auth",
        action="store_true",
        help="accept connections without a token (loopback addresses only; anyone on this machine can then run"
        " commands as you)",
    )
    parser.add_argument(
        "--daemon",
        action="store_true",
        help="start in the background and return once it answers; its log goes to --log-file (default "
        "<state dir>/server.log), its pid to <state dir>/server.pid; `cc-executor stop` ends it",
    )
    parser.add_argument("--log-file", default=None, metavar="PATH", help="append the server's log to PATH")
    parser.set_defaults(func=serve)
