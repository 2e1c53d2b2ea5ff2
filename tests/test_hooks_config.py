"""Hooks file lookup, validation errors as warnings, and reload when the file changes."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any

import pytest

from cc_executor.hooks import HookEngine, HooksSettings
from cc_executor.hooks.config_model import HooksConfigError, parse_hooks_config
from cc_executor.hooks.settings import default_user_config_dir

SCRIPTS = Path(__file__).parent / "hook_scripts"
BLOCK = {"type": "command", "command": shlex.quote(str(SCRIPTS / "block_exit2.sh"))}


def hooks_json(*hooks: dict[str, Any], matcher: str = "") -> str:
    return json.dumps({"hooks": {"pre_execute": [{"matcher": matcher, "hooks": list(hooks)}]}})


def job(cwd: Path, command: str = "echo hi") -> dict[str, Any]:
    return {"job_id": "j", "command": command, "cwd": str(cwd)}


def touch_later(path: Path, text: str) -> None:
    """Rewrite the file with an mtime surely different from the last one (coarse file-system clocks)."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    os.utime(path, ns=(before + 2_000_000_000, before + 2_000_000_000))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "top level must be a JSON object"),
        (hooks_json({"type": "command", "command": "x"}, matcher="("), "invalid regular expression '('"),
        (json.dumps({"hooks": {"pre_exec": []}}), "hooks.pre_exec"),
        (hooks_json({"type": "command"}), "command: Field required"),
        (hooks_json({"type": "command", "command": "x", "timeout": -1}), "timeout"),
        (hooks_json({"type": "builtin", "name": "nope"}), "name"),
        (
            json.dumps({"hooks": {"on_stall": [{"hooks": [{"type": "builtin", "name": "venv"}]}]}}),
            "builtin 'venv' cannot run on on_stall",
        ),
    ],
)
def test_bad_files_name_the_file_and_the_problem(text: str, expected: str, tmp_path: Path) -> None:
    path = tmp_path / "hooks.json"
    with pytest.raises(HooksConfigError) as info:
        parse_hooks_config(text, path)
    assert str(info.value).startswith(f"{path}: ") and expected in str(info.value)


def test_matcher_null_or_missing_matches_everything(tmp_path: Path) -> None:
    config = parse_hooks_config(
        json.dumps({"other_setting": 1, "hooks": {"pre_execute": [{"matcher": None, "hooks": []}, {"hooks": []}]}}),
        tmp_path / "h.json",
    )
    assert all(group.matches("anything at all") for group in config.groups("pre_execute"))


async def test_malformed_file_is_a_warning_and_reload_fixes_it(tmp_path: Path) -> None:
    path = tmp_path / "hooks.json"
    path.write_text('{"hooks": {"pre_execute": [')
    engine = HookEngine(HooksSettings(hooks_file=path), state_dir=tmp_path)
    outcome = await engine.pre_execute(job(tmp_path))
    assert not outcome.blocked
    (warning,) = outcome.warnings
    assert warning["error"] == "config_error" and warning["severity"] == "error"
    assert str(path) in warning["message"] and "not valid JSON" in warning["message"]
    assert engine.status()["load_error"] is not None

    touch_later(path, hooks_json(BLOCK))
    outcome = await engine.pre_execute(job(tmp_path))
    assert outcome.blocked and outcome.warnings == [], "the new file is read without a restart"
    assert engine.status()["load_error"] is None

    touch_later(path, hooks_json(BLOCK, matcher="[unclosed"))
    outcome = await engine.pre_execute(job(tmp_path))
    assert outcome.blocked, "the last valid config stays in force while the file is broken"
    assert "invalid regular expression" in outcome.warnings[0]["message"]
    assert "last valid version" in outcome.warnings[0]["message"]

    touch_later(path, hooks_json(BLOCK, matcher="^rm"))
    assert not (await engine.pre_execute(job(tmp_path))).blocked
    assert (await engine.pre_execute(job(tmp_path, "rm -r x"))).blocked


async def test_missing_explicit_file_is_a_warning(tmp_path: Path) -> None:
    engine = HookEngine(HooksSettings(hooks_file=tmp_path / "absent.json"), state_dir=tmp_path)
    outcome = await engine.pre_execute(job(tmp_path))
    assert not outcome.blocked and "absent.json" in outcome.warnings[0]["message"]


async def test_project_file_wins_over_user_file(tmp_path: Path) -> None:
    user_dir, project = tmp_path / "user", tmp_path / "project"
    (project / ".cc-executor").mkdir(parents=True)
    user_dir.mkdir()
    (user_dir / "hooks.json").write_text(hooks_json(BLOCK))
    engine = HookEngine(HooksSettings(hooks_file=None, user_config_dir=user_dir), state_dir=tmp_path)
    assert (await engine.pre_execute(job(project))).blocked, "no project file: the user's applies"
    assert engine.status()["config_file"] == str(user_dir / "hooks.json")
    (project / ".cc-executor" / "hooks.json").write_text(json.dumps({"hooks": {}}))
    assert not (await engine.pre_execute(job(project))).blocked
    assert engine.status()["config_file"] == str(project / ".cc-executor" / "hooks.json")
    assert engine.status()["hooks"] == []


