"""A secret kept in a user-only file of the state directory: the server's token, the webhook signing secret.

Read: opened without following a symlink, refused when it is not a regular file or not ours, tightened to 0600
(with a warning) when others could read it. Written: to a temporary file made 0600 from the start, fsynced, then
``link()``ed into place, which never replaces a file another server has just written (the caller then reads and
adopts that one, so both servers agree with the file).
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PrivateFile:
    """How one kind of secret file is named in messages, and the error it raises."""

    what: str  # "token file"
    owner_fix: str  # what to do when the file is someone else's
    rotate_hint: str  # what to do once it was readable by others
    error: type[Exception]

    def read(self, path: Path) -> str | None:
        """The file's text without surrounding white space; None when there is no file."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self.error(f"cannot open {self.what} {path}: {exc.strerror} (a symlink is not accepted)") from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise self.error(f"{self.what} {path} is not a regular file")
            if info.st_uid != os.geteuid():
                raise self.error(
                    f"{self.what} {path} belongs to uid {info.st_uid}, not to this user (uid {os.geteuid()}); "
                    f"{self.owner_fix}"
                )
            if info.st_mode & 0o077:
                log.warning(
                    "%s %s was readable by others (mode %o); restricted it to 0600 — %s",
                    self.what,
                    path,
                    stat.S_IMODE(info.st_mode),
                    self.rotate_hint,
                )
                os.fchmod(fd, 0o600)
            with os.fdopen(fd, "r", encoding="utf-8", closefd=False) as handle:
                return handle.read().strip()
        finally:
            os.close(fd)


def write_new(path: Path, text: str) -> bool:
    """Write ``text`` (and a newline) to ``path`` atomically with mode 0600; False when ``path`` already exists."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        try:
            os.fchmod(fd, 0o600)  # the umask may only narrow it; make it exact
            os.write(fd, (text + "\n").encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        # link() rather than rename(): it never replaces a file another server has just written.
        try:
            os.link(temp, path)
        except FileExistsError:
            return False
        _fsync_dir(path.parent)
        return True
    finally:
        temp.unlink(missing_ok=True)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
