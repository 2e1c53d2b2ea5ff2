"""The JSON a hook reads on stdin: the job's event with env values removed and output bounded."""

from __future__ import annotations

from typing import Any

BASE_KEYS = ("job_id", "command", "cwd", "env_keys", "timeout", "timeout_source")
END_KEYS = ("status", "exit_code", "duration", "output_tail")


def tail_text(value: Any, limit: int) -> str:
    """The last ``limit`` bytes of the output as text (bytes are decoded with replacement)."""
    raw = value if isinstance(value, bytes) else str(value or "").encode("utf-8", "replace")
    if len(raw) > limit:
        raw = raw[len(raw) - limit :]
        return raw.decode("utf-8", "ignore")  # drop a character cut in half at the start
    return raw.decode("utf-8", "replace")


def build_payload(
    event_name: str, event: dict[str, Any], env: dict[str, str] | None, tail_limit: int
) -> dict[str, Any]:
    """Never includes env values: only their names, as ``env_keys``."""
    payload: dict[str, Any] = {"hook_event_name": event_name}
    payload.update({k: v for k, v in event.items() if k not in ("env", "env_keys", "hook_event_name")})
    if env is None and isinstance(event.get("env"), dict):
        env = event["env"]
    payload["env_keys"] = sorted(env) if env is not None else sorted(event.get("env_keys") or [])
    keys = BASE_KEYS if event_name == "pre_execute" else BASE_KEYS + END_KEYS
    for key in keys:
        payload.setdefault(key, None)
    if event_name == "on_stall":
        payload.setdefault("idle_seconds", None)
    if "output_tail" in payload:
        payload["output_tail"] = tail_text(payload["output_tail"], tail_limit)
    return payload
