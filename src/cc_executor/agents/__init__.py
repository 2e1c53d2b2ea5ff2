"""What is special about agent CLIs: Claude Code stream-json events, limit detection, the run summary."""

from .detect import is_agent_command, observer_for
from .observer import AgentObserver
from .settings import AgentSettings

__all__ = ["AgentObserver", "AgentSettings", "is_agent_command", "observer_for"]
