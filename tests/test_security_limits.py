"""Per-job resource limits, applied to real child processes as the spawner applies them (``rlimit_setter`` of
``named_rlimits()``), and their settings."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable

import psutil
import pytest

from cc_executor.jobs.spawner_main import rlimit_setter
from cc_executor.security.limits import (
    CPU_KILL_GRACE,
    ResourceLimits,
    limit_signal_reason,
    parse_size,
)

MiB = 1 << 20


def make_preexec(limits: ResourceLimits) -> Callable[[], None] | None:
    """What the spawner runs in the child before exec, for ``Popen(preexec_fn=...)``; None when no limit is set."""
    named = limits.named_rlimits()
    return rlimit_setter(named) if named else None


def run(argv: list[str], preexec: Callable[[], None] | None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed test programs
        argv, preexec_fn=preexec, capture_output=True, text=True, timeout=timeout, start_new_session=True
    )


def test_nothing_configured_keeps_the_fast_spawn_path() -> None:
    nothing = ResourceLimits(address_space=None, cpu_seconds=None, open_files=None, processes=None)
    assert nothing.rlimits() == []
    assert make_preexec(nothing) is None


def test_memory_hog_fails_under_an_address_space_limit() -> None:
    preexec = make_preexec(ResourceLimits(address_space=512 * MiB))
    hog = "b = bytearray(1024 * 1024 * 1024); print('allocated')"
    result = run([sys.executable, "-I", "-S", "-c", hog], preexec)
    assert result.returncode != 0
    assert "MemoryError" in result.stderr and "allocated" not in result.stdout
    fine = run([sys.executable, "-I", "-S", "-c", "b = bytearray(64 * 1024 * 1024); print('ok')"], preexec)
    assert (fine.returncode, fine.stdout.strip()) == (0, "ok")


def test_cpu_spinner_ends_with_sigxcpu() -> None:
    preexec = make_preexec(ResourceLimits(cpu_seconds=1))
    result = run(["sh", "-c", "while :; do :; done"], preexec, timeout=30)
    assert result.returncode == -signal.SIGXCPU == -24
    assert limit_signal_reason(result.returncode) == "cpu time limit (RLIMIT_CPU) exceeded"
    assert limit_signal_reason(0) is None and limit_signal_reason(-9) is None


def test_cpu_limit_pairs_soft_with_a_later_hard_kill() -> None:
    ((res, soft, hard),) = ResourceLimits(cpu_seconds=7).rlimits()
    assert (res, soft, hard) == (resource.RLIMIT_CPU, 7, 7 + CPU_KILL_GRACE)


def test_open_files_cap() -> None:
    preexec = make_preexec(ResourceLimits(open_files=32))
    script = (
        "import resource\n"
        "print(resource.getrlimit(resource.RLIMIT_NOFILE))\n"
        "files = []\n"
        "try:\n"
        "    for _ in range(100): files.append(open('/dev/null'))\n"
        "except OSError as exc: print('refused', exc.errno, len(files))\n"
    )
    result = run([sys.executable, "-I", "-S", "-c", script], preexec)
    lines = result.stdout.split("\n")
    assert lines[0] == "(32, 32)"
    assert lines[1].startswith("refused 24 ")  # EMFILE
    assert int(lines[1].split()[2]) < 32


def test_limits_never_exceed_the_servers_hard_limit() -> None:
    current_hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    ((_, soft, hard),) = ResourceLimits(open_files=10**9).rlimits()
    if current_hard == resource.RLIM_INFINITY:
        assert (soft, hard) == (10**9, 10**9)
    else:
        assert soft == hard == current_hard


FORKER = """
import os, time
made = 0
for _ in range(40):
    try:
        pid = os.fork()
    except BlockingIOError:
        break
    if pid == 0:
        time.sleep(3)
        os._exit(0)
    made += 1
