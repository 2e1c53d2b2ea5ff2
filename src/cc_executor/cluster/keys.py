"""The cluster's Redis keys, named in one place (``<prefix>:…``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    prefix: str

    def node(self, node_id: str) -> str:
        """The node's liveness key: its info, expiring after the node TTL unless refreshed."""
        return f"{self.prefix}:node:{node_id}"

    @property
    def nodes(self) -> str:
        """Every node ever seen (a set): the alive ones have their liveness key."""
        return f"{self.prefix}:nodes"

    def job(self, job_id: str) -> str:
        """A job's summary (JSON, with its node)."""
        return f"{self.prefix}:job:{job_id}"

    @property
    def jobs(self) -> str:
        """Every job's id, scored by its creation time (a sorted set)."""
        return f"{self.prefix}:jobs"

    def output(self, job_id: str) -> str:
        """A job's log as a stream: entry ids ``<seq-position + 1>-<n>`` (see output_stream.py)."""
        return f"{self.prefix}:out:{job_id}"

    def control(self, node_id: str) -> str:
        """The requests for one node (a stream it alone reads)."""
        return f"{self.prefix}:ctl:{node_id}"

    def reply(self, request_id: str) -> str:
        """The answer to one control request (a list the asker pops)."""
        return f"{self.prefix}:reply:{request_id}"

    @property
    def dispatch(self) -> str:
        """Jobs waiting for a node (a stream the scheduler reads with its consumer group)."""
        return f"{self.prefix}:dispatch"

    def inbox(self, node_id: str) -> str:
        """Jobs the scheduler gave one node (a stream that node reads with its consumer group; survivors
        claim what it had not started when it dies)."""
        return f"{self.prefix}:inbox:{node_id}"

    @property
    def scheduler(self) -> str:
        """The scheduler's lease: the id of the node that places jobs now, expiring unless renewed."""
        return f"{self.prefix}:scheduler"

    @property
    def groups(self) -> str:
        """Concurrency groups' limits for the whole cluster (a hash: name -> limit)."""
        return f"{self.prefix}:groups"
