"""The error wordings Claude Code prints, per CLI version: the one place they are kept.

Each row is a text the CLI was seen to print for one kind of failure (``docs/claude-cli-2.1.332.md`` records
how), the pattern that recognises it, and what it means: a ``kind`` (``rate_limit``, ``overloaded``,
``server_error``, ``bad_request``, ``authentication_failed``, ``token_limit``) and the HTTP status where the
text names one. ``match_wording`` finds the row a text matches, so a plain-text run (``--output-format text``)
and the synthetic assistant message of a stream-json run are read the same way. When the pinned CLI changes,
record the new version's wordings as new rows (older rows stay: older CLIs are still out there).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Only this much of a text's start is searched: the CLI's error texts open with their wording.
_HEAD = 400


@dataclass(frozen=True, slots=True)
class Wording:
    """One error text a CLI version prints, and what it means."""

    cli_version: str
    name: str  # the mock scenario it was recorded with
    kind: str
    status: int | None
    pattern: re.Pattern[str]
    sample: str  # the text as recorded (the tests match every row against it)

    def status_in(self, match: re.Match[str]) -> int | None:
        """The status the text names (a ``status`` group), else the row's own."""
        named = match.groupdict().get("status")
        return int(named) if named else self.status


_GATEWAY = "If it persists, check your inference gateway (127.0.0.1:PORT)."

WORDINGS: tuple[Wording, ...] = (
    Wording(
        "2.1.332",
        "rate_limit",
        "rate_limit",
        429,
        re.compile(r"API Error: Request rejected \((?P<status>429)\)"),
        "API Error: Request rejected (429) · This request would exceed your account's rate limit. "
        "Please try again later.",
    ),
    Wording(
        "2.1.332",
        "overloaded_repeated",
        "overloaded",
        529,
        re.compile(r"API Error: Repeated (?P<status>529) Overloaded errors"),
        "API Error: Repeated 529 Overloaded errors. The API is at capacity — this is usually temporary. "
        "Try again in a moment. " + _GATEWAY,
    ),
    Wording(
        "2.1.332",
        "overloaded",
        "overloaded",
        529,
        re.compile(r"API Error: (?P<status>529) Overloaded\b"),
        "API Error: 529 Overloaded. This is a server-side issue, usually temporary — try again in a moment. "
        + _GATEWAY,
    ),
    Wording(
        "2.1.332",
        "server_error",
        "server_error",
        500,
        re.compile(r"API Error: (?P<status>5\d\d) [A-Z][\w ]*error\b"),
        "API Error: 500 Internal server error. This is a server-side issue, usually temporary — try again in a "
        "moment. " + _GATEWAY,
    ),
    Wording(
        "2.1.332",
        "unauthorized",
        "authentication_failed",
        401,
        re.compile(r"^\s*Invalid API key\b"),
        "Invalid API key · Fix external API key",
    ),
    Wording(
        "2.1.332",
        "max_tokens",
        "token_limit",
        None,
        re.compile(r"API Error: Claude's response exceeded the \d{1,9} output token maximum"),
        "API Error: Claude's response exceeded the 128000 output token maximum. To configure this behavior, "
        "set the CLAUDE_CODE_MAX_OUTPUT_TOKENS environment variable.",
    ),
    # Last: "API Error: NNN <the API's message>" is the CLI's wording for any status it has no text of its own for.
    Wording(
        "2.1.332",
        "bad_request",
        "bad_request",
        400,
        re.compile(r"API Error: (?P<status>4\d\d) "),
        "API Error: 400 messages: mock says this request is invalid",
    ),
)


def match_wording(text: str) -> tuple[Wording, int | None] | None:
    """The first row whose pattern is in the start of ``text``, with the status it names; None: no known wording."""
    head = text[:_HEAD]
    for wording in WORDINGS:
        match = wording.pattern.search(head)
        if match is not None:
            return wording, wording.status_in(match)
    return None
