"""Pre/post-execution hooks shaped like Claude Code's: configured in JSON, run with a timeout, able to
allow, block or rewrite a job. Knows nothing of transports or of how jobs run; the job core calls it."""

from .config_model import EVENTS, HooksConfigError
from .engine import HookEngine
from .outcome import PreExecuteOutcome
from .settings import HooksSettings

__all__ = ["EVENTS", "HookEngine", "HooksConfigError", "HooksSettings", "PreExecuteOutcome"]
