"""Red team: the allow-list holds against every attack of ``attack_corpus`` on a real server and real shells.

One server per shell (``CC_EXECUTOR_SHELL=bash`` / ``zsh``, ``ALLOWED_COMMANDS=echo,ls``, no auth) gets every
applicable attack as a real ``execute`` over a real WebSocket, 8 in flight. Each attack has its own scratch
directory holding a planted kit (fake ``ls``, start-up files, shared objects …) and its own marker path; every
payload creates the marker when it runs. An attack passes when the server refuses it (-32002, or -32602 for
a malformed env/cwd) or the job ends and the marker does not exist. Harmless compounds of echo and ls must be
accepted and print what they should. A pre_execute hook that rewrites an allowed command into an attack must
not get it run. Control tests run a few attacks with the allow-list off and require their markers, so "no
marker" really means "did not run".
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import websockets
from attack_corpus import (
    ATTACKS,
    HARMLESS,
    KIT,
    Attack,
    Harmless,
    attacks_for,
    harmless_for,
)
from conftest import ServerProcess
from rpc_client import RpcClient

pytestmark = pytest.mark.timeout(300)

SHELLS = ("bash", "zsh")
ALLOWED = "echo,ls"
COMMAND_NOT_ALLOWED = -32002
INVALID_PARAMS = -32602
BLOCKED_BY_HOOK = -32006
JOB_TIMEOUT = 5.0  # the execute's own timeout: nothing in the corpus may hang the run
IN_FLIGHT = 8
SETTLE = 0.5  # after the last job ends, for post_execute hooks and stragglers that might still write a marker
HOOK_SCRIPTS = Path(__file__).parent / "hook_scripts"

# A shared object whose constructor runs /usr/bin/touch on the path held in ".marker" next to it: loaded by
# LD_PRELOAD/LD_AUDIT, or (with the libselinux stubs) as the libselinux.so.1 that /usr/bin/ls links.
_SO_SOURCE = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

unsigned int la_version(unsigned int version) { return version; }

__attribute__((constructor)) static void redteam_fire(void) {
    Dl_info info;
    char path[4096], marker[4096];
    if (!dladdr((void *)redteam_fire, &info) || !info.dli_fname) return;
    snprintf(path, sizeof path, "%s", info.dli_fname);
    char *slash = strrchr(path, '/');
    if (!slash) return;
    snprintf(slash + 1, sizeof path - (size_t)(slash + 1 - path), ".marker");
    FILE *f = fopen(path, "r");
    if (!f) return;
    if (!fgets(marker, sizeof marker, f)) { fclose(f); return; }
    fclose(f);
    marker[strcspn(marker, "\n")] = 0;
    pid_t pid = fork();
    if (pid == 0) {
        unsetenv("LD_PRELOAD"); unsetenv("LD_AUDIT"); unsetenv("LD_LIBRARY_PATH");
        execl("/usr/bin/touch", "touch", marker, (char *)0);
        _exit(127);
    }
    if (pid > 0) waitpid(pid, 0, 0);
}
"""
_SELINUX_STUBS = r"""
int getfilecon(const char *p, char **c) { (void)p; (void)c; return -1; }
int lgetfilecon(const char *p, char **c) { (void)p; (void)c; return -1; }
int fgetfilecon(int fd, char **c) { (void)fd; (void)c; return -1; }
void freecon(char *c) { (void)c; }
"""
_SELINUX_VERSIONS = "LIBSELINUX_1.0 { global: getfilecon; lgetfilecon; fgetfilecon; freecon; la_version; };\n"


# -- the kit and the requests ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PayloadLibs:
    """Compiled shared objects to plant: the preload/audit object and the libselinux stand-in."""

    evil: Path
    selinux: Path


