"""MCP server: agents run and follow long jobs through MCP tools, over stdio or streamable HTTP."""

from .backend import Backend, BackendError, OutputChunk, Submission
from .server import build_server

__all__ = ["Backend", "BackendError", "OutputChunk", "Submission", "build_server"]
