"""Method registry and dispatch: typed params in, result or error out, batches included. No I/O."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from ..protocol.errors import InternalError, InvalidParams, MethodNotFound, ProtocolError
from ..protocol.params import Params
from .protocol import Request, error_response, parse_text, result_response

log = logging.getLogger(__name__)

Handler = Callable[[Any, Any], Awaitable[Any]]


@dataclass(slots=True, frozen=True)
class Method:
    name: str
    params: type[BaseModel]
    handler: Handler
    # Methods that may wait a long time (jobs.wait) run beside the connection's other requests.
    long_running: bool = False


class Dispatcher:
    """``max_batch_size``: the most entries a batch may hold (None: no limit); a larger one is refused whole."""

    def __init__(self, methods: list[Method], max_batch_size: int | None = None) -> None:
        self.methods = {m.name: m for m in methods}
        self.max_batch_size = max_batch_size

    @property
    def names(self) -> list[str]:
        return sorted(self.methods)

    def parse(self, text: str | bytes) -> tuple[list[Request | dict[str, Any]], bool]:
        return parse_text(text, self.max_batch_size)

    def is_long_running(self, item: Request | dict[str, Any]) -> bool:
        return isinstance(item, Request) and bool(getattr(self.methods.get(item.method), "long_running", False))

    def needs_task(self, items: list[Request | dict[str, Any]]) -> bool:
        return any(self.is_long_running(i) for i in items)

    def admit_long_running(
        self, items: list[Request | dict[str, Any]], room: int, refusal: ProtocolError
    ) -> tuple[list[Request | dict[str, Any]], int]:
        """Keep the first ``room`` long-running requests; each one after that becomes ``refusal`` under its own
        id (a notification is dropped). Returns the new items and how many long-running requests were kept.

        Why per request, not per frame: a cap that counted frames let one batch of 10,000 waits through.
        """
        out: list[Request | dict[str, Any]] = []
        admitted = 0
        for item in items:
            if not self.is_long_running(item):
                out.append(item)
            elif admitted < room:
                out.append(item)
                admitted += 1
            elif isinstance(item, Request) and not item.is_notification:
                out.append(error_response(item.id, refusal))
        return out, admitted

    async def run(self, items: list[Request | dict[str, Any]], is_batch: bool, ctx: Any) -> Any:
        """Answer parsed items: a response object, a list for a batch, or None when nothing is owed."""
        if not is_batch:
            return await self._answer(items[0], ctx) if items else None
        # Entries that are already answers (invalid or refused) need no task of their own.
        requests = [item for item in items if isinstance(item, Request)]
        answered = iter(await asyncio.gather(*(self._answer(r, ctx) for r in requests)))
        out = [next(answered) if isinstance(item, Request) else item for item in items]
        return [a for a in out if a is not None] or None

    async def _answer(self, item: Request | dict[str, Any], ctx: Any) -> dict[str, Any] | None:
        if isinstance(item, dict):
            return item  # already an error response for an invalid entry
        try:
            result = await self.call(item.method, item.params, ctx)
        except ProtocolError as err:
            return None if item.is_notification else error_response(item.id, err)
        return None if item.is_notification else result_response(item.id, result)

    async def call(self, name: str, raw_params: Any, ctx: Any) -> Any:
        """Validate params and run one method; every failure becomes a ``ProtocolError``."""
        method = self.methods.get(name)
        if method is None:
            raise MethodNotFound(f"Method not found: {name}", {"available": self.names})
        params = validate_params(method.params, raw_params)
        try:
            result = await method.handler(params, ctx)
        except ProtocolError:
            raise
        except Exception as exc:
            log.exception("method %s failed", name)
            raise InternalError("Internal error", {"detail": type(exc).__name__}) from None
        ignored = params.ignored() if isinstance(params, Params) else []
        if ignored and isinstance(result, dict):
            result = {**result, "ignored_params": ignored}
        return result


def validate_params(model: type[BaseModel], raw: Any) -> Any:
    if raw is None:
        raw = {}
    if isinstance(raw, list):
        if raw:
            raise InvalidParams("Invalid params: pass parameters by name, as an object")
        raw = {}
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = [
            {"field": ".".join(str(p) for p in err["loc"]) or "params", "error": err["msg"]} for err in exc.errors()
        ]
        summary = "; ".join(f"{p['field']}: {p['error']}" for p in problems)
        raise InvalidParams(f"Invalid params: {summary}", problems) from None