def build_payload_libs(where: Path) -> PayloadLibs | None:
    """Compile the shared objects with the system C compiler; None when there is none or it fails."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    where.mkdir(parents=True, exist_ok=True)
    (where / "evil.c").write_text(_SO_SOURCE)
    (where / "selinux.c").write_text(_SO_SOURCE + _SELINUX_STUBS)
    (where / "selinux.map").write_text(_SELINUX_VERSIONS)
    builds = [
        [compiler, "-shared", "-fPIC", "-O1", "-o", str(where / "evil.so"), str(where / "evil.c")],
        [
            compiler,
            "-shared",
            "-fPIC",
            "-O1",
            "-Wl,-soname,libselinux.so.1",
            f"-Wl,--version-script={where / 'selinux.map'}",
            "-o",
            str(where / "libselinux.so.1"),
            str(where / "selinux.c"),
        ],
    ]
    for build in builds:
        if subprocess.run(build, capture_output=True, timeout=60, check=False).returncode != 0:
            return None
    return PayloadLibs(where / "evil.so", where / "libselinux.so.1")


def _script(path: Path, body: str, *, executable: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    if executable:
        path.chmod(0o755)


def _hooks_json(path: Path, hooks: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"hooks": hooks}))


def plant_kit(d: Path, marker: Path, libs: PayloadLibs | None) -> None:
    """Plant every ``attack_corpus.KIT`` piece in ``d``; each creates ``marker`` when it runs."""
    touch = f"/usr/bin/touch '{marker}'\n"
    for name in ("bin/ls", "bin/echo", "ls", "echo"):
        _script(d / name, "#!/bin/sh\n" + touch)
    for name in ("env.sh", "rc=1", "payload.sh", "zdot/.zshenv"):
        _script(d / name, touch, executable=False)
    _script(d / "cmd.txt", f"touch {marker}\n", executable=False)  # words for $(<file): PATH finds touch
    (d / "sub").mkdir(exist_ok=True)
    (d / "a.txt").write_text("")
    hook = {"type": "command", "command": f"/usr/bin/touch '{marker}'"}
    _hooks_json(d / "hooky/.cc-executor/hooks.json", {"pre_execute": [{"hooks": [hook]}]})
    rewrite = {"type": "command", "command": "echo " + shlex.quote(json.dumps({"command": f"touch {marker}"}))}
    _hooks_json(d / "hooky-rewrite/.cc-executor/hooks.json", {"pre_execute": [{"hooks": [rewrite]}]})
    answer = json.dumps({"env": {"BASH_ENV": f"$(touch {marker})"}})
    # single quotes: the hook's sh must not expand it
    env = {"type": "command", "command": "echo " + shlex.quote(answer)}
    _hooks_json(d / "hooky-env/.cc-executor/hooks.json", {"pre_execute": [{"hooks": [env]}]})
    _hooks_json(d / "hooky-post/.cc-executor/hooks.json", {"post_execute": [{"hooks": [hook]}]})
    (d / "hooky-write/.cc-executor").mkdir(parents=True)
    if libs is not None:
        (d / "lib").mkdir(exist_ok=True)
        shutil.copyfile(libs.evil, d / "evil.so")
        shutil.copyfile(libs.evil, d / "evil=.so")
        shutil.copyfile(libs.selinux, d / "lib/libselinux.so.1")
        (d / ".marker").write_text(f"{marker}\n")
        (d / "lib/.marker").write_text(f"{marker}\n")


def fill(text: str, d: Path, marker: Path) -> str:
    """Replace the corpus placeholders."""
    return text.replace("{MARKER}", str(marker)).replace("{DIR}", str(d)).replace("{HOME}", os.environ.get("HOME", ""))


@dataclass
class Prepared:
    """One entry ready to send: its scratch dir, marker and ``execute`` params."""

    key: str
    entry: Attack | Harmless
    dir: Path
    marker: Path
    params: dict[str, Any]


def prepare_attack(attack: Attack, base: Path, libs: PayloadLibs | None) -> Prepared:
    """Make the attack's scratch dir with its kit, and its ``execute`` params."""
    d = base / attack.id
    d.mkdir(parents=True)
    marker = d / "marker"
    plant_kit(d, marker, libs)
    cwd = d if attack.cwd is None else d / fill(attack.cwd, d, marker)
    if attack.make_cwd:
        cwd.mkdir(parents=True, exist_ok=True)
    params: dict[str, Any] = {"command": fill(attack.command, d, marker), "timeout": JOB_TIMEOUT, "cwd": str(cwd)}
    if attack.env:
        params["env"] = {fill(k, d, marker): fill(v, d, marker) for k, v in attack.env}
    return Prepared(attack.id, attack, d, marker, params)


