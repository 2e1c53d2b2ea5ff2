"""The one error the allow-list raises, shared by the parser walk and the public check: the protocol's
``CommandNotAllowed`` (-32002), with the offending part of the text kept apart for the policy's own use."""

from __future__ import annotations

from ..protocol.errors import CommandNotAllowed


class PolicyRefusal(CommandNotAllowed):
    """A command was refused by policy; ``offending`` is the part of the text that caused it (also in ``data``,
    which is what the client gets), ``reason`` the message without it."""

    def __init__(self, message: str, offending: str, reason: str | None = None) -> None:
        super().__init__(message, {"offending": offending})
        self.offending = offending
        self.reason = reason or message


def refuse(reason: str, offending: str) -> PolicyRefusal:
    """Build a refusal whose message always names the offending part, so a client can fix its command."""
    shown = offending if len(offending) <= 120 else offending[:117] + "..."
    return PolicyRefusal(f"{reason}: {shown!r}", offending, reason)
