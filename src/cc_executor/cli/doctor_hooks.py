"""The doctor's hooks check: the configured hooks run on a harmless probe job, and each one's outcome is read back.

Two sources, both the server's own: the probe's ``hook.warning`` events (a pre_execute hook's failure, with its
message and stderr, arrives before the job starts) and ``hook_status``'s per-hook counters before and after the
probe (every hook that ran on it, post_execute ones included, whose warnings follow the job's end). A hook that
failed on the probe fails the check, named with its error; no hooks configured is a skip.
"""

from __future__ import annotations

from typing import Any

from .doctor_checks import CheckFailed, CheckSkipped, DoctorContext, Outcome, client_of, probe_command, run_probe

HookKey = tuple[str, str, str]


def _key(entry: dict[str, Any]) -> HookKey:
    return (str(entry.get("event")), str(entry.get("matcher")), str(entry.get("command") or entry.get("builtin")))


def _label(entry: dict[str, Any]) -> str:
    return str(entry.get("command") or f"builtin {entry.get('builtin')}")


def _first_line(text: Any, limit: int = 200) -> str:
    lines = [line.strip() for line in str(text or "").splitlines() if line.strip()]
    return (lines[-1] if lines else "")[:limit]


def _warning_text(params: dict[str, Any]) -> str:
    where = f"{params.get('hook_type')} hook {params.get('hook')!r}" if params.get("hook") else "hooks"
    text = f"{where}: {params.get('message')}"
    stderr = _first_line(params.get("stderr"))
    return f"{text} (stderr: {stderr})" if stderr else text


async def check_hooks(ctx: DoctorContext) -> Outcome:
    from ..client import BlockedByHook, HookWarning

    client = client_of(ctx)
    before = await client.hook_status()
    shown: dict[str, Any] = {
        "enabled": before.get("enabled"),
        "config_file": before.get("config_file"),
        "load_error": before.get("load_error"),
    }
    if before.get("load_error"):
        raise CheckFailed(f"the hook configuration does not load: {before['load_error']}", shown)
    if not before.get("enabled"):
        raise CheckSkipped("hooks are disabled (CC_EXECUTOR_HOOKS_ENABLED)", shown)
    if not before.get("hooks"):
        raise CheckSkipped(f"no hooks configured ({before.get('config_file') or 'no hooks file found'})", shown)

    command = probe_command("hooks")
    shown["probe_command"] = command
    try:
        job, done, events = await run_probe(client, command)
    except BlockedByHook as exc:
        raise CheckFailed(f"a pre_execute hook blocked the harmless probe `{command}`: {exc.reason}", shown) from None
    shown["probe_job"], shown["probe_status"] = job.id, done.status
    warnings = [e.params for e in events if isinstance(e, HookWarning)]
    after = await client.hook_status()
    counts = {_key(entry): entry for entry in before.get("hooks") or []}
    ran: list[dict[str, Any]] = []
    problems = [_warning_text(w) for w in warnings]
    warned = {(str(w.get("hook_type")), str(w.get("hook"))) for w in warnings if w.get("hook")}
    for entry in after.get("hooks") or []:
        old = counts.get(_key(entry), {})
        runs = int(entry.get("runs") or 0) - int(old.get("runs") or 0)
        failures = int(entry.get("failures") or 0) - int(old.get("failures") or 0)
        if runs <= 0:
            continue
        last = entry.get("last_result") or {}
        ran.append(
            {
                "event": entry.get("event"),
                "hook": _label(entry),
                "matcher": entry.get("matcher"),
                "failed": failures > 0,
                "decision": last.get("decision"),
                "exit_code": last.get("exit_code"),
                "seconds": round(float(last.get("duration") or 0.0), 3),
            }
        )
        labels = (entry.get("command"), f"builtin:{entry['builtin']}" if entry.get("builtin") else None)
        names = {(str(entry.get("event")), str(label)) for label in labels if label}
        if failures > 0 and not names & warned:
            # A post_execute hook: its warning came after the job's end, the counters say what happened.
            problems.append(f"{entry.get('event')} hook {_label(entry)!r} failed (exit code {last.get('exit_code')})")
    shown.update(hooks_configured=len(after.get("hooks") or []), ran_on_probe=ran, warnings=warnings)
    if problems:
        raise CheckFailed("; ".join(problems), shown)
    configured = len(after.get("hooks") or [])
    if not ran:
        return f"{configured} hook(s) configured, none matched the probe job `{command}`", shown
    outcomes = ", ".join(f"{r['event']} {r['hook']!r} {r['decision']} in {r['seconds']} s" for r in ran)
    return f"{configured} hook(s) configured, {len(ran)} ran on the probe job, none failed: {outcomes}", shown