async def test_no_file_anywhere_means_no_hooks(tmp_path: Path) -> None:
    engine = HookEngine(HooksSettings(hooks_file=None, user_config_dir=tmp_path / "none"), state_dir=tmp_path)
    outcome = await engine.pre_execute(job(tmp_path), env={"A": "1"})
    assert not outcome.blocked and outcome.warnings == [] and outcome.env == {"A": "1"}
    assert engine.status() == {"enabled": True, "config_file": None, "load_error": None, "hooks": []}


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CC_EXECUTOR_HOOKS_FILE", str(tmp_path / "h.json"))
    monkeypatch.setenv("CC_EXECUTOR_HOOK_TIMEOUT", "5")
    monkeypatch.setenv("CC_EXECUTOR_HOOKS_ENABLED", "false")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    settings = HooksSettings()
    assert settings.hooks_file == tmp_path / "h.json" and settings.timeout == 5.0 and not settings.enabled
    assert settings.user_config_dir == tmp_path / "xdg" / "cc-executor" == default_user_config_dir()
    monkeypatch.setenv("CC_EXECUTOR_HOOK_TIMEOUT", "0")
    with pytest.raises(ValueError):
        HooksSettings()


def _project_hooks(cwd: Path, marker: Path) -> Path:
    folder = cwd / ".cc-executor"
    folder.mkdir(mode=0o755)
    hooks = folder / "hooks.json"
    command = f"touch {shlex.quote(str(marker))}"
    hooks.write_text(json.dumps({"hooks": {"pre_execute": [{"hooks": [{"type": "command", "command": command}]}]}}))
    hooks.chmod(0o644)
    return hooks


@pytest.mark.parametrize("tamper", ["world-writable", "folder-writable", "other-owner"])
async def test_project_hooks_a_job_could_have_written_never_run(tamper: str, tmp_path: Path) -> None:
    """A hooks file in a job's cwd runs as the server: one that another user could have written is ignored."""
    if tamper == "other-owner" and os.geteuid() != 0:
        pytest.skip("changing a file's owner needs root")
    marker = tmp_path / "marker"
    cwd = tmp_path / "project"
    cwd.mkdir()
    hooks = _project_hooks(cwd, marker)
    engine = HookEngine(HooksSettings(user_config_dir=tmp_path / "none"), state_dir=tmp_path)
    await engine.pre_execute({"job_id": "j", "command": "ls", "cwd": str(cwd)}, env={})
    assert marker.exists()  # control: the untampered file runs
    marker.unlink()
    if tamper == "world-writable":
        hooks.chmod(0o666)
    elif tamper == "folder-writable":
        hooks.parent.chmod(0o777)
    else:
        os.chown(hooks, 65534, 65534)
    outcome = await engine.pre_execute({"job_id": "j", "command": "ls", "cwd": str(cwd)}, env={})
    assert not marker.exists()
    assert any("hooks file ignored" in warning.get("message", "") for warning in outcome.warnings), outcome.warnings


async def test_hook_commands_get_no_server_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CC_EXECUTOR_TOKEN", "hook-secret-token")
    monkeypatch.setenv("REDIS_URL", "redis://:hookpass@127.0.0.1:1/0")
    monkeypatch.setenv("PLAIN_MARKER", "visible")
    out = tmp_path / "env.txt"
    hooks = tmp_path / "hooks.json"
    command = f"env > {shlex.quote(str(out))}"
    hooks.write_text(json.dumps({"hooks": {"pre_execute": [{"hooks": [{"type": "command", "command": command}]}]}}))
    engine = HookEngine(HooksSettings(hooks_file=hooks), state_dir=tmp_path)
    await engine.pre_execute({"job_id": "j", "command": "ls", "cwd": str(tmp_path)}, env={})
    text = out.read_text()
    assert "PLAIN_MARKER=visible" in text
    assert "hook-secret-token" not in text and "hookpass" not in text


async def test_project_hooks_are_off_when_the_engine_says_so(tmp_path: Path) -> None:
    """Under an allow-list without a job user the server turns project files off: a job could write one."""
    marker = tmp_path / "marker"
    cwd = tmp_path / "project"
    cwd.mkdir()
    _project_hooks(cwd, marker)
    engine = HookEngine(HooksSettings(user_config_dir=tmp_path / "none"), state_dir=tmp_path, project_files=False)
    outcome = await engine.pre_execute({"job_id": "j", "command": "ls", "cwd": str(cwd)}, env={})
    assert not marker.exists()
    assert any("project hooks files are off" in warning.get("message", "") for warning in outcome.warnings)
