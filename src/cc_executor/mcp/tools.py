"""The MCP tools and the job-output resource, defined over a ``Backend``.

Kept free of ``from __future__ import annotations``: the SDK reads these signatures (``Annotated`` fields and
the ``Context`` parameter) at registration to build each tool's input schema.
"""

import os
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from pydantic import Field

from ..agents.permission_bridge import cli_answer
from ..protocol.control import ControlType
from ..protocol.state import StateFilter
from .backend import Backend, BackendError, Submission, caller_key
from .results import TAIL_CHARS, has_ended, job_report, job_result, wait_with_progress
from .runs import RunStore, Task, run_report

DEFAULT_WAIT = 45.0  # below the ~60 s per-call cap common in MCP clients
MAX_WAIT = 600.0
READ_CHARS = 64 * 1024
RESOURCE_CHARS = 1 << 20

JobId = Annotated[str, Field(min_length=1, description="The job id (from execute, start_job or list_jobs).")]
Command = Annotated[str, Field(min_length=1, description="Shell command line, run by the server's shell.")]
WaitSeconds = Annotated[
    float,
    Field(
        ge=0,
        le=MAX_WAIT,
        description="How long to wait in this call before returning 'still running'. "
        "Keep it below your client's tool-call timeout (often 60 s).",
    ),
]
Timeout = Annotated[
    float | None,
    Field(gt=0, description="Seconds before the job is killed; omit to let the server estimate it from history."),
]
Cwd = Annotated[str | None, Field(description="Working directory (default: the server's).")]
Env = Annotated[dict[str, str] | None, Field(description="Extra environment variables.")]
MaxCost = Annotated[
    float | None,
    Field(
        gt=0,
        description="For an AI-agent CLI run: stop it (cancelled, reason 'budget: ...') once it cost this "
        "many US dollars.",
    ),
]
MaxTurns = Annotated[
    int | None, Field(ge=1, description="For an AI-agent CLI run: stop it once it took this many turns.")
]
MaxOutputTokens = Annotated[
    int | None, Field(ge=1, description="For an AI-agent CLI run: stop it once it wrote this many output tokens.")
]
ResumeJob = Annotated[
    str | None,
    Field(
        min_length=1,
        description="Continue this ended Claude Code job's conversation: the command (one claude invocation) gets "
        "--resume of its session and runs in that job's cwd.",
    ),
]
Retry = Annotated[
    dict[str, Any] | None,
    Field(
        description="Run it again on these endings: {max: N more attempts, on: [rate_limit, overloaded, "
        "api_error, timeout, stall, signal, failed, exit_code:N], backoff: seconds (doubling)}; an agent run "
        "resumes its session. Each attempt is a job of its own: the result's retry names the next.",
    ),
]
BudgetName = Annotated[
    str | None,
    Field(
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="A budget group the run's spending counts against (refused once the group is exhausted; "
        "see budget_status).",
    ),
]


GroupName = Annotated[
    str | None,
    Field(
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="A concurrency group (set on the server) to run in: beyond its limit the job waits queued, "
        "in order.",
    ),
]


OptionalJobId = Annotated[str | None, Field(description="A job id (all jobs when left out).")]
JOB_ENV = "CC_EXECUTOR_JOB_ID"  # jobs/job_env.py: what a job's programs (this MCP server too) are told
JOB_HEADER = "x-cc-executor-job"  # the same over /mcp: "X-CC-Executor-Job: ${CC_EXECUTOR_JOB_ID}" in --mcp-config


def permission_job(ctx: Context) -> str | None:
    """The job whose agent asks: the HTTP request's ``X-CC-Executor-Job`` header (over /mcp), else this MCP
    process's own ``CC_EXECUTOR_JOB_ID`` (``cc-executor mcp`` started by the agent inside the job)."""
    headers = ctx.headers
    named = headers.get(JOB_HEADER) if headers is not None else None
    return named or os.environ.get(JOB_ENV) or None


def _refused(exc: BackendError) -> ToolError:
    return ToolError(exc.message)


def caller(ctx: Context) -> str | None:
    """The job owner for this tool call's MCP session: over streamable HTTP, from its ``mcp-session-id`` (the SDK
    has already refused ids it did not hand out). None without one: over stdio (the process is one session) and
    for sessionless requests (protocol 2026-07-28), which then all count as the backend's one owner, so that
    having no session is never a way around the per-session limits."""
    headers = ctx.headers
    return caller_key(headers.get("mcp-session-id")) if headers is not None else None