def prepare_harmless(item: Harmless, base: Path) -> Prepared:
    """Make the harmless entry's scratch dir (only its listed files) and its ``execute`` params."""
    d = base / f"harmless-{item.id}"
    d.mkdir(parents=True)
    for name in item.files:
        (d / name).write_text("")
    marker = d / "marker"  # never planted: harmless entries have no payload
    params = {"command": fill(item.command, d, marker), "timeout": JOB_TIMEOUT, "cwd": str(d)}
    return Prepared(item.id, item, d, marker, params)


# -- running them -----------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What the server did with one ``execute``."""

    error: dict[str, Any] | None = None  # the JSON-RPC error when refused
    status: str | None = None  # the job's final status when accepted
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    problem: str | None = None  # the harness could not get an answer or an end

    def summary(self) -> str:
        if self.problem:
            return f"harness problem: {self.problem}"
        if self.error is not None:
            return f"refused {self.error.get('code')}: {self.error.get('message')!r}"
        return (
            f"accepted; job {self.status}, exit {self.exit_code}; "
            f"stdout {self.stdout[-300:]!r}; stderr {self.stderr[-300:]!r}"
        )


async def _run_one(rpc: RpcClient, item: Prepared) -> Outcome:
    try:
        response = await rpc.request("execute", item.params, timeout=30)
    except (OSError, TimeoutError, websockets.WebSocketException) as exc:  # reported against this entry
        return Outcome(problem=f"execute got no answer: {exc!r}")
    if "error" in response:
        return Outcome(error=response["error"])
    job_id = response["result"]["job_id"]
    try:
        events = await rpc.collect_until_completed(job_id, timeout=JOB_TIMEOUT + 25)
    except (OSError, TimeoutError, websockets.WebSocketException) as exc:
        return Outcome(status="unknown", problem=f"no process.completed: {exc!r}")
    out = Outcome()
    for event in events:
        params = event["params"]
        if event["method"] == "process.output":
            if params["type"] == "stdout":
                out.stdout += params["data"]
            else:
                out.stderr += params["data"]
        elif event["method"] == "process.error":
            out.stderr += f"[process.error] {params.get('error')}"
        elif event["method"] == "process.completed":
            out.status, out.exit_code = params.get("status"), params.get("exit_code")
    return out


async def run_all(url: str, items: list[Prepared], in_flight: int = IN_FLIGHT) -> dict[str, Outcome]:
    """Send every item over ``in_flight`` connections, one job at a time each; outcomes by key."""
    queue: asyncio.Queue[Prepared] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)
    results: dict[str, Outcome] = {}

    async def worker() -> None:
        rpc: RpcClient | None = None
        while not queue.empty():
            item = queue.get_nowait()
            try:
                if rpc is None or rpc.closed.is_set():
                    rpc = await RpcClient.connect(url)
                results[item.key] = await _run_one(rpc, item)
            except (OSError, TimeoutError, websockets.WebSocketException) as exc:
                results[item.key] = Outcome(problem=f"could not connect: {exc!r}")
        if rpc is not None:
            await rpc.close()

    await asyncio.gather(*(worker() for _ in range(in_flight)))
    await asyncio.sleep(SETTLE)
    return results


def policy_server(workdir: Path, shell: str, *, allowed: str | None = ALLOWED, **extra: str) -> ServerProcess:
    """A started no-auth server for ``shell``, with the allow-list (or none), isolated from user hooks."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config").mkdir(exist_ok=True)
    env = {"CC_EXECUTOR_SHELL": shell, "CC_EXECUTOR_CONFIG_DIR": str(workdir / "config"), **extra}
    if allowed is not None:
        env["ALLOWED_COMMANDS"] = allowed
    srv = ServerProcess(workdir, env)
    srv.start()
    return srv


def require_shell(shell: str) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")


@dataclass
class ShellRun:
    """Every corpus entry of one shell, prepared and sent; with the server's log for failure messages."""

    shell: str
    prepared: dict[str, Prepared]
    outcomes: dict[str, Outcome]
    server: ServerProcess
    seconds: float
    harmless_prepared: dict[str, Prepared] = field(default_factory=dict)


