"""Every ``python`` block of docs/client.md runs as written against a real server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import ServerProcess

DOC = Path(__file__).resolve().parent.parent / "docs" / "client.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def test_doc_has_examples() -> None:
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_doc_example_runs(index: int, server: ServerProcess, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CC_EXECUTOR_URL", server.url)
    monkeypatch.delenv("CC_EXECUTOR_TOKEN", raising=False)
    monkeypatch.setenv("CC_EXECUTOR_STATE_DIR", str(tmp_path))
    code = compile(BLOCKS[index], f"{DOC}:block{index}", "exec")
    exec(code, {"__name__": f"client_doc_{index}"})
