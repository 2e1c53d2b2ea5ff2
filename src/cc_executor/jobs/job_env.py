"""What a job inherits from the server: the one place that decides a job's environment and its user.

Why: the server's own configuration is none of a job's business and part of it is secret: ``CC_EXECUTOR_*``
(the token first among them, the state directory, limits, hook settings) and ``REDIS_URL`` (the history
store, which may carry a password). A job that starts another CC Executor or its tests would also silently
pick the settings up. So every job, and the spawner that starts them, gets the *base environment*: the
server's minus those names and minus whatever the operator lists in ``CC_EXECUTOR_JOB_ENV_EXCLUDE``. Generic
names the server also reads (``DEBUG``, ``LOG_LEVEL``, ``DEFAULT_PORT`` ...) are left alone: user programs use
them for their own purposes. Names are compared ignoring case, as the settings are read ignoring case.

A job running as the server's user can still read what that user can (the token file, other jobs' logs);
``CC_EXECUTOR_JOB_USER`` runs every job as another account so that it cannot (see docs/security.md).
"""

from __future__ import annotations

import functools
import os
import pwd
import re
from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase

from .prctl import _prctl
from .spawner_main import TOKEN_ENV, JobUser

SERVER_ENV_PREFIX = "CC_EXECUTOR_"
# Set for each job by the spawner (how its processes are found); never a server setting.
JOB_ENV_KEEP = frozenset({TOKEN_ENV})
# Settings the server reads without the prefix that can hold a credential (timing/settings.py: the Redis URL,
# ``redis://:password@host``). Every other unprefixed setting (config.py) is a plain knob.
SECRET_NAMES = frozenset({"REDIS_URL"})
# How the server was started, not what a job should see: under ``make run`` a job's own ``make`` would take
# itself for a sub-make of the server's (``make[1]: Entering directory …``, the server's -j and flags).
LAUNCHER_NAMES = frozenset({"MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES"})
EXCLUDE_ENV = "CC_EXECUTOR_JOB_ENV_EXCLUDE"
JOB_USER_ENV = "CC_EXECUTOR_JOB_USER"
# Make common runtimes write as they go instead of in 4 KiB blocks at exit.
STREAMING_ENV = {
    "PYTHONUNBUFFERED": "1",
    "PYTHONIOENCODING": "utf-8",
    "NODE_NO_READLINE": "1",
}
PR_SET_DUMPABLE = 4
PR_GET_DUMPABLE = 3


