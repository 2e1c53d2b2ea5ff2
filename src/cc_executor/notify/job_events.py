"""Which job events become notifications, and what they carry.

Every lifecycle and agent event a job logs passes here (``OutputLog.listener``): ``process.started`` is
``started``, ``process.completed`` ``ended`` (and ``budget`` too when a cap stopped it), ``process.stalled``
``stalled``, a rate limit or a closed usage window ``rate_limited``, ``permission.request`` ``permission``.
Publishing never blocks and never fails the job: a notifier problem is a log line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..jobs.job import Job
from ..jobs.spec import JobSpec
from ..protocol import events
from ..protocol.errors import InvalidParams
from . import events as notices
from .events import Target, parse_targets
from .notifier import Notifier

log = logging.getLogger(__name__)


HIDDEN = ("owner_session",)  # a job summary's fields a webhook receiver (outside the server) has no use for


def job_targets(spec: JobSpec) -> list[Target]:
    """``execute``'s ``notify``, checked: a URL and the events it wants each; InvalidParams saying what is wrong."""
    try:
        return parse_targets(spec.notify or None, "job")
    except ValueError as exc:
        raise InvalidParams(str(exc), {"field": "notify"}) from None


def notices_for(method: str, params: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The notifications (event, data) one logged job event makes; most make none."""
    data = {key: value for key, value in params.items() if key != "job_id"}
    if method == events.STARTED:
        return [(notices.STARTED, data)]
    if method == events.COMPLETED:
        ended = [(notices.ENDED, data)]
        if str(data.get("reason") or "").startswith(("budget:", "budget ")):
            ended.append((notices.BUDGET, {"reason": data.get("reason"), "status": data.get("status")}))
        return ended
    if method == events.STALLED:
        return [(notices.STALLED, data)]
    if method == events.RATE_LIMIT:
        return [(notices.RATE_LIMITED, {"source": "rate_limit", **data})]
    if method == events.USAGE_WINDOW and data.get("state") in ("closed", "holding"):
        return [(notices.RATE_LIMITED, {"source": "usage_window", **data})]
    if method == events.PERMISSION_REQUEST:
        return [(notices.PERMISSION, data)]
    return []


class JobNotifications:
    """Connects jobs to the notifier: their per-job targets, and a listener on each job's log."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier

    def watch(self, job: Job) -> None:
        targets = job_targets(job.spec)
        job.log.listener = self._listener(job, targets)

    def _listener(self, job: Job, targets: list[Target]) -> Callable[[str, dict[str, Any]], None]:
        def on_event(method: str, params: dict[str, Any]) -> None:
            made = notices_for(method, params)
            if not made:
                return
            try:
                view = {k: v for k, v in job.summary().items() if k not in HIDDEN}
                if method == events.COMPLETED:  # the summary says "completed" only once the job has ended
                    view["state"] = params.get("status", view.get("state"))
                for event, data in made:
                    self.notifier.publish(event, job.id, view, data, targets)
            except Exception:  # a notifier problem must never reach the job or its log
                log.warning("job %s: could not queue its %s notification", job.id, method, exc_info=True)

        return on_event
