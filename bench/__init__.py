"""Throughput, latency, spawn, scale and slow-consumer benchmarks of the server.

Each workload runs the same shell command three ways and reads it with the same client code: through our
server (``execute`` over WebSocket JSON-RPC), through ``websocketd`` (one text message per line), and
straight from a pipe in the benchmark's own process (the physical limit). ``python -m bench`` prints the
figures, the ratios measured in the same run and whether each target is met.
"""
