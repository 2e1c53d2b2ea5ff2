"""Finds the hooks file that applies to a job and re-reads it when it changes, so no restart is needed."""

from __future__ import annotations

import os
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

from .config_model import HooksConfig, HooksConfigError, parse_hooks_config
from .settings import HooksSettings

PROJECT_FILE = Path(".cc-executor") / "hooks.json"


def untrusted_reason(path: Path) -> str | None:
    """Why a project hooks file (found in a job's cwd) may not run as the server, or None when it may.

    Hooks run as the server's user, so a file a job could have written (another owner, or writable by others,
    or in a folder writable by others) would let a job (e.g. one run as ``CC_EXECUTOR_JOB_USER``) run commands
    as the server. The file and its ``.cc-executor`` folder must belong to the server's user (or root) and be
    writable by nobody else."""
    me = os.geteuid()
    for item in (path, path.parent):
        try:
            st = item.lstat()
        except OSError as exc:
            return f"cannot stat {item}: {exc.strerror or exc}"
        if stat.S_ISLNK(st.st_mode):
            return f"{item} is a symbolic link"
        if st.st_uid not in (me, 0):
            return f"{item} belongs to uid {st.st_uid}, not to the server's user"
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return f"{item} is writable by group or others"
    return None


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """The config in force for one path. On a load error the last good config (if any) stays in force."""

    path: Path | None
    config: HooksConfig | None
    error: str | None = None


@dataclass(slots=True)
class _CacheEntry:
    stamp: tuple[int, int]
    loaded: LoadedConfig


class HooksConfigLoader:
    """Resolution order: ``hooks_file`` setting, ``<cwd>/.cc-executor/hooks.json``, ``<user dir>/hooks.json``."""

    def __init__(self, settings: HooksSettings, *, project_files: bool = True) -> None:
        """``project_files`` False: a job's cwd never supplies hooks. The server sets it under an allow-list
        when jobs run as its own user: such a job can write a trusted-looking ``.cc-executor/hooks.json`` with
        ``echo … >``, and its hook would run what the allow-list refuses."""
        self._settings = settings
        self._project_files = project_files
        self._cache: dict[Path, _CacheEntry] = {}
        self._lock = threading.Lock()  # load() runs in worker threads

    def resolve(self, cwd: str | None) -> Path | None:
        """The file that applies to a job in ``cwd``; an explicit ``hooks_file`` wins even when missing."""
        if self._settings.hooks_file is not None:
            return self._settings.hooks_file.expanduser()
        if cwd:
            project = Path(cwd) / PROJECT_FILE
            if project.is_file() and self._project_files:
                return project
        user = self._settings.user_config_dir.expanduser() / "hooks.json"
        return user if user.is_file() else None

    def load(self, cwd: str | None) -> LoadedConfig:
        """The config for a job in ``cwd``; says so (as an error) when a project file there was ignored."""
        loaded = self._load(cwd)
        if cwd and not self._project_files and loaded.error is None and (Path(cwd) / PROJECT_FILE).is_file():
            ignored = (
                f"{Path(cwd) / PROJECT_FILE}: hooks file ignored: project hooks files are off under an "
                "allow-list unless CC_EXECUTOR_JOB_USER is set (a job could have written it)"
            )
            return LoadedConfig(loaded.path, loaded.config, ignored)
        return loaded

    def _load(self, cwd: str | None) -> LoadedConfig:
        """Resolve and (re)read the file when its mtime or size changed (a few stat calls otherwise)."""
        path = self.resolve(cwd)
        if path is None:
            return LoadedConfig(None, None)
        if path.name == PROJECT_FILE.name and path.parent.name == PROJECT_FILE.parent.name:
            distrust = untrusted_reason(path)
            if distrust is not None:
                return LoadedConfig(path, None, f"{path}: hooks file ignored: {distrust}")
        try:
            st = path.stat()
        except OSError as exc:
            return LoadedConfig(path, None, f"{path}: cannot read hooks file: {exc.strerror or exc}")
        stamp = (st.st_mtime_ns, st.st_size)
        with self._lock:
            entry = self._cache.get(path)
            if entry is not None and entry.stamp == stamp:
                return entry.loaded
            previous = entry.loaded.config if entry is not None else None
            try:
                text = path.read_text(encoding="utf-8")
                loaded = LoadedConfig(path, parse_hooks_config(text, path))
            except HooksConfigError as exc:
                loaded = LoadedConfig(path, previous, str(exc))
            except (OSError, UnicodeDecodeError) as exc:
                loaded = LoadedConfig(path, previous, f"{path}: cannot read hooks file: {exc}")
            self._cache[path] = _CacheEntry(stamp, loaded)
            return loaded
