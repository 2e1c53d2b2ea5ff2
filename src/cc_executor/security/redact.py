"""A logging filter that keeps secrets and environment values out of log records.

Why: the server logs commands and job specs, and those carry ``KEY=value`` assignments and ``env`` objects
whose values are often credentials; uvicorn's access log carries ``?token=``. The filter rewrites each record
once (message, arguments and traceback text) before any handler formats it. Attach it to *handlers*: a
filter on a logger does not see records propagated from its child loggers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MASK = "[REDACTED]"

# token=..., api_key=..., db_password=... in query strings, command lines and reprs (any case).
_SECRET_PARAM = re.compile(r"(?i)\b([\w-]*(?:token|key|secret|password|passwd|pwd))=(?!\[REDACTED\])[^&\s'\",;)\]}]+")
# Authorization: Bearer xxx / Basic xxx.
_AUTH_HEADER = re.compile(r"(?i)\b(bearer|basic)\s+(?!\[REDACTED\])[A-Za-z0-9._~+/=-]+")
# Shell-style environment assignments: FOO=bar, FOO="b a r", FOO='x' (upper-case names, as environments use).
_ENV_ASSIGN = re.compile(r"""\b([A-Z_][A-Z0-9_]*)=(?!=|\[REDACTED\])("(?:\\.|[^"\\])*"|'[^']*'|[^\s'",;)\]}]+)""")
# JSON / repr pairs whose key looks like an environment variable: "FOO": "bar", 'FOO': 'bar'.
_ENV_PAIR = re.compile(r"""(["'])([A-Z_][A-Z0-9_]*)\1(\s*:\s*)("(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*')""")
# An "env" object, whatever its keys look like: "env": {...}, 'env': {...}, env={...}.
_ENV_OBJECT = re.compile(r"""((?:["']env["']\s*:|\benv\s*=)\s*)\{([^{}]*)\}""")
_ANY_VALUE = re.compile(r"""(:\s*)("(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*')""")


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with the given secrets, secret-looking parameters and environment values masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    text = _ENV_OBJECT.sub(lambda m: m.group(1) + "{" + _ANY_VALUE.sub(rf"\1'{MASK}'", m.group(2)) + "}", text)
    text = _ENV_PAIR.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(1)}{m.group(3)}'{MASK}'", text)
    text = _AUTH_HEADER.sub(rf"\1 {MASK}", text)
    text = _SECRET_PARAM.sub(rf"\1={MASK}", text)
    return _ENV_ASSIGN.sub(rf"\1={MASK}", text)


class RedactingFilter(logging.Filter):
    """Rewrites every record it sees so that formatted output holds no secret; never drops a record."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets: set[str] = {s for s in secrets if s}
        self._formatter = logging.Formatter()

    def add_secret(self, secret: str | None) -> None:
        """Also mask ``secret`` (e.g. the token, once it is known)."""
        if secret:
            self._secrets.add(secret)

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = sorted(self._secrets, key=len, reverse=True)
        self._redact_message(record, secrets)
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info, secrets)
        return True

    @staticmethod
    def _redact_message(record: logging.LogRecord, secrets: list[str]) -> None:
        """Redact the arguments one by one, keeping their shape (uvicorn's access formatter unpacks them);
        if the assembled message still holds something to mask, replace it with the masked text."""
        if isinstance(record.args, tuple):
            record.args = tuple(redact_text(a, secrets) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, Mapping):
            record.args = {k: redact_text(v, secrets) if isinstance(v, str) else v for k, v in record.args.items()}
        message = record.getMessage()
        masked = redact_text(message, secrets)
        if masked != message:
            record.msg = masked
            record.args = None

    def install(self, *loggers: logging.Logger) -> None:
        """Add this filter to every handler of ``loggers`` (the root logger when none is given)."""
        for logger in loggers or (logging.getLogger(),):
            for handler in logger.handlers:
                if self not in handler.filters:
                    handler.addFilter(self)


# A setting named like this holds a secret: its value is never shown (``server.config``, the doctor).
_SECRET_SETTING = re.compile(r"(?i)(token|password|passwd|secret|api_?key)")


def redact_url_password(text: str) -> str:
    """A URL with its password masked (``redis://user:[REDACTED]@host:6379/0``, ``?password=[REDACTED]``); any
    other text as is."""
    if "://" not in text:
        return text
    text = redact_text(text)  # secret-named query parameters
    if "@" not in text:
        return text
    try:
        parts = urlsplit(text)
        password, host, port = parts.password, parts.hostname, parts.port
    except ValueError:  # not a URL after all (or a bad port): mask everything before the host
        return MASK
    if password is None:
        return text
    host = f"[{host}]" if host and ":" in host else host or ""  # an IPv6 address keeps its brackets
    netloc = f"{parts.username or ''}:{MASK}@{host}" + (f":{port}" if port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def redact_values(value: Any, name: str = "") -> Any:
    """A JSON-like value (settings, a report) with every secret-named entry masked and URL passwords masked."""
    if isinstance(value, dict):
        return {key: redact_values(item, str(key)) for key, item in value.items()}
    if isinstance(value, list):
        return [redact_values(item, name) for item in value]
    if isinstance(value, str):
        return MASK if _SECRET_SETTING.search(name) else redact_url_password(value)
    return value
