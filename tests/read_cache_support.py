"""A fixture that runs a test file's log tests twice: reading the file line by line, and through a read cache.

Every log built in a test run under ``read cache`` gets one shared ``ReadCache`` (as a manager's logs do), so
the same assertions (entries, problems, damaged files and sidecars) hold for the cached block path
(``OutputLog._read_blocks``) and for the line-by-line reader behind it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cc_executor.jobs.output_log import OutputLog
from cc_executor.jobs.read_cache import ReadCache


@pytest.fixture(autouse=True, params=["file", "read cache"])
def read_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[ReadCache | None]:
    if request.param == "file":
        yield None
        return
    cache = ReadCache(1 << 22)
    plain = OutputLog.__init__

    def with_cache(self: OutputLog, *args: Any, **kwargs: Any) -> None:
        plain(self, *args, **kwargs)
        if self.read_cache is None:
            self.read_cache = cache

    monkeypatch.setattr(OutputLog, "__init__", with_cache)
    yield cache
