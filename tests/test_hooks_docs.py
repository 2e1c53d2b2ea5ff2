"""The examples in docs/hooks.md are real: the config parses, the scripts behave as described."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path
from typing import Any

import pytest

from cc_executor.hooks import HookEngine, HooksSettings
from cc_executor.hooks.config_model import HooksConfigError, parse_hooks_config
from cc_executor.hooks.event_payload import build_payload
from cc_executor.hooks.hook_warning import make_warning

DOC = Path(__file__).resolve().parents[1] / "docs" / "hooks.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), flags=re.S)


def write_script(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def engine_for(tmp_path: Path, command: str) -> HookEngine:
    hooks_file = tmp_path / "hooks.json"
    hook = {"type": "command", "command": command}
    hooks_file.write_text(json.dumps({"hooks": {"pre_execute": [{"hooks": [hook]}]}}))
    return HookEngine(HooksSettings(hooks_file=hooks_file), state_dir=tmp_path)


def test_config_example_is_valid(tmp_path: Path) -> None:
    config_text = next(b for b in blocks("json") if b.lstrip().startswith('{\n  "hooks"'))
    config = parse_hooks_config(config_text, tmp_path / "hooks.json")
    assert set(config.hooks) == {"pre_execute", "post_execute", "on_timeout", "on_stall"}
    rm_group = config.groups("pre_execute")[1]
    assert rm_group.matches("rm -rf build") and rm_group.matches("cd x && rm -r y") and not rm_group.matches("ls")


def test_documented_error_message_is_the_real_one(tmp_path: Path) -> None:
    bad = json.dumps({"hooks": {"pre_execute": [{"matcher": "(", "hooks": []}]}})
    with pytest.raises(HooksConfigError) as info:
        parse_hooks_config(bad, tmp_path / "hooks.json")
    message = str(info.value).split(": ", 1)[1]
    flat = " ".join(DOC.read_text().split())
    assert message in flat


def test_event_and_warning_and_status_examples_have_the_real_keys(tmp_path: Path) -> None:
    event_doc, warning_doc, status_doc = (
        json.loads(b) for b in blocks("json") if not b.lstrip().startswith('{\n  "hooks"')
    )
    real = build_payload(
        "post_execute",
        {k: v for k, v in event_doc.items() if k != "env_keys"},
        {k: "" for k in event_doc["env_keys"]},
        8192,
    )
    assert real == event_doc
    assert set(warning_doc) == set(make_warning("pre_execute", "x", "y"))
    engine = HookEngine(HooksSettings(hooks_file=tmp_path / "h.json"), state_dir=tmp_path)
    hook = {"type": "builtin", "name": "venv"}
    (tmp_path / "h.json").write_text(json.dumps({"hooks": {"pre_execute": [{"hooks": [hook]}]}}))
    real_status = engine.status()
    assert set(real_status) == set(status_doc)
    assert set(real_status["hooks"][0]) == set(status_doc["hooks"][0])


async def test_refuse_rm_example(tmp_path: Path) -> None:
    refuse_rm, _ = blocks("sh")
    script = write_script(tmp_path / "refuse-rm.sh", refuse_rm)
    engine = engine_for(tmp_path, str(script))
    blocked = await engine.pre_execute({"job_id": "j", "command": "rm -rf /home/me/src", "cwd": str(tmp_path)})
    assert blocked.blocked and blocked.reason == "recursive rm outside /tmp is not allowed: rm -rf /home/me/src"
    allowed = await engine.pre_execute({"job_id": "j", "command": "rm -rf /tmp/scratch", "cwd": str(tmp_path)})
    assert not allowed.blocked and allowed.warnings == []


async def test_rewrite_example(tmp_path: Path) -> None:
    _, rewrite = blocks("sh")
    script = write_script(tmp_path / "rewrite.sh", rewrite)
    engine = engine_for(tmp_path, str(script))
    event: dict[str, Any] = {"job_id": "j", "command": "pytest", "cwd": str(tmp_path), "timeout": 60}
    outcome = await engine.pre_execute(event, env={})
    assert outcome.env == {"PYTEST_ADDOPTS": "-x"} and outcome.timeout == 1800.0 and outcome.warnings == []
