"""The protocol's vocabulary, shared by the job core and every edge: job states, events, error codes.

Transport-free and I/O-free: nothing here imports another cc_executor package, so the job core, rpc, the server,
the client, the CLI and the MCP bridge all speak the same words (PROTOCOL.md, docs/protocol.md).
"""