@pytest.fixture(scope="module")
def payload_libs(tmp_path_factory: pytest.TempPathFactory) -> PayloadLibs | None:
    """The compiled shared objects for LD_* attacks (None without a C compiler)."""
    return build_payload_libs(tmp_path_factory.mktemp("redteam-libs"))


@pytest.fixture(scope="module")
def corpus_run(
    tmp_path_factory: pytest.TempPathFactory, payload_libs: PayloadLibs | None
) -> Iterator[Callable[[str], ShellRun]]:
    """Per shell, on first use: one guarded server, every applicable entry sent, outcomes kept."""
    runs: dict[str, ShellRun] = {}
    broken: dict[str, str] = {}  # a shell whose server would not start fails every test at once, not per test
    servers: list[ServerProcess] = []

    def get(shell: str) -> ShellRun:
        require_shell(shell)
        if shell in broken:
            pytest.fail(broken[shell], pytrace=False)
        if shell not in runs:
            base = tmp_path_factory.mktemp(f"redteam-{shell}")
            try:
                srv = policy_server(base / "server", shell)
            except RuntimeError as exc:
                broken[shell] = f"the {shell} server did not start: {str(exc)[-2000:]}"
                raise
            servers.append(srv)
            attacks = {a.id: prepare_attack(a, base / "attacks", payload_libs) for a in attacks_for(shell)}
            harmless = {h.id: prepare_harmless(h, base / "harmless") for h in harmless_for(shell)}
            started = time.monotonic()
            outcomes = asyncio.run(run_all(srv.url, [*attacks.values(), *harmless.values()]))
            runs[shell] = ShellRun(shell, attacks, outcomes, srv, time.monotonic() - started, harmless)
        return runs[shell]

    yield get
    for srv in servers:
        srv.stop()


def refusal_codes(attack: Attack) -> set[int]:
    """The refusals that count as holding: policy, or invalid params where the env or cwd is malformed."""
    malformed = attack.env or attack.cwd is not None or "\x00" in attack.command
    return {COMMAND_NOT_ALLOWED, INVALID_PARAMS} if malformed else {COMMAND_NOT_ALLOWED}


def attack_verdict(attack: Attack, prepared: Prepared, outcome: Outcome) -> str | None:
    """None when the attack was held; otherwise why not, in one line."""
    if prepared.marker.exists():
        return f"RAN: the marker was created ({outcome.summary()})"
    if outcome.problem:
        return outcome.summary()
    if outcome.error is not None:
        if outcome.error.get("code") in refusal_codes(attack):
            return None
        return f"refused with an unexpected error: {outcome.summary()}"
    return None  # accepted, ended, and nothing ran


# -- the corpus's own shape -------------------------------------------------------------------------------


def test_corpus_is_well_formed() -> None:
    """Ids are unique, sizes are as promised, and every attack carries a payload that writes the marker."""
    ids = [a.id for a in ATTACKS]
    assert len(ids) == len(set(ids)), "duplicate attack ids"
    assert len({h.id for h in HARMLESS}) == len(HARMLESS), "duplicate harmless ids"
    assert len(ATTACKS) >= 300 and len(HARMLESS) >= 30
    for attack in ATTACKS:
        # the payload is spelled out, or is a planted kit piece: reached by a path, an env entry or a cwd
        text = attack.command + "".join(k + v for k, v in attack.env) + (attack.cwd or "")
        assert (
            "{MARKER}" in text
            or "{DIR}" in text
            or attack.env
            or attack.cwd
            or "PATH=" in text
            or (attack.command.strip() in ("./ls", "bin/ls", ". ./payload.sh"))
        ), attack.id
        assert set(attack.shells) <= set(SHELLS) and attack.shells, attack.id
        assert "echo > {MARKER}" not in attack.command and "ls > {MARKER}" not in attack.command, attack.id
    for item in HARMLESS:
        assert "{MARKER}" not in item.command, item.id
    assert set(KIT) >= {"bin/ls", "env.sh", "zdot/.zshenv", "evil.so"}


# -- the corpus against a guarded server -----------------------------------------------------------------

ATTACK_PARAMS = [pytest.param(shell, a, id=f"{shell}-{a.id}") for shell in SHELLS for a in attacks_for(shell)]
HARMLESS_PARAMS = [pytest.param(shell, h, id=f"{shell}-{h.id}") for shell in SHELLS for h in harmless_for(shell)]


