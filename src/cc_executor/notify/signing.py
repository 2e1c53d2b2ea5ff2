"""Signing webhook bodies so a receiver can tell a delivery from this server from a forged one.

The scheme is GitHub's: the header ``X-CC-Executor-Signature: sha256=<hex>`` holds the HMAC-SHA256 of the exact
request body (the bytes as received, before any JSON parsing) keyed with the shared secret's UTF-8 bytes.
A receiver recomputes it and compares in constant time (``verify`` below does both)::

    expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    ok = hmac.compare_digest(expected, request.headers["X-CC-Executor-Signature"])

The body carries ``delivery_id`` (also in ``X-CC-Executor-Delivery``) and is byte-identical on every retry, so a
receiver that keeps the ids it has seen drops replays and duplicate retries alike.

The secret is ``CC_EXECUTOR_WEBHOOK_SECRET`` when set; else it is generated once into
``<state dir>/webhook_secret`` (mode 0600, written atomically like the server's token file), where the operator
reads it to configure receivers. The key is the file's text without its trailing newline.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from pathlib import Path

from ..security.private_file import PrivateFile, write_new
from ..security.token_file import ensure_state_dir

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-CC-Executor-Signature"
DELIVERY_HEADER = "X-CC-Executor-Delivery"
EVENT_HEADER = "X-CC-Executor-Event"
USER_AGENT = "cc-executor-webhook"

SECRET_FILE_NAME = "webhook_secret"
MIN_SECRET_LENGTH = 16
_PREFIX = "sha256="


class SecretFileError(Exception):
    """The secret file cannot be trusted or read; the message says which file and what to do."""


def signature(secret: bytes, body: bytes) -> str:
    """``"sha256=" + hex HMAC-SHA256(secret, body)``: the value of ``X-CC-Executor-Signature``."""
    return _PREFIX + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(secret: bytes, body: bytes, header: str | None) -> bool:
    """True when ``header`` is the signature of ``body`` under ``secret`` (constant-time comparison)."""
    if not header:
        return False
    return hmac.compare_digest(signature(secret, body).encode("ascii"), header.strip().encode("utf-8", "replace"))


def secret_path(state_dir: Path) -> Path:
    return Path(state_dir) / SECRET_FILE_NAME


def load_or_create_secret(state_dir: Path, configured: str | None) -> bytes:
    """The configured secret when given; else the one in ``state_dir/webhook_secret``; else a new one there."""
    if configured:
        return configured.encode("utf-8")
    path = secret_path(state_dir)
    existing = _read_checked(path)
    if existing is not None:
        return existing.encode("utf-8")
    ensure_state_dir(Path(state_dir))
    secret = secrets.token_hex(32)
    if write_new(path, secret):
        log.info("generated a new webhook signing secret in %s", path)
        return secret.encode("utf-8")
    # Another server wrote one between our read and our write: use theirs so both sign alike.
    raced = _read_checked(path)
    if raced is None:
        raise SecretFileError(f"webhook secret file {path} vanished while it was being created; start again")
    return raced.encode("utf-8")


SECRET_FILE = PrivateFile(
    "webhook secret file",
    owner_fix="remove it or set CC_EXECUTOR_WEBHOOK_SECRET",
    rotate_hint="consider rotating it (delete the file, restart, reconfigure the receivers)",
    error=SecretFileError,
)


def _read_checked(path: Path) -> str | None:
    secret = SECRET_FILE.read(path)
    if secret is not None and len(secret) < MIN_SECRET_LENGTH:
        raise SecretFileError(
            f"webhook secret file {path} holds fewer than {MIN_SECRET_LENGTH} characters; "
            "delete it to have a new one generated"
        )
    return secret
