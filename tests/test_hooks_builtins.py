"""The opt-in builtins: ``venv`` (activate the project's virtualenv) and ``metrics`` (one JSON line per job)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cc_executor.hooks import HookEngine, HooksSettings
from cc_executor.hooks.builtin_venv import find_venv


def engine_with(tmp_path: Path, hooks: dict[str, Any]) -> HookEngine:
    path = tmp_path / "hooks.json"
    path.write_text(json.dumps({"hooks": hooks}))
    return HookEngine(HooksSettings(hooks_file=path), state_dir=tmp_path / "state")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with a real virtualenv made by ``python -m venv`` (without pip, to stay fast)."""
    root = tmp_path_factory.mktemp("project")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / ".venv")], check=True)
    (root / "src" / "pkg").mkdir(parents=True)
    return root


async def test_venv_builtin_activates_the_nearest_venv(project: Path, tmp_path: Path) -> None:
    engine = engine_with(tmp_path, {"pre_execute": [{"hooks": [{"type": "builtin", "name": "venv"}]}]})
    cwd = project / "src" / "pkg"
    env = {"PATH": "/usr/bin:/bin", "PYTHONHOME": "/opt/elsewhere", "KEEP": "1"}
    outcome = await engine.pre_execute({"job_id": "j", "command": "python -V", "cwd": str(cwd)}, env=env)
    assert not outcome.blocked and outcome.warnings == []
    venv = project / ".venv"
    assert outcome.env == {"PATH": f"{venv}/bin:/usr/bin:/bin", "VIRTUAL_ENV": str(venv), "KEEP": "1"}
    assert outcome.env_unset == ["PYTHONHOME"]
    assert outcome.rewritten["env"] == {"from": ["PATH", "PYTHONHOME"], "to": ["PATH", "VIRTUAL_ENV"]}
    # the rewritten environment really selects the venv's interpreter
    run_env = {k: v for k, v in {**os.environ, **outcome.env}.items() if k not in outcome.env_unset}
    proc = await asyncio.create_subprocess_exec(
        "sh",
        "-c",
        "python -c 'import sys; print(sys.prefix)'",
        cwd=outcome.cwd,
        env=run_env,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    assert Path(out.decode().strip()).resolve() == venv.resolve()


async def test_venv_builtin_without_a_venv_changes_nothing(tmp_path: Path) -> None:
    engine = engine_with(tmp_path, {"pre_execute": [{"hooks": [{"type": "builtin", "name": "venv"}]}]})
    (tmp_path / "venv").mkdir()  # not a virtualenv: no pyvenv.cfg
    outcome = await engine.pre_execute({"job_id": "j", "command": "ls", "cwd": str(tmp_path)}, env={"A": "b"})
    assert outcome.env == {"A": "b"} and outcome.rewritten == {} and outcome.warnings == []


def test_find_venv_accepts_a_directory_shaped_like_one(tmp_path: Path) -> None:
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    (tmp_path / "venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (tmp_path / "deep" / "er").mkdir(parents=True)
    assert find_venv(str(tmp_path / "deep" / "er")) == (tmp_path / "venv").resolve()


async def test_metrics_builtin_appends_one_line_per_job(tmp_path: Path) -> None:
    metrics_dir = tmp_path / "metrics"
    engine = engine_with(
        tmp_path,
        {
            "post_execute": [{"hooks": [{"type": "builtin", "name": "metrics", "dir": str(metrics_dir)}]}],
            "on_timeout": [{"hooks": [{"type": "builtin", "name": "metrics"}]}],
        },
    )
    base = {
        "command": "make test",
        "cwd": str(tmp_path),
        "timeout": 60,
        "timeout_source": "history",
        "output_tail": "ok\n",
        "output_bytes": 1234,
    }
    results = await asyncio.gather(
        *(
            engine.post_execute({**base, "job_id": f"j{i}", "status": "completed", "exit_code": 0, "duration": 1.0 + i})
            for i in range(5)
        )
    )
    assert all(warnings == [] for warnings in results)
    lines = [json.loads(line) for line in (metrics_dir / "metrics.jsonl").read_text().splitlines()]
    assert sorted(line["job_id"] for line in lines) == [f"j{i}" for i in range(5)]
    first = next(line for line in lines if line["job_id"] == "j0")
    assert first["command"] == "make test" and first["status"] == "completed" and first["exit_code"] == 0
    assert first["duration"] == 1.0 and first["output_bytes"] == 1234 and first["event"] == "post_execute"
    assert "output_tail" not in first

    await engine.on_timeout({**base, "job_id": "t", "status": "timed_out", "exit_code": None, "duration": 60})
    (line,) = (tmp_path / "state" / "metrics.jsonl").read_text().splitlines()
    assert json.loads(line)["status"] == "timed_out", "without 'dir' the state dir is used"
    assert engine.status()["hooks"][0]["runs"] == 5


async def test_metrics_builtin_failure_is_a_warning(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    engine = engine_with(
        tmp_path,
        {
            "post_execute": [{"hooks": [{"type": "builtin", "name": "metrics", "dir": str(blocker / "sub")}]}],
        },
    )
    (warning,) = await engine.post_execute({"job_id": "j", "command": "x", "cwd": str(tmp_path)})
    assert warning["error"] == "builtin_failed" and warning["hook"] == "builtin:metrics"
    assert engine.status()["hooks"][0]["failures"] == 1