print(made, flush=True)
"""


@pytest.mark.xdist_group("nobody")  # processes of user nobody: see conftest.py
def test_process_cap_bounds_a_fork_loop() -> None:
    """RLIMIT_NPROC counts every process of the job's real user and never binds root, so as root the job
    is run as ``nobody`` here (as a deployment would use a dedicated user)."""
    python = shutil.which("python3", path="/usr/bin:/bin")
    if os.geteuid() == 0:
        if python is None:
            pytest.skip("needs /usr/bin/python3 for a child that runs as nobody")
        nobody = 65534
        if any(p.info["uids"] and p.info["uids"].real == nobody for p in psutil.process_iter(["uids"])):
            pytest.skip("processes of nobody already run; the count would be off")
        cap = 5
        apply_limits = make_preexec(ResourceLimits(processes=cap))
        assert apply_limits is not None

        def preexec() -> None:
            os.setgroups([])
            os.setgid(nobody)
            os.setuid(nobody)
            apply_limits()

        argv = [python, "-I", "-S", "-c", FORKER]
        expected_max = cap - 1
    else:
        mine = sum(1 for p in psutil.process_iter(["uids"]) if p.info["uids"] and p.info["uids"].real == os.getuid())
        cap = mine + 5
        preexec = make_preexec(ResourceLimits(processes=cap))  # type: ignore[assignment]
        argv = [sys.executable, "-I", "-S", "-c", FORKER]
        expected_max = 10
    proc = subprocess.Popen(  # noqa: S603 - fixed test program
        argv, preexec_fn=preexec, stdout=subprocess.PIPE, text=True, start_new_session=True, cwd="/"
    )
    try:
        assert proc.stdout is not None
        made = int(proc.stdout.readline())
        assert 0 < made <= expected_max < 40
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


@pytest.mark.parametrize(
    ("raw", "size"),
    [
        ("4096", 4096),
        ("512M", 512 * MiB),
        ("32GiB", 32 << 30),
        ("2g", 2 << 30),
        ("10 KB", 10 << 10),
        ("0", None),
        ("none", None),
        ("", None),
        ("unlimited", None),
        (None, None),
        (123, 123),
    ],
)
def test_parse_size(raw: object, size: int | None) -> None:
    assert parse_size(raw) == size


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AS", "CPU", "NOFILE", "NPROC"):
        monkeypatch.delenv(f"CC_EXECUTOR_LIMIT_{name}", raising=False)
    monkeypatch.delenv("CC_EXECUTOR_MAX_OUTPUT_BYTES", raising=False)
    monkeypatch.delenv("CC_EXECUTOR_OUTPUT_LIMIT_ACTION", raising=False)
    defaults = ResourceLimits()
    assert defaults.model_dump() == {
        "address_space": None,
        "cpu_seconds": None,
        "open_files": None,
        "processes": None,
        "max_output_bytes": None,
        "output_limit_action": "stop_logging",
    }
    monkeypatch.setenv("CC_EXECUTOR_LIMIT_AS", "32G")
    monkeypatch.setenv("CC_EXECUTOR_LIMIT_CPU", "600")
    monkeypatch.setenv("CC_EXECUTOR_LIMIT_NOFILE", "4096")
    monkeypatch.setenv("CC_EXECUTOR_LIMIT_NPROC", "none")
    monkeypatch.setenv("CC_EXECUTOR_MAX_OUTPUT_BYTES", "100M")
    monkeypatch.setenv("CC_EXECUTOR_OUTPUT_LIMIT_ACTION", "Cancel")
    limits = ResourceLimits()
    got = (limits.address_space, limits.cpu_seconds, limits.open_files, limits.processes)
    assert got == (32 << 30, 600, 4096, None)
    assert (limits.max_output_bytes, limits.output_limit_action) == (100 * MiB, "cancel")
    monkeypatch.setenv("CC_EXECUTOR_OUTPUT_LIMIT_ACTION", "explode")
    with pytest.raises(ValueError):
        ResourceLimits()
    monkeypatch.setenv("CC_EXECUTOR_OUTPUT_LIMIT_ACTION", "cancel")
    monkeypatch.setenv("CC_EXECUTOR_LIMIT_AS", "lots")
    with pytest.raises(ValueError, match="byte count"):
        ResourceLimits()
