"""What a job does when it stalls (no output for ``idle_timeout``): tell (notify) or, after ``max_stalls``
stalls in a row, end ``cancelled`` (cancel). See docs/protocol.md. Apart from ``params`` so the command line
can offer the choices without loading pydantic."""

from __future__ import annotations

from typing import Literal

StallAction = Literal["notify", "cancel"]
STALL_ACTIONS: tuple[StallAction, ...] = ("notify", "cancel")
