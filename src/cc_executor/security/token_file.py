"""The server's bearer token: taken from the environment, or kept in a user-only file in the state directory.

Why a file: a server that starts without ``CC_EXECUTOR_TOKEN`` still needs a secret, and local clients need to
find it without being told. The first start generates one and writes it atomically with mode 0600 (never
visible half-written, never readable by others, even for an instant); later starts reuse it. A token file
that others can read is treated as leaked-in-waiting: tightened when it is ours, refused when it is not.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .private_file import PrivateFile, write_new

log = logging.getLogger(__name__)

TOKEN_FILE_NAME = "token"
MIN_TOKEN_LENGTH = 8

TokenSource = Literal["env", "file", "generated"]


class TokenFileError(Exception):
    """The token file cannot be trusted or read; the message says which file and what to do."""


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """The token in force, the file it lives in (None when it came from the environment), and its origin."""

    token: str = field(repr=False)  # never shown in a log or traceback
    path: Path | None
    source: TokenSource


def token_path(state_dir: Path) -> Path:
    return Path(state_dir) / TOKEN_FILE_NAME


def tokens_equal(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison; False when either side is missing."""
    if given is None or expected is None:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def ensure_token(state_dir: Path, explicit: str | None) -> TokenInfo:
    """The explicit token when given; else the one in ``state_dir/token``; else a new one written there."""
    if explicit:
        return TokenInfo(explicit, None, "env")
    path = token_path(state_dir)
    existing = _read_checked(path)
    if existing is not None:
        return TokenInfo(existing, path, "file")
    ensure_state_dir(Path(state_dir))
    token = secrets.token_urlsafe(32)
    if write_new(path, token):
        log.info("generated a new server token in %s", path)
        return TokenInfo(token, path, "generated")
    # Another server wrote one between our read and our write: use theirs, so both agree with the file.
    raced = _read_checked(path)
    if raced is None:
        raise TokenFileError(f"token file {path} vanished while it was being created; start again")
    return TokenInfo(raced, path, "file")


def read_token(state_dir: Path) -> str | None:
    """For clients on this machine: the server's token from its state directory, or None when there is none."""
    try:
        text = token_path(state_dir).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return text.strip() or None


TOKEN_FILE = PrivateFile(
    "token file",
    owner_fix="remove it or point CC_EXECUTOR_STATE_DIR at a directory of your own",
    rotate_hint="consider rotating the token (delete the file and restart)",
    error=TokenFileError,
)


def _read_checked(path: Path) -> str | None:
    token = TOKEN_FILE.read(path)
    if token is None:
        return None
    if len(token) < MIN_TOKEN_LENGTH or any(ch.isspace() for ch in token):
        raise TokenFileError(
            f"token file {path} does not hold a usable token (at least {MIN_TOKEN_LENGTH} characters, "
            "no white space); delete it to have a new one generated"
        )
    return token


def ensure_state_dir(directory: Path) -> None:
    """Create the state directory user-only (0700); call it at start before anything else writes there.
    An existing directory is left as it is (it may be one the operator chose and shares on purpose)."""
    if directory.is_dir():
        return
    directory.parent.mkdir(parents=True, exist_ok=True)
    try:
        directory.mkdir(mode=0o700)
    except FileExistsError:
        return
    os.chmod(directory, 0o700)  # mkdir's mode is filtered by the umask; make it exact
