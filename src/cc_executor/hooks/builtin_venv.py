"""Built-in ``venv`` hook: run the job inside the project's virtualenv, as if it had been activated."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

VENV_NAMES = (".venv", "venv")


def find_venv(start: str) -> Path | None:
    """The nearest ``.venv`` (or ``venv``) with a ``pyvenv.cfg`` in ``start`` or one of its parents."""
    here = Path(start).resolve()
    for directory in (here, *here.parents):
        for name in VENV_NAMES:
            candidate = directory / name
            if (candidate / "pyvenv.cfg").is_file() and (candidate / "bin").is_dir():
                return candidate
    return None


def venv_answer(cwd: str, env: dict[str, str]) -> dict[str, Any]:
    """The hook's answer: an env rewrite like ``source .venv/bin/activate``, or nothing when no venv is found."""
    venv = find_venv(cwd)
    if venv is None:
        return {}
    bin_dir = str(venv / "bin")
    path = env.get("PATH") or os.environ.get("PATH", "")
    rest = [part for part in path.split(os.pathsep) if part and part != bin_dir]
    return {"env": {"VIRTUAL_ENV": str(venv), "PATH": os.pathsep.join([bin_dir, *rest]), "PYTHONHOME": None}}
