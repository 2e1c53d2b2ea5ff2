"""Python client for CC Executor: an async ``Client`` with typed events and reconnects, and sync ``run``."""

from ..protocol.events import (
    Cancelled,
    Completed,
    Event,
    HookWarning,
    Notification,
    Output,
    Paused,
    ProcessError,
    Queued,
    RateLimit,
    Resumed,
    Stalled,
    Started,
    TokenLimit,
)
from .client import Client
from .discovery import Endpoint, discover, health_url, token_file
from .errors import (
    BlockedByHook,
    ClientError,
    CommandNotAllowed,
    ConnectionLost,
    HistoryUnavailable,
    InvalidParams,
    JobDetached,
    JobNotFound,
    LimitReached,
    MethodNotFound,
    RateLimited,
    ServerError,
    ServerUnavailable,
    StreamTimeout,
    Unauthorized,
)
from .job import Job
from .reconnect import ReconnectPolicy
from .settings import ClientSettings
from .sync import Result, run, run_tasks

__all__ = [
    "BlockedByHook", "Cancelled", "Client", "ClientError", "ClientSettings", "CommandNotAllowed", "Completed",
    "ConnectionLost", "Endpoint", "Event", "HistoryUnavailable", "HookWarning", "InvalidParams", "Job",
    "JobDetached", "JobNotFound", "LimitReached", "MethodNotFound", "Notification", "Output", "Paused",
    "ProcessError", "Queued", "RateLimit", "RateLimited", "ReconnectPolicy", "Result", "Resumed", "ServerError",
    "ServerUnavailable", "Stalled", "Started", "StreamTimeout", "TokenLimit", "Unauthorized", "discover",
    "health_url", "run", "run_tasks", "token_file",
]
