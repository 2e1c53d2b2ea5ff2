"""``control``'s verbs and what it answers for each (PROTOCOL.md): one table for the server's method, the
client's job handle, the CLI and the MCP tools."""

from __future__ import annotations

from enum import StrEnum


class ControlType(StrEnum):
    PAUSE = "PAUSE"
    RESUME = "RESUME"
    CANCEL = "CANCEL"
    SIGNAL = "SIGNAL"  # with ``signal``: a number or a name (15, "TERM", "SIGTERM")


# The ``status`` of ``control``'s result, as the original answered.
DONE: dict[ControlType, str] = {
    ControlType.PAUSE: "paused",
    ControlType.RESUME: "resumed",
    ControlType.CANCEL: "cancelled",
    ControlType.SIGNAL: "signalled",
}


def control_type(word: str) -> ControlType:
    """``"pause"`` or ``"PAUSE"`` -> ``ControlType.PAUSE``; ValueError naming the verbs for anything else."""
    try:
        return ControlType(word.upper())
    except ValueError:
        raise ValueError(f"type must be {', '.join(t.value for t in ControlType)}") from None
