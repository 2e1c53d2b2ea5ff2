"""The JSON body of a notification, serialised once per delivery.

Why once: the same bytes are stored in the outbox, signed and sent on every attempt (and after a restart), so
the signature always matches and a receiver can dedupe on ``delivery_id``. The form::

    {"data": {...event-specific...}, "delivery_id": "<32 hex>", "event": "ended", "job": {...job summary...},
     "job_id": "...", "time": 1700000000.123}

Keys are sorted and separators compact; values JSON cannot hold (a Path, a datetime) are sent as strings rather
than failing the publish.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def build_body(
    delivery_id: str, event: str, job_id: str, job: Mapping[str, Any], data: Mapping[str, Any], time: float
) -> bytes:
    document = {
        "delivery_id": delivery_id,
        "event": event,
        "job_id": job_id,
        "time": time,
        "job": dict(job),
        "data": dict(data),
    }
    # ensure_ascii: the body is plain ASCII, so the stored TEXT and the signed bytes can never differ.
    return json.dumps(document, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=True).encode("ascii")