@pytest.mark.parametrize(("shell", "attack"), ATTACK_PARAMS)
def test_attack_is_held(
    shell: str, attack: Attack, corpus_run: Callable[[str], ShellRun], payload_libs: PayloadLibs | None
) -> None:
    """Refused, or accepted and ended without its marker."""
    if "cc" in attack.needs and payload_libs is None:
        pytest.skip("no C compiler to build the planted shared objects")
    run = corpus_run(shell)
    prepared, outcome = run.prepared[attack.id], run.outcomes[attack.id]
    verdict = attack_verdict(attack, prepared, outcome)
    assert verdict is None, (
        f"[{shell}] {attack.id} (family {attack.family}): {verdict}\n"
        f"  command: {prepared.params['command']!r}\n"
        f"  env: {prepared.params.get('env')!r}\n  cwd: {prepared.params['cwd']!r}"
    )


@pytest.mark.parametrize(("shell", "item"), HARMLESS_PARAMS)
def test_harmless_is_accepted(shell: str, item: Harmless, corpus_run: Callable[[str], ShellRun]) -> None:
    """Accepted, exit 0, and exactly the expected output."""
    run = corpus_run(shell)
    prepared, outcome = run.harmless_prepared[item.id], run.outcomes[item.id]
    expected = fill(item.stdout, prepared.dir, prepared.marker)
    assert outcome.error is None and outcome.problem is None, f"[{shell}] {item.id}: {outcome.summary()}"
    assert (outcome.status, outcome.exit_code) == ("completed", 0), f"[{shell}] {item.id}: {outcome.summary()}"
    assert outcome.stdout == expected, f"[{shell}] {item.id}: {prepared.params['command']!r}: {outcome.summary()}"


@pytest.mark.parametrize("shell", SHELLS)
def test_corpus_runs_quickly(shell: str, corpus_run: Callable[[str], ShellRun]) -> None:
    """Every entry got an answer, and the whole shell's corpus took well under a minute."""
    run = corpus_run(shell)
    assert set(run.outcomes) == set(run.prepared) | set(run.harmless_prepared)
    assert run.seconds < 45, f"{shell}: corpus took {run.seconds:.1f} s"


# -- control: the harness can fail --------------------------------------------------------------------------

CONTROL_IDS = {
    "bash": [
        "redteam-sq-dq-cmdsub",
        "redteam-env-bash-func-ls",
        "redteam-env-path-fake-dir",
        "cwd-path-dot",
        "splice-sq-text-backtick",
        "heredoc-body-cmdsub",
        "arith-dollar-arith-var",
        "cwd-path-relative-bin",
        "redteam-env-ld-preload",
        "env-ld-library-path",
        "basic-semicolon",
        "redteam-prompt-expansion",
        "env-bash-env-cmdsub",
    ],
    "zsh": [
        "redteam-zsh-unbraced-subscript",
        "zsh-glob-qual-e",
        "zsh-e-flag",
        "redteam-env-zdotdir",
        "splice-sq-empty-cmdsub",
        "redteam-env-path-fake-dir",
        "redteam-env-ld-preload",
        "zsh-equals-cmd",
    ],
}


@pytest.mark.parametrize("shell", SHELLS)
def test_control_attacks_run_without_the_allow_list(
    shell: str, tmp_path: Path, payload_libs: PayloadLibs | None
) -> None:
    """With no allow-list the same harness sees these attacks create their markers."""
    require_shell(shell)
    by_id = {a.id: a for a in ATTACKS}
    chosen = [by_id[i] for i in CONTROL_IDS[shell] if payload_libs is not None or "cc" not in by_id[i].needs]
    srv = policy_server(tmp_path / "server", shell, allowed=None)
    try:
        items = [prepare_attack(a, tmp_path / "attacks", payload_libs) for a in chosen]
        outcomes = asyncio.run(run_all(srv.url, items))
    finally:
        srv.stop()
    missing = [f"{i.key}: {outcomes[i.key].summary()}" for i in items if not i.marker.exists()]
    assert not missing, "control attacks did not create their marker:\n" + "\n".join(missing)


# -- a pre_execute hook's rewrite is checked again --------------------------------------------------------

