"""Job notifications: signed JSON webhooks and local command notifiers, delivered with retries from an outbox.

The server calls ``Notifier.publish`` on job events (started, ended, stalled, rate_limited, budget, permission);
deliveries are retried with backoff and survive restarts (``outbox``), and ``Notifier.list`` shows their state.
This package knows nothing of the WebSocket/JSON-RPC layer; the server wires it in.
"""

from __future__ import annotations

from .events import (
    ALL_EVENTS,
    BUDGET,
    ENDED,
    PERMISSION,
    RATE_LIMITED,
    STALLED,
    STARTED,
    Target,
    parse_targets,
)
from .notifier import Notifier
from .settings import NotifySettings
from .signing import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, signature, verify

__all__ = [
    "ALL_EVENTS",
    "BUDGET",
    "DELIVERY_HEADER",
    "ENDED",
    "EVENT_HEADER",
    "PERMISSION",
    "RATE_LIMITED",
    "SIGNATURE_HEADER",
    "STALLED",
    "STARTED",
    "Notifier",
    "NotifySettings",
    "Target",
    "parse_targets",
    "signature",
    "verify",
]
