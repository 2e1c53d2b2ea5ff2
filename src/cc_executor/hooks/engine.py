"""Runs the configured hooks for each job event, in order, and turns their answers into decisions."""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..jobs.job_env import base_environ
from .builtins import run_builtin
from .command_runner import run_command
from .config_loader import HooksConfigLoader, LoadedConfig
from .config_model import BuiltinHook, CommandHook, MatcherGroup
from .event_payload import build_payload
from .hook_output import HookOutput, parse_hook_output, read_answer
from .hook_stats import HookKey, HookStats
from .hook_warning import bounded, make_warning
from .outcome import PreExecuteOutcome
from .settings import HooksSettings

BLOCK_EXIT_CODE = 2
REASON_LIMIT = 2000


@dataclass(slots=True)
class _Verdict:
    """One hook's effect: ``blocked`` only ever on pre_execute; ``output`` None when the hook failed."""

    blocked: bool = False
    reason: str | None = None
    output: HookOutput | None = None
    warnings: list[dict[str, Any]] = field(default_factory=list)


class HookEngine:
    """Entry point for the job core: one method per event; none of them raises for a hook's misbehaviour."""

    def __init__(
        self, settings: HooksSettings, *, state_dir: Path, shell: str = "/bin/sh", project_files: bool = True
    ) -> None:
        """``project_files`` False: ignore ``.cc-executor/hooks.json`` in jobs' cwds (see HooksConfigLoader)."""
        self._settings = settings
        self._state_dir = Path(state_dir)
        self._shell = shell
        self._loader = HooksConfigLoader(settings, project_files=project_files)
        self._stats = HookStats()
        self._last_cwd: str | None = None

    # --- events ----------------------------------------------------------------------------------

    async def pre_execute(self, event: dict[str, Any], env: dict[str, str] | None = None) -> PreExecuteOutcome:
        """Run pre_execute hooks. ``env`` is the request's env (or ``event["env"]``); hooks see only its names."""
        request_env = dict(env if env is not None else event.get("env") or {})
        cwd = str(event.get("cwd") or os.getcwd())
        timeout = event.get("timeout")
        outcome = PreExecuteOutcome(
            blocked=False,
            reason=None,
            command=str(event.get("command", "")),
            env=dict(request_env),
            cwd=cwd,
            timeout=timeout,
        )
        if not self._settings.enabled:
            return outcome
        loaded, outcome.warnings = await self._load("pre_execute", cwd)
        for group in loaded.config.groups("pre_execute") if loaded.config else []:
            if not group.matches(outcome.command):
                continue
            for hook in group.hooks:
                current = {**event, "command": outcome.command, "cwd": outcome.cwd, "timeout": outcome.timeout}
                payload = build_payload("pre_execute", current, outcome.env, self._settings.output_tail_bytes)
                verdict = await self._run_hook(loaded.path, "pre_execute", group, hook, payload, outcome.env)
                outcome.warnings += verdict.warnings
                if verdict.blocked:
                    outcome.blocked, outcome.reason = True, verdict.reason
                    outcome.record_changes(str(event.get("command", "")), request_env, cwd, timeout)
                    return outcome
                if verdict.output is not None:
                    for problem in outcome.apply(verdict.output.rewrites):
                        outcome.warnings.append(
                            make_warning("pre_execute", "invalid_rewrite", problem, hook=hook.label, exit_code=0)
                        )
        outcome.record_changes(str(event.get("command", "")), request_env, cwd, timeout)
        return outcome

    async def post_execute(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        """After the job ended: event has the summary (status, exit_code, duration) and ``output_tail``."""
        return await self._notify("post_execute", event)

    async def on_timeout(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        return await self._notify("on_timeout", event)

    async def on_stall(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        """The job produced no output for ``idle_seconds``; it is still running."""
        return await self._notify("on_stall", event)

    # --- status ----------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """For ``hook_status``: the config in force for the most recent job's cwd, with per-hook counters."""
        loaded = self._loader.load(self._last_cwd)
        hooks = []
        for event, groups in loaded.config.hooks.items() if loaded.config else []:
            for group in groups:
                for hook in group.hooks:
                    entry: dict[str, Any] = {"event": event, "matcher": group.matcher, "type": hook.type}
                    if isinstance(hook, CommandHook):
                        entry["command"] = hook.command
                    else:
                        entry["builtin"] = hook.name
                    entry["timeout"] = hook.timeout or self._settings.timeout
                    entry.update(self._stats.get(self._key(loaded.path, event, group, hook)).as_dict())
                    hooks.append(entry)
        return {
            "enabled": self._settings.enabled,
            "config_file": str(loaded.path) if loaded.path else None,
            "load_error": loaded.error,
            "hooks": hooks,
        }

    # --- internals -------------------------------------------------------------------------------

    async def _load(self, event_name: str, cwd: str) -> tuple[LoadedConfig, list[dict[str, Any]]]:
        self._last_cwd = cwd
        # A few stat() calls, and a read only when the file changed: cheap enough to do on the loop.
        loaded = self._loader.load(cwd)
        warnings = []
        if loaded.error:
            kept = " (the last valid version stays in force)" if loaded.config else ""
            warnings.append(make_warning(event_name, "config_error", loaded.error + kept, severity="error"))
        return loaded, warnings

    async def _notify(self, event_name: str, event: dict[str, Any]) -> list[dict[str, Any]]:
        if not self._settings.enabled:
            return []
        cwd = str(event.get("cwd") or os.getcwd())
        loaded, warnings = await self._load(event_name, cwd)
        payload = build_payload(event_name, event, None, self._settings.output_tail_bytes)
        command = str(event.get("command", ""))
        for group in loaded.config.groups(event_name) if loaded.config else []:
            if group.matches(command):
                for hook in group.hooks:
                    verdict = await self._run_hook(loaded.path, event_name, group, hook, payload, {})
                    warnings += verdict.warnings
        return warnings

    @staticmethod
    def _key(path: Path | None, event_name: str, group: MatcherGroup, hook: CommandHook | BuiltinHook) -> HookKey:
        return (str(path), event_name, group.matcher, hook.label)

    async def _run_hook(
        self,
        path: Path | None,
        event_name: str,
        group: MatcherGroup,
        hook: CommandHook | BuiltinHook,
        payload: dict[str, Any],
        env: dict[str, str],
    ) -> _Verdict:
        timeout = hook.timeout or self._settings.timeout
        if isinstance(hook, BuiltinHook):
            verdict, exit_code, duration = await self._run_builtin(event_name, hook, payload, env, timeout)
        else:
            verdict, exit_code, duration = await self._run_command(event_name, hook, payload, timeout)
        decision = "block" if verdict.blocked else ("error" if verdict.output is None else "allow")
        self._stats.record(
            self._key(path, event_name, group, hook),
            exit_code=exit_code,
            duration=duration,
            decision=decision,
            failed=verdict.output is None and not verdict.blocked,
        )
        return verdict

    async def _run_builtin(
        self, event_name: str, hook: BuiltinHook, payload: dict[str, Any], env: dict[str, str], timeout: float
    ) -> tuple[_Verdict, int | None, float]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            answer = await asyncio.wait_for(run_builtin(hook, payload, env, self._state_dir), timeout)
        except TimeoutError:
            message = f"builtin {hook.name!r} did not finish within {timeout:g}s"
            warning = make_warning(event_name, "timeout", message, hook=hook.label)
            return _Verdict(warnings=[warning]), None, loop.time() - started
        except Exception as exc:  # noqa: BLE001 - a builtin's failure must never stop the job
            message = f"builtin {hook.name!r} failed: {exc}"
            warning = make_warning(event_name, "builtin_failed", message, hook=hook.label)
            return _Verdict(warnings=[warning]), 1, loop.time() - started
        return self._judge(event_name, hook.label, read_answer(answer), 0, ""), 0, loop.time() - started

    async def _run_command(
        self, event_name: str, hook: CommandHook, payload: dict[str, Any], timeout: float
    ) -> tuple[_Verdict, int | None, float]:
        # Hooks get the jobs' clean base environment: the server's own settings and secrets stay out of them.
        hook_env = base_environ(os.environ)
        hook_env["CC_EXECUTOR_HOOK_EVENT"] = event_name
        hook_env["CC_EXECUTOR_JOB_ID"] = str(payload.get("job_id") or "")
        run = await run_command(
            hook.command,
            shell=self._shell,
            stdin=json.dumps(payload, default=str).encode("utf-8"),
            cwd=payload.get("cwd"),
            env=hook_env,
            timeout=timeout,
            kill_grace=self._settings.kill_grace,
            max_capture=self._settings.max_capture_bytes,
        )
        label = hook.command
        if run.error is not None:
            warning = make_warning(event_name, "spawn_failed", run.error, hook=label)
            return _Verdict(warnings=[warning]), None, run.duration
        if run.timed_out:
            message = f"hook timed out after {timeout:g}s and was killed with its process group"
            warning = make_warning(event_name, "timeout", message, hook=label, stderr=run.stderr)
            return _Verdict(warnings=[warning]), None, run.duration
        code = run.exit_code
        if code == 0:
            return self._judge(event_name, label, parse_hook_output(run.stdout), 0, run.stderr), 0, run.duration
        if code == BLOCK_EXIT_CODE and event_name == "pre_execute":
            reason = bounded(run.stderr, REASON_LIMIT) or f"blocked by hook {label!r}"
            return _Verdict(blocked=True, reason=reason), code, run.duration
        if code == BLOCK_EXIT_CODE:
            message = f"hook exited with 2 (block), which has no effect on {event_name}"
        else:
            message = f"hook failed with exit code {code}"
        warning = make_warning(event_name, "exit_code", message, hook=label, stderr=run.stderr, exit_code=code)
        return _Verdict(warnings=[warning]), code, run.duration

    @staticmethod
    def _judge(event_name: str, label: str, output: HookOutput, exit_code: int, stderr: str) -> _Verdict:
        """An exit-0 answer: its JSON may block (pre_execute only) and carry rewrites; problems are warnings."""
        warnings = [
            make_warning(event_name, "invalid_output", problem, hook=label, stderr=stderr, exit_code=exit_code)
            for problem in output.problems
        ]
        if output.decision == "block" and event_name == "pre_execute":
            reason = bounded(output.reason or "", REASON_LIMIT) or f"blocked by hook {label!r}"
            return _Verdict(blocked=True, reason=reason, warnings=warnings)
        if event_name != "pre_execute":
            output.rewrites = {}
        return _Verdict(output=output, warnings=warnings)