# name -> the hook's JSON answer (placeholders filled per variant); the original command is "echo hook-NAME"
HOOK_REWRITES: dict[str, dict[str, Any]] = {
    "command": {"command": "touch {MARKER}"},
    "command-spliced": {"command": "echo ''\"$(touch {MARKER})\"''"},
    "command-ls-then": {"command": "ls; touch {MARKER}"},
    "env-bash-func": {"env": {"BASH_FUNC_echo%%": "() { touch {MARKER}; }"}},
    "env-bash-env": {"env": {"BASH_ENV": "$(touch {MARKER})"}},
    "env-path": {"command": "ls", "env": {"PATH": "{DIR}/bin:/usr/bin:/bin"}},
    "cwd-and-dot-path": {"command": "ls", "env": {"PATH": ".:/usr/bin:/bin"}, "cwd": "{DIR}"},
}


@dataclass
class HookServer:
    """A guarded bash server whose pre_execute hooks rewrite ``echo hook-NAME`` by ``HOOK_REWRITES``."""

    server: ServerProcess
    dirs: dict[str, Path]
    proof: Path


@pytest.fixture(scope="module")
def hook_server(tmp_path_factory: pytest.TempPathFactory, payload_libs: PayloadLibs | None) -> Iterator[HookServer]:
    base = tmp_path_factory.mktemp("redteam-hooks")
    record = base / "events.jsonl"
    groups, dirs = [], {}
    for name, answer in HOOK_REWRITES.items():
        d = base / name
        d.mkdir()
        plant_kit(d, d / "marker", payload_libs)
        filled = json.loads(fill(json.dumps(answer), d, d / "marker"))
        answer_command = shlex.join([sys.executable, str(HOOK_SCRIPTS / "answer.py"), str(record), json.dumps(filled)])
        hook = {"type": "command", "command": answer_command}
        groups.append({"matcher": f"^echo hook-{name}$", "hooks": [hook]})
        dirs[name] = d
    proof = base / "proof.txt"
    control = {"command": f"echo rewritten > {proof}"}
    control_command = shlex.join([sys.executable, str(HOOK_SCRIPTS / "answer.py"), str(record), json.dumps(control)])
    groups.append({"matcher": "^echo hook-control$", "hooks": [{"type": "command", "command": control_command}]})
    config = base / "hooks.json"
    config.write_text(json.dumps({"hooks": {"pre_execute": groups}}))
    srv = policy_server(base / "server", "bash", CC_EXECUTOR_HOOKS_FILE=str(config))
    try:
        yield HookServer(srv, dirs, proof)
    finally:
        srv.stop()


async def _execute_and_wait(url: str, command: str, cwd: Path) -> Outcome:
    async with await RpcClient.connect(url) as rpc:
        item = Prepared(
            "hook",
            Harmless("hook", command, ""),
            cwd,
            cwd / "marker",
            {"command": command, "timeout": JOB_TIMEOUT, "cwd": str(cwd)},
        )
        return await _run_one(rpc, item)


def test_hook_rewrite_control_applies(hook_server: HookServer) -> None:
    """The harness's hooks do rewrite: an allowed rewrite runs and writes its proof file."""
    outcome = asyncio.run(_execute_and_wait(hook_server.server.url, "echo hook-control", hook_server.proof.parent))
    assert outcome.error is None and outcome.status == "completed", outcome.summary()
    assert hook_server.proof.read_text() == "rewritten\n"


@pytest.mark.parametrize("name", list(HOOK_REWRITES))
def test_hook_rewrite_is_checked_again(name: str, hook_server: HookServer) -> None:
    """``echo hook-NAME`` is allowed; what the hook rewrites it into must not run."""
    d = hook_server.dirs[name]
    outcome = asyncio.run(_execute_and_wait(hook_server.server.url, f"echo hook-{name}", d))
    time.sleep(0.2)
    assert not (d / "marker").exists(), f"hook rewrite {name} RAN: {outcome.summary()}"
    if outcome.error is not None:
        assert outcome.error.get("code") in {COMMAND_NOT_ALLOWED, INVALID_PARAMS, BLOCKED_BY_HOOK}, outcome.summary()
    else:
        assert outcome.problem is None, outcome.summary()
