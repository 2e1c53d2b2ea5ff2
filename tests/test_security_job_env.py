"""The server's CC_EXECUTOR_* settings (the token first) never reach a job's environment."""

from __future__ import annotations

import subprocess

from cc_executor.jobs.process import build_env
from cc_executor.security.job_env import server_only_names


def test_server_settings_are_dropped_from_a_real_jobs_environment() -> None:
    server_env = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/root",
        "DEBUG": "1",
        "CC_EXECUTOR_TOKEN": "tok-secret-1234",
        "CC_EXECUTOR_STATE_DIR": "/srv/state",
        "cc_executor_limit_as": "32G",
        "CC_EXECUTOR_JOB_TOKEN": "job-42",
    }
    drop = server_only_names(server_env)
    assert set(drop) == {"CC_EXECUTOR_TOKEN", "CC_EXECUTOR_STATE_DIR", "cc_executor_limit_as"}
    env = build_env(server_env, {"MINE": "yes"}, drop)
    seen = subprocess.run(["env"], env=env, capture_output=True, text=True, check=True).stdout  # noqa: S607
    assert "tok-secret-1234" not in seen and "/srv/state" not in seen and "32G" not in seen
    assert "MINE=yes" in seen and "DEBUG=1" in seen and "CC_EXECUTOR_JOB_TOKEN=job-42" in seen
