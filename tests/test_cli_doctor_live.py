"""``cc-executor doctor`` tests every component live, against the server's own configuration (issue 17, item 4).

Real servers, real hooks, a real ``redis-server``, and the real ``cc-executor doctor`` as a subprocess: a hook that
fails on every job and a store that is down fail the doctor, naming the component; a healthy install passes;
the configuration shown is the server's (``server.config``), not the doctor's own environment; a dead Redis at
start is named on the server's stderr and ``/health`` says "degraded" from its first answer.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from cli_support import cli, cli_env
from conftest import ServerFactory, ServerProcess, free_port, serve_command, server_env
from redis_fixture import RedisServer, redis_server  # noqa: F401  (fixture)
from rpc_client import RpcClient

from cc_executor.cli.doctor_checks import CheckResult
from cc_executor.cli.doctor_report import report_data

pytestmark = pytest.mark.timeout(90)

SCRIPTS = Path(__file__).parent / "hook_scripts"
TOKEN = "doctor-live-token-1234"
REDIS_PASSWORD = "doctor-redis-s3cret"


def hooks_file(tmp_path: Path, hooks: dict[str, Any]) -> str:
    path = tmp_path / "hooks.json"
    path.write_text(json.dumps({"hooks": hooks}))
    return str(path)


def command_hook(name: str, *args: str | Path) -> dict[str, Any]:
    return {"type": "command", "command": shlex.join([str(SCRIPTS / name), *(str(a) for a in args)])}


def doctor_json(env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    done = cli(env, "doctor", "--json", timeout=60)
    return done, json.loads(done.stdout)


def component(data: dict[str, Any], name: str) -> dict[str, Any]:
    [found] = [c for c in data["components"] if c["component"] == name]
    return found


def test_doctor_fails_on_a_hook_that_fails_on_every_job(make_server: ServerFactory, tmp_path: Path) -> None:
    crash = [{"hooks": [command_hook("crash.sh")]}]
    srv = make_server(CC_EXECUTOR_HOOKS_FILE=hooks_file(tmp_path, {"pre_execute": crash, "post_execute": crash}))
    done, data = doctor_json(cli_env(srv, tmp_path / "state"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert data["broken"] == ["hooks"], data["broken"]  # the jobs themselves still run
    hooks = component(data, "hooks")
    assert "crash.sh" in hooks["summary"] and "exit code 1" in hooks["summary"]
    assert "boom: something broke" in hooks["summary"]  # the hook's own error
    assert "post_execute" in hooks["summary"] and "pre_execute" in hooks["summary"]
    assert {(r["event"], r["failed"]) for r in hooks["shown"]["ran_on_probe"]} == {
        ("pre_execute", True),
        ("post_execute", True),
    }
    assert "broken: hooks" in done.stderr and "crash.sh" in done.stderr


def test_doctor_fails_on_a_store_that_is_down(make_server: ServerFactory, tmp_path: Path) -> None:
    redis_url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    srv = make_server(REDIS_URL=redis_url)
    # The doctor's own environment has no REDIS_URL: what it reports is the server's store.
    done, data = doctor_json(cli_env(srv, tmp_path / "state"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert data["broken"] == ["history store"], [c for c in data["components"] if c["ok"] is False]
    history = component(data, "history store")
    assert "Redis history store is down" in history["summary"] and "Connection" in history["summary"]
    assert "broken: history store" in done.stderr and "Redis" in done.stderr
    config = component(data, "configuration")
    assert config["ok"] is True and config["shown"]["redis_url"] == redis_url
    assert config["shown"]["differs_from_this_environment"]["redis_url"] == {"server": redis_url, "here": None}
    assert f"Redis at {redis_url}" in config["summary"]
    assert component(data, "server")["shown"]["status"] == "degraded"


def test_doctor_passes_on_a_healthy_install(
    make_server: ServerFactory,
    redis_server: RedisServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    record = tmp_path / "hook-events.jsonl"
    srv = make_server(
        REDIS_URL=redis_server.url,
        CC_EXECUTOR_REDIS_PREFIX="doctor",
        MAX_SESSIONS="7",
        CC_EXECUTOR_HOOKS_FILE=hooks_file(tmp_path, {"post_execute": [{"hooks": [command_hook("answer.py", record)]}]}),
    )
    done, data = doctor_json(cli_env(srv, tmp_path / "state"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert data["ok"] is True and data["broken"] == []
    verdicts = {c["component"]: c["verdict"] for c in data["components"]}
    assert verdicts.pop("gpu") in {"pass", "skipped"}  # skipped where there is no GPU, never a failure
    assert set(verdicts.values()) == {"pass"}, verdicts

    config = component(data, "configuration")
    assert config["shown"]["source"] == "the server (server.config)"
    # A server-side setting the doctor's own environment does not have.
    assert config["shown"]["max_sessions"] == 7
    assert config["shown"]["differs_from_this_environment"]["max_sessions"] == {"server": 7, "here": 100}
    assert "max 7 sessions" in config["summary"]

    history = component(data, "history store")
    record_read = history["shown"]["record"]
    assert record_read["job_id"] == history["shown"]["probe_job"] and record_read["status"] == "completed"
    assert history["summary"].startswith("Redis store: wrote and read back job")

    hooks = component(data, "hooks")
    [ran] = hooks["shown"]["ran_on_probe"]
    assert (ran["event"], ran["failed"], ran["decision"]) == ("post_execute", False, "allow")
    assert "none failed" in hooks["summary"]
    # The hook really ran on the doctor's probe job.
    [event] = [json.loads(line) for line in record.read_text().splitlines() if "cc-executor-doctor-hooks" in line]
    assert event["job_id"] == hooks["shown"]["probe_job"]

    agent = component(data, "agent parser")
    assert agent["shown"]["parsed"]["num_turns"] == 2 and agent["shown"]["parsed"]["total_cost_usd"] == 0.00068
    assert "2 turns" in agent["summary"] and "session 8a1f3c52" in agent["summary"]

    text = cli(cli_env(srv, tmp_path / "state"), "doctor", "--report-dir", str(tmp_path / "report"))
    assert text.returncode == 0, text.stdout + text.stderr
    assert "agent parser" in text.stdout and "wrote and read back" in text.stdout


def test_no_hooks_and_no_gpu_are_skips_not_failures(server: ServerProcess, tmp_path: Path) -> None:
    done, data = doctor_json(cli_env(server, tmp_path / "state"))
    assert done.returncode == 0, done.stdout + done.stderr
    hooks = component(data, "hooks")
    assert hooks["verdict"] == "skipped" and "no hooks configured" in hooks["summary"]
    gpu = component(data, "gpu")
    if not gpu["shown"]["gpu"]:
        assert gpu["verdict"] == "skipped" and gpu["summary"].startswith("GPU: none found")
    assert data["skipped"] >= 1 and data["ok"] is True


def test_a_skip_never_fails_the_report() -> None:
    results = [CheckResult("a", "", True), CheckResult("b", "", None, "GPU: none found")]
    data = report_data(results, "ws://x")
    assert data["ok"] is True and data["skipped"] == 1 and data["success_rate"] == 100.0
    data = report_data([*results, CheckResult("c", "", False)], "ws://x")
    assert data["ok"] is False and data["broken"] == ["c"]


async def test_server_config_is_token_protected_and_redacted(make_server: ServerFactory) -> None:
    redis_url = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{free_port()}/0"
    srv = make_server(CC_EXECUTOR_TOKEN=TOKEN, REDIS_URL=redis_url, MAX_SESSIONS="9")
    with pytest.raises(websockets.InvalidStatus) as refused:
        await RpcClient.connect(srv.url)
    assert refused.value.response.status_code == 401
    async with await RpcClient.connect(srv.url, additional_headers={"Authorization": f"Bearer {TOKEN}"}) as rpc:
        config = await rpc.call("server.config")
    text = json.dumps(config)
    assert TOKEN not in text and REDIS_PASSWORD not in text
    assert "token" not in config and config["token_configured"] is True
    assert config["timing"]["redis_url"].startswith("redis://:[REDACTED]@127.0.0.1:")
    assert config["max_sessions"] == 9 and config["state_dir"] == str(srv.state_dir)


def test_a_dead_redis_is_named_at_start_and_health_is_degraded(tmp_path: Path) -> None:
    """Straight from the first /health answer (no waiting for a background probe), with one line on stderr."""
    port, redis_port = free_port(), free_port()
    env = server_env(tmp_path / "state", {"REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"})
    proc = subprocess.Popen(
        serve_command(port, no_auth=True), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        report: dict[str, Any] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                report = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).json()
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        assert report.get("status") == "degraded", report
        assert report["history"]["backend"] == "redis" and report["history"]["healthy"] is False
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    assert stderr.count("history store (redis) unavailable") == 1, stderr
    assert "unavailable during start, running without history" in stderr and f"127.0.0.1:{redis_port}" in stderr


def test_health_stays_healthy_with_a_live_redis(
    make_server: ServerFactory,
    redis_server: RedisServer,  # noqa: F811
) -> None:
    srv = make_server(REDIS_URL=redis_server.url)
    assert srv.health()["status"] == "healthy"
    assert "history store (redis) unavailable" not in srv.log_text()


def test_effective_settings_hide_every_secret() -> None:
    from cc_executor.config import load_settings
    from cc_executor.rpc.methods import effective_settings
    from cc_executor.timing.settings import TimingSettings

    url = f"rediss://user:{REDIS_PASSWORD}@[::1]:6380/2?password={REDIS_PASSWORD}x&db=2"
    shown = effective_settings(load_settings(token=TOKEN, timing=TimingSettings(redis_url=url)))
    text = json.dumps(shown)
    assert TOKEN not in text and REDIS_PASSWORD not in text and shown["token_configured"] is True
    assert shown["timing"]["redis_url"] == "rediss://user:[REDACTED]@[::1]:6380/2?password=[REDACTED]&db=2"
    assert effective_settings(load_settings(token=None))["token_configured"] is False
