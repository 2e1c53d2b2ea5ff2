"""Building the MCP server: one ``MCPServer`` with the job tools over a given backend."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

from .. import __version__
from .backend import Backend
from .tools import register_tools

INSTRUCTIONS = (
    "Run long shell commands and AI-agent CLIs without hitting tool-call timeouts. execute waits up to "
    "wait_seconds (default 45) and returns the result, or still_running with a job_id: then call wait_job "
    "(or read_output from next_seq) until it ends. run_tasks runs a list strictly in order, resumable by run_id."
)


def build_server(backend: Backend) -> MCPServer:
    """An MCP server whose tools run jobs through ``backend`` (which the caller starts and closes)."""
    server: MCPServer = MCPServer(
        "cc-executor",
        title="CC Executor",
        instructions=INSTRUCTIONS,
        version=__version__,
        log_level="WARNING",
    )
    register_tools(server, backend)
    return server
