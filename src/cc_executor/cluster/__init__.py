"""Cluster mode: several servers sharing jobs over one Redis (docs/cluster.md). Unused without
``CC_EXECUTOR_CLUSTER_URL``."""

from .cluster import Cluster
from .node_registry import default_node_id
from .settings import ClusterSettings

__all__ = ["Cluster", "ClusterSettings", "default_node_id"]
