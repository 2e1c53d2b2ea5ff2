"""Log redaction: the token, secret-looking parameters and environment values never reach a log's output."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from cc_executor.security.redact import MASK, RedactingFilter, redact_text

TOKEN = "tok_Zq8-very-secret-value"


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO, RedactingFilter]]:
    """A logger under a parent whose handler carries the filter, as the server installs it (on handlers)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    parent = logging.getLogger("redact_test")
    parent.handlers = [handler]
    parent.setLevel(logging.DEBUG)
    parent.propagate = False
    redactor = RedactingFilter()
    redactor.install(parent)
    redactor.add_secret(TOKEN)
    yield logging.getLogger("redact_test.child"), stream, redactor
    parent.handlers = []


def test_token_in_message_args_and_urls(captured: tuple[logging.Logger, io.StringIO, RedactingFilter]) -> None:
    log, out, _ = captured
    log.info("token is %s", TOKEN)
    log.info("GET /ws/mcp?token=%s HTTP/1.1", "abc123def")
    log.info("headers %s", {"authorization": f"Bearer {TOKEN}"})
    log.info("auth header: Authorization: Basic dXNlcjpwYXNz")
    text = out.getvalue()
    assert TOKEN not in text and "abc123def" not in text and "dXNlcjpwYXNz" not in text
    assert text.count(MASK) == 4


def test_environment_values(captured: tuple[logging.Logger, io.StringIO, RedactingFilter]) -> None:
    log, out, _ = captured
    log.info("starting job: %s", "OPENAI_API_KEY=sk-1 FOO='a b' BAR=\"c d\" python run.py --x=1")
    log.info("spec %s", json.dumps({"command": "make", "env": {"lower_name": "s3cr3t", "N": "v2"}}))
    log.info("spec %r", {"env": {"db": "s3cr3t2"}, "cwd": "/tmp"})
    log.info("environ %s", {"HOME_DIR": "/root/secretdir"})
    log.info("list %s", ["AWS_SECRET=xyz", "PLAIN"])
    text = out.getvalue()
    for secret in ("sk-1", "a b", "c d", "s3cr3t", "v2", "s3cr3t2", "/root/secretdir", "xyz"):
        assert secret not in text, secret
    assert "python run.py --x=1" in text  # lower-case option values are not environment values
    assert "make" in text and "/tmp" in text and "PLAIN" in text
    assert "OPENAI_API_KEY=" in text and "lower_name" in text  # names stay, values go


def test_exceptions_are_redacted(captured: tuple[logging.Logger, io.StringIO, RedactingFilter]) -> None:
    log, out, _ = captured
    try:
        raise RuntimeError(f"bad token {TOKEN} with SECRET_X=hunter2")
    except RuntimeError:
        log.exception("failed")
    text = out.getvalue()
    assert "RuntimeError" in text and TOKEN not in text and "hunter2" not in text


def test_record_shape_survives_for_formatters_that_unpack_args() -> None:
    """uvicorn's access formatter unpacks record.args; redacting must keep the tuple when it can."""
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/ws/mcp?token=abcdefgh", "1.1", 101),
        None,
    )
    assert RedactingFilter().filter(record)
    assert isinstance(record.args, tuple) and record.args[2] == f"/ws/mcp?token={MASK}"


def test_a_format_string_split_from_its_value_is_still_caught() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "FOO=%s", ("bar",), None)
    RedactingFilter().filter(record)
    assert record.getMessage() == f"FOO={MASK}"


def test_redaction_is_idempotent_and_leaves_plain_text() -> None:
    once = redact_text(f"A=1 'B': 'x' Bearer q token=t {TOKEN}", [TOKEN])
    assert redact_text(once, [TOKEN]) == once
    plain = "job 3f2a exited with code 0 after 1.5s (a == b)"
    assert redact_text(plain) == plain
