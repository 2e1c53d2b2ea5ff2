"""Dispatch of ``{"type": "builtin"}`` hooks; their blocking file work runs in a thread, off the loop."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from .builtin_metrics import append_metrics
from .builtin_venv import venv_answer
from .config_model import BuiltinHook


async def run_builtin(hook: BuiltinHook, event: dict[str, Any], env: dict[str, str], state_dir: Path) -> dict[str, Any]:
    """Return the builtin's answer in the same shape as a command hook's JSON stdout."""
    if hook.name == "venv":
        return await asyncio.to_thread(venv_answer, event.get("cwd") or ".", env)
    if hook.name == "metrics":
        directory = Path(hook.dir).expanduser() if hook.dir else state_dir  # noqa: ASYNC240 - $HOME or a passwd lookup
        await asyncio.to_thread(append_metrics, directory, event)
        return {}
    raise ValueError(f"unknown builtin {hook.name!r}")
