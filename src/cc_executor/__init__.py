"""CC Executor: run long shell commands and AI-agent CLIs over WebSocket JSON-RPC 2.0."""

__version__ = "0.1.0"