def _progress(ctx: Context) -> Any:
    async def report(progress: float, total: float | None, message: str) -> None:
        await ctx.report_progress(progress, total, message)

    return report


def register_tools(server: MCPServer, backend: Backend, runs: RunStore | None = None) -> None:
    """Add every tool and the ``job://{job_id}/output`` resource to ``server``."""
    runs = runs or RunStore()

    @server.tool(name="execute")
    async def execute(
        command: Command,
        ctx: Context,
        wait_seconds: WaitSeconds = DEFAULT_WAIT,
        timeout: Timeout = None,
        cwd: Cwd = None,
        env: Env = None,
        max_cost_usd: MaxCost = None,
        max_turns: MaxTurns = None,
        max_output_tokens: MaxOutputTokens = None,
        budget: BudgetName = None,
        resume_job: ResumeJob = None,
        retry: Retry = None,
        group: GroupName = None,
    ) -> dict[str, Any]:
        """Run a shell command and wait for it up to wait_seconds (default 45).

        Returns the finished result (status, exit_code, duration, the last 8 KB of stdout and of stderr, the
        agent summary for AI-agent CLIs, job_id), or, if it is still running, still_running=true with the
        job_id and next_seq: then call wait_job to wait more, or read_output from a seq. The job goes on
        running between calls. Sends progress notifications while waiting.
        """
        try:
            started = await backend.submit(
                Submission(
                    command,
                    timeout,
                    cwd,
                    dict(env or {}),
                    caller=caller(ctx),
                    max_cost_usd=max_cost_usd,
                    max_turns=max_turns,
                    max_output_tokens=max_output_tokens,
                    budget=budget,
                    resume_job=resume_job,
                    retry=retry,
                    group=group,
                )
            )
            summary = await wait_with_progress(backend, started["job_id"], wait_seconds, _progress(ctx))
            return await job_report(backend, summary)
        except BackendError as exc:
            raise _refused(exc) from None

    @server.tool(name="start_job")
    async def start_job(
        command: Command,
        ctx: Context,
        timeout: Timeout = None,
        cwd: Cwd = None,
        env: Env = None,
        queue: Annotated[str | None, Field(description="Jobs in one queue run one at a time, in order.")] = None,
        depends_on: Annotated[
            list[str] | None, Field(description="Job ids that must complete first (else this one is cancelled).")
        ] = None,
        labels: Annotated[dict[str, str] | None, Field(description="Labels to find the job by.")] = None,
        max_cost_usd: MaxCost = None,
        max_turns: MaxTurns = None,
        max_output_tokens: MaxOutputTokens = None,
        budget: BudgetName = None,
        resume_job: ResumeJob = None,
        retry: Retry = None,
        group: GroupName = None,
    ) -> dict[str, Any]:
        """Start a command in the background and return at once with its job_id (status started or queued).

        Follow it with job_status, read_output, wait_job; control it with pause_job, resume_job, cancel_job.
        """
        try:
            return await backend.submit(
                Submission(
                    command,
                    timeout,
                    cwd,
                    dict(env or {}),
                    queue,
                    list(depends_on or []),
                    dict(labels or {}),
                    caller=caller(ctx),
                    max_cost_usd=max_cost_usd,
                    max_turns=max_turns,
                    max_output_tokens=max_output_tokens,
                    budget=budget,
                    resume_job=resume_job,
                    retry=retry,
                    group=group,
                )
            )
        except BackendError as exc:
            raise _refused(exc) from None

    @server.tool(name="job_status")
    async def job_status(job_id: JobId) -> dict[str, Any]:
        """A job's state, exit code, duration, timeout and its source, output size and next_seq (no output)."""
        try:
            return job_result(await backend.get(job_id))
        except BackendError as exc:
            raise _refused(exc) from None

    @server.tool(name="read_output")
    async def read_output(
        job_id: JobId,
        from_seq: Annotated[int, Field(ge=0, description="First output seq to return (0: the beginning).")] = 0,
        max_chars: Annotated[int, Field(ge=1, le=READ_CHARS, description="Most characters to return.")] = READ_CHARS,
    ) -> dict[str, Any]:
        """Read a job's output from an output seq on, at most max_chars (64 KB) per call, live or ended.

        Returns stdout and stderr text, next_seq (pass it as from_seq next time: pages join with no gap and
        no overlap), more (true when output already produced was left for the next call) and the job state.
        """
        try:
            chunk = await backend.read(job_id, from_seq, max_chars)
            summary = await backend.get(job_id)
        except BackendError as exc:
            raise _refused(exc) from None
        return {
            "job_id": job_id,
            "from_seq": from_seq,
            "next_seq": chunk.next_seq,
            "stdout": chunk.text("stdout"),
            "stderr": chunk.text("stderr"),
            "more": chunk.more,
            "status": summary.get("state"),
            "still_running": not has_ended(summary),
        }

    @server.tool(name="wait_job")
    async def wait_job(job_id: JobId, ctx: Context, wait_seconds: WaitSeconds = DEFAULT_WAIT) -> dict[str, Any]:
        """Wait on the server, up to wait_seconds (default 45), for a job to end; no polling needed.

        Returns the same as execute: the finished result with output tails, or still_running=true.
        Sends progress notifications while waiting.
        """
        try:
            summary = await wait_with_progress(backend, job_id, wait_seconds, _progress(ctx))
            return await job_report(backend, summary)
        except BackendError as exc:
            raise _refused(exc) from None

    async def control(job_id: str, action: ControlType) -> dict[str, Any]:
        try:
            result = await backend.control(job_id, action)
            return result | {"state": (await backend.get(job_id)).get("state")}
        except BackendError as exc:
            raise _refused(exc) from None

    @server.tool(name="cancel_job")
    async def cancel_job(job_id: JobId) -> dict[str, Any]:
        """Cancel a job: its whole process tree gets SIGTERM, then SIGKILL after a grace period."""
        return await control(job_id, ControlType.CANCEL)

    @server.tool(name="pause_job")
    async def pause_job(job_id: JobId) -> dict[str, Any]:
        """Pause a running job (SIGSTOP to its whole process tree); resume_job continues it."""
        return await control(job_id, ControlType.PAUSE)

    @server.tool(name="resume_job")
    async def resume_job(job_id: JobId) -> dict[str, Any]:
        """Resume a paused job (SIGCONT to its whole process tree)."""
        return await control(job_id, ControlType.RESUME)

    @server.tool(name="list_jobs")
    async def list_jobs(
        state: Annotated[StateFilter | None, Field(description="Only jobs in this state ('live': not ended).")] = None,
        limit: Annotated[int, Field(ge=1, le=500, description="Most jobs to return, newest first.")] = 20,
    ) -> dict[str, Any]:
        """List jobs on the server, newest first: id, command, state, exit code, duration."""
        try:
            jobs = await backend.list(state, limit)
        except BackendError as exc:
            raise _refused(exc) from None
        keys = ("job_id", "command", "state", "exit_code", "duration", "created_at", "labels")
        return {"jobs": [{key: job.get(key) for key in keys} for job in jobs]}

    @server.tool(name="estimate_timeout")
    async def estimate_timeout(command: Command) -> dict[str, Any]:
        """The timeout the server would pick for a command (from its run history and load), and why."""
        try:
            return await backend.estimate(command)
        except BackendError as exc:
            raise _refused(exc) from None

    @server.tool(name="budget_status")
    async def budget_status(
        name: Annotated[str, Field(min_length=1, max_length=100, description="The budget group's name.")],
    ) -> dict[str, Any]:
        """A budget group's caps, what its jobs spent (and what its running jobs spend now), what is left under
        each cap (null: no cap), and whether it is exhausted (then new jobs naming it are refused)."""
        try:
            return await backend.budget(name)
        except BackendError as exc:
            raise _refused(exc) from None

    @server.tool(name="approve", structured_output=False)
    async def approve(
        tool_name: Annotated[str, Field(description="The tool the agent wants to use.")],
        input: Annotated[dict[str, Any], Field(description="The input it wants to give it.")],
        ctx: Context,
        tool_use_id: Annotated[str | None, Field(description="The tool call's id.")] = None,
    ) -> str:
        """Claude Code's permission prompt (`--permission-prompt-tool mcp__cc-executor__approve`): hands the
        request to the CC Executor job this agent runs in, where a client or webhook receiver answers it
        (permission.respond); denied when nobody does within the job's permission timeout."""
        job_id = permission_job(ctx)
        if job_id is None:
            return cli_answer("deny", input, None, f"cc-executor: no job to ask for ({JOB_ENV} is not set)")
        try:
            answer = await backend.ask_permission(job_id, tool_name, input, tool_use_id)
        except BackendError as exc:
            return cli_answer("deny", input, None, f"cc-executor could not ask: {exc.message}")
        return str(answer["text"])

    @server.tool(name="permission_requests")
    async def permission_requests(job_id: OptionalJobId = None) -> dict[str, Any]:
        """Agents' permission requests waiting for an answer (of one job when given): request_id, job_id,
        tool_name, input, expires_at. Answer one with answer_permission."""
        try:
            return {"requests": await backend.permission_requests(job_id)}
        except BackendError as exc:
            raise _refused(exc) from None

    @server.tool(name="answer_permission")
    async def answer_permission(
        request_id: Annotated[str, Field(min_length=1, description="From permission_requests.")],
        behavior: Annotated[Literal["allow", "deny"], Field(description="allow or deny.")],
        updated_input: Annotated[
            dict[str, Any] | None, Field(description="allow: run the tool with this input instead.")
        ] = None,
        message: Annotated[str | None, Field(description="deny: what the agent is told.")] = None,
    ) -> dict[str, Any]:
        """Answer an agent's permission request: allow (optionally with an edited input) or deny."""
        try:
            return await backend.respond_permission(request_id, behavior, updated_input, message)
        except BackendError as exc:
            raise _refused(exc) from None

    @server.tool(name="run_tasks")
    async def run_tasks(
        ctx: Context,
        tasks: Annotated[
            list[Task | str] | None,
            Field(description="Commands (strings or objects) to run one after another, in this order."),
        ] = None,
        resume_id: Annotated[
            str | None, Field(description="run_id of an earlier run_tasks call: wait more and report.")
        ] = None,
        keep_going: Annotated[bool, Field(description="Run every task even after one fails.")] = False,
        wait_seconds: WaitSeconds = DEFAULT_WAIT,
    ) -> dict[str, Any]:
        """Run a task list strictly in order on the server; a failed task stops the rest unless keep_going.

        The list runs on the server between calls. Returns per-task results (status, exit_code, timestamps,
        short output tails) when done within wait_seconds, else still_running=true with a run_id and the
        progress so far: call run_tasks(resume_id=run_id) to go on waiting. The job_ids are in the result
        too, for job_status/read_output from any MCP client.
        """
        try:
            if resume_id is not None:
                run = await runs.find(backend, resume_id)
            elif tasks:
                parsed = [Task(command=t) if isinstance(t, str) else t for t in tasks]
                run = await runs.submit(backend, parsed, keep_going, caller(ctx))
            else:
                raise ToolError("give either tasks (a non-empty list) or resume_id")
            await wait_with_progress(backend, run.job_ids[-1], wait_seconds, _progress(ctx))
            return await run_report(backend, run)
        except BackendError as exc:
            raise _refused(exc) from None

    @server.resource(
        "job://{job_id}/output",
        name="job_output",
        description="A job's output so far (stdout and stderr interleaved as produced, first 1 MB).",
        mime_type="text/plain",
    )
    async def job_output(job_id: str) -> str:
        parts: list[str] = []
        size, seq = 0, 0
        try:
            while size < RESOURCE_CHARS:
                chunk = await backend.read(job_id, seq, min(READ_CHARS * 4, RESOURCE_CHARS - size))
                if not chunk.events:
                    break
                parts.extend(data for _, _, data in chunk.events)
                size += chunk.size
                seq = chunk.next_seq
            summary = await backend.get(job_id)
        except BackendError as exc:
            raise ResourceError(exc.message) from None
        end = int(summary.get("next_seq") or 0)
        if seq < end:
            parts.append(f"\n[output continues: call read_output(job_id={job_id!r}, from_seq={seq})]\n")
        return "".join(parts)


__all__ = ["DEFAULT_WAIT", "MAX_WAIT", "READ_CHARS", "TAIL_CHARS", "register_tools"]
