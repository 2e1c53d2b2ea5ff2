"""The one error the allow-list raises, shared by the parser walk and the public check."""

from __future__ import annotations


class CommandNotAllowed(Exception):
    """A command was refused by policy; ``offending`` is the part of the text that caused it."""

    def __init__(self, message: str, offending: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.offending = offending
        self.reason = reason or message  # the message without the offending text

    def __str__(self) -> str:
        return self.message


def refuse(reason: str, offending: str) -> CommandNotAllowed:
    """Build a refusal whose message always names the offending part, so a client can fix its command."""
    shown = offending if len(offending) <= 120 else offending[:117] + "..."
    return CommandNotAllowed(f"{reason}: {shown!r}", offending, reason)
