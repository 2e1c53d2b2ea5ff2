"""The state directory checked at start: it must be writable, and it is kept user-only (0700).

Why here and early: a state directory the server cannot write would otherwise fail half-way through start-up
(the token, the registry, the first job's log) with a traceback; a directory others can enter exposes every
job's output and the registry. So start-up checks both before anything else writes there (docs/reliability.md,
"Start-up on bad state").
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import stat
from pathlib import Path

log = logging.getLogger(__name__)


class StateDirError(Exception):
    """The state directory cannot be used; the message is one line naming the directory and the reason."""


def prepare_state_dir(state_dir: Path, *subdirs: Path) -> None:
    """Create ``state_dir`` (and ``subdirs``, e.g. the jobs dir) user-only, check that each is writable, and
    tighten any that others may enter to 0700 (one warning each). Raises ``StateDirError`` when one cannot be
    created or written."""
    for directory in (Path(state_dir), *map(Path, subdirs)):
        _ensure_dir(directory)
        _check_writable(directory)
        _tighten(directory)


def _reason(exc: OSError) -> str:
    return exc.strerror or errno.errorcode.get(exc.errno or 0, "") or str(exc)


def _ensure_dir(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise StateDirError(f"state directory {directory} cannot be created: {_reason(exc)}") from None
    if not directory.is_dir():
        raise StateDirError(f"state directory {directory} is not a directory")


def _check_writable(directory: Path) -> None:
    """Create and remove a file: the only test that holds for root too (root passes every permission check,
    but not a read-only mount or an immutable directory)."""
    probe = directory / f".write-check.{os.getpid()}.{secrets.token_hex(4)}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise not_writable(directory, exc) from None
    os.close(fd)
    try:
        probe.unlink()
    except OSError as exc:
        raise StateDirError(f"state directory {directory} is not writable: {_reason(exc)}") from None


def not_writable(directory: Path, exc: OSError) -> StateDirError:
    """The one-line error for a state directory this user cannot create files in."""
    return StateDirError(
        f"state directory {directory} is not writable: {_reason(exc)} "
        "(point CC_EXECUTOR_STATE_DIR at a directory this user can write)"
    )


def _tighten(directory: Path) -> None:
    mode = stat.S_IMODE(directory.stat().st_mode)
    if not mode & 0o077:
        return
    try:
        os.chmod(directory, 0o700)
    except OSError as exc:
        log.warning(
            "state directory %s has mode %04o (others may enter it) and could not be tightened: %s",
            directory,
            mode,
            _reason(exc),
        )
        return
    log.warning("state directory %s had mode %04o (others could enter it); tightened it to 0700", directory, mode)