def parse_exclude(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"AWS_*, MY_SECRET"`` (or a list of such) -> upper-cased names and ``fnmatch`` globs, blanks dropped."""
    if value is None:
        return ()
    parts = value.split(",") if isinstance(value, str) else [p for item in value for p in str(item).split(",")]
    return tuple(dict.fromkeys(part.strip().upper() for part in parts if part.strip()))


def is_server_only(name: str, exclude: Iterable[str] = ()) -> bool:
    """True for a name no job may inherit: a server setting, a server secret, make's hand-down from how the
    server was started, or one the operator excluded."""
    upper = name.upper()
    if upper in JOB_ENV_KEEP:
        return False
    if upper.startswith(SERVER_ENV_PREFIX) or upper in SECRET_NAMES or upper in LAUNCHER_NAMES:
        return True
    return any(fnmatchcase(upper, pattern) for pattern in exclude)


def _exclude_of(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The operator's exclusions as ``environ`` itself sets them (the variable is read ignoring case)."""
    return parse_exclude(next((v for k, v in environ.items() if k.upper() == EXCLUDE_ENV), None))


def server_only_names(environ: Mapping[str, str], exclude: Iterable[str] | None = None) -> tuple[str, ...]:
    """The names in ``environ`` to drop from every job's environment (and the spawner's). ``exclude`` None:
    the patterns of ``CC_EXECUTOR_JOB_ENV_EXCLUDE`` in ``environ``."""
    patterns = _exclude_of(environ) if exclude is None else parse_exclude(exclude)
    return tuple(name for name in environ if is_server_only(name, patterns))


def base_environ(environ: Mapping[str, str], exclude: Iterable[str] | None = None) -> dict[str, str]:
    """The server's environment minus its settings and secrets: what the spawner runs with, and where every
    job's environment starts."""
    drop = set(server_only_names(environ, exclude))
    return {name: value for name, value in environ.items() if name not in drop}


JOB_ID_ENV = "CC_EXECUTOR_JOB_ID"
LABEL_ENV_PREFIX = "CC_EXECUTOR_LABEL_"
_NOT_IN_A_NAME = re.compile(r"[^A-Z0-9_]")


def job_identity(job_id: str, labels: Mapping[str, str]) -> dict[str, str]:
    """What a job is told about itself, so a program inside it (a Claude Code hook, a script) can tell which job
    it runs in: ``CC_EXECUTOR_JOB_ID`` and each label as ``CC_EXECUTOR_LABEL_<NAME>`` (upper case, anything but
    letters, digits and ``_`` as ``_``). A label whose value holds a NUL (no environment can carry it) is left
    out."""
    identity = {JOB_ID_ENV: job_id}
    for name, value in labels.items():
        key = _NOT_IN_A_NAME.sub("_", name.upper())
        if key.strip("_") and "\0" not in value:
            identity[LABEL_ENV_PREFIX + key] = value
    return identity


def job_environ(
    environ: Mapping[str, str],
    overrides: Mapping[str, str],
    unset: Iterable[str] = (),
    *,
    exclude: Iterable[str] | None = None,
    user: JobUser | None = None,
    identity: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """A job's environment: the base environment minus ``unset`` (names a hook removed), with HOME, USER and
    LOGNAME of the job user when there is one, the streaming defaults, the request's own variables (the
    client's explicit choice wins over the server's), and the job's ``identity`` last: no request can make a
    job believe it is another."""
    env = base_environ(environ, exclude)
    for name in unset:
        env.pop(name, None)
    if user is not None:
        env.update(HOME=user.home, USER=user.name, LOGNAME=user.name)
    env.update(STREAMING_ENV)
    env.update(overrides)
    env.update(identity or {})
    return env


@functools.lru_cache(maxsize=8)
def resolve_job_user(value: str) -> JobUser:
    """``"nobody"`` or ``"65534"`` -> its uid, primary gid, supplementary groups and home (an account must
    exist: its primary group and home come from it). Raises ValueError naming the value otherwise."""
    text = value.strip()
    try:
        entry = pwd.getpwuid(int(text)) if text.isdigit() else pwd.getpwnam(text)
    except (KeyError, OverflowError, ValueError):
        raise ValueError(f"no such user {text!r}") from None
    groups = tuple(os.getgrouplist(entry.pw_name, entry.pw_gid))
    return JobUser(entry.pw_name, entry.pw_uid, entry.pw_gid, groups, entry.pw_dir)


def job_user_of(value: str | None) -> JobUser | None:
    """The resolved job user for a ``CC_EXECUTOR_JOB_USER`` value, None when jobs run as the server's user."""
    return resolve_job_user(value) if value else None


def job_uids(value: str | None) -> frozenset[int]:
    """The uids a job's processes may run as: ours, and the job user's (for cleanup after a crash)."""
    user = job_user_of(value)
    return frozenset({os.getuid()} | ({user.uid} if user is not None else set()))


def job_user_refusal(value: str | None, euid: int) -> str | None:
    """Why a server running as ``euid`` cannot honour ``CC_EXECUTOR_JOB_USER``, or None when it can:
    only root may switch a child to another user."""
    if not value or euid == 0:
        return None
    return (
        f"{JOB_USER_ENV}={value} needs the server to run as root (it runs as uid {euid}), because only root"
        " can start jobs as another user; unset it or start the server as root"
    )


def protect_server_process() -> bool:
    """Mark the server non-dumpable when it does not run as root, so jobs of the same user can neither read
    its ``/proc/<pid>/environ`` and memory nor ptrace it (the token, the Redis URL). Returns whether it did.
    For root it changes nothing: a root job has CAP_SYS_PTRACE, and a job of another user cannot read a
    root process anyway. Children re-gain the flag when they exec (the spawner holds no secret)."""
    if os.geteuid() == 0:
        return False
    _prctl(PR_SET_DUMPABLE, 0)
    return True


def is_dumpable() -> bool:
    """The calling process's dumpable flag (``PR_GET_DUMPABLE``)."""
    return _prctl(PR_GET_DUMPABLE) != 0
