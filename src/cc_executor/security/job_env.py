"""Which of the server's environment variables a job must not inherit.

Why: the server's own configuration (``CC_EXECUTOR_*``: the token, state directory, limits, hook settings)
is none of a job's business, and a job that starts another CC Executor or its tests would silently pick it
up. Generic names the server also reads (``DEBUG``, ``LOG_LEVEL``, ``DEFAULT_PORT`` ...) are left alone: user
programs use them for their own purposes.
"""

from __future__ import annotations

from collections.abc import Mapping

SERVER_ENV_PREFIX = "CC_EXECUTOR_"
# Set for each job by the spawner (how its processes are found); never a server setting.
JOB_ENV_KEEP = frozenset({"CC_EXECUTOR_JOB_TOKEN"})


def server_only_names(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The names in ``environ`` to drop from every job's environment."""
    return tuple(
        name for name in environ if name.upper().startswith(SERVER_ENV_PREFIX) and name.upper() not in JOB_ENV_KEEP
    )
