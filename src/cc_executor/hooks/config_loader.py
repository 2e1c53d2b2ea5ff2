"""Finds the hooks file that applies to a job and re-reads it when it changes, so no restart is needed."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from .config_model import HooksConfig, HooksConfigError, parse_hooks_config
from .settings import HooksSettings

PROJECT_FILE = Path(".cc-executor") / "hooks.json"


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

    def __init__(self, settings: HooksSettings) -> None:
        self._settings = settings
        self._cache: dict[Path, _CacheEntry] = {}
        self._lock = threading.Lock()  # load() runs in worker threads

    def resolve(self, cwd: str | None) -> Path | None:
        """The file that applies to a job in ``cwd``; an explicit ``hooks_file`` wins even when missing."""
        if self._settings.hooks_file is not None:
            return self._settings.hooks_file.expanduser()
        if cwd:
            project = Path(cwd) / PROJECT_FILE
            if project.is_file():
                return project
        user = self._settings.user_config_dir.expanduser() / "hooks.json"
        return user if user.is_file() else None

    def load(self, cwd: str | None) -> LoadedConfig:
        """Resolve and (re)read the file when its mtime or size changed (a few stat calls otherwise)."""
        path = self.resolve(cwd)
        if path is None:
            return LoadedConfig(None, None)
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
