"""JSON-RPC 2.0 message shapes: parsing incoming text into requests, building responses. No I/O here."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..protocol.errors import InvalidRequest, ParseError, ProtocolError

_NO_ID = object()


@dataclass(slots=True)
class Request:
    method: str
    params: Any
    id: Any = _NO_ID

    @property
    def is_notification(self) -> bool:
        return self.id is _NO_ID


def result_response(request_id: Any, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "result": result, "id": request_id}


def error_response(request_id: Any, error: ProtocolError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": error.to_dict(), "id": request_id}


def parse_text(text: str | bytes, max_batch: int | None = None) -> tuple[list[Request | dict[str, Any]], bool]:
    """Parse one frame. Returns the items (a ``Request`` or a ready error response each) and whether
    the frame was a batch. Raises ``ProtocolError`` for a frame that gets a single error response.

    A batch longer than ``max_batch`` is refused whole, before any of its entries is looked at: one frame
    must not turn into an unbounded amount of work (every entry costs a task, a validation and an answer).
    """
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ParseError("Parse error: not valid JSON", {"detail": str(exc)[:200]}) from None
    if isinstance(payload, list):
        if not payload:
            raise InvalidRequest("Invalid Request: empty batch")
        check_batch_size(len(payload), max_batch)
        return [_parse_one(item) for item in payload], True
    return [_parse_one(payload)], False


def check_batch_size(size: int, max_batch: int | None) -> None:
    """Raise -32600 with the limit in ``data`` when a batch of ``size`` entries is over ``max_batch``."""
    if max_batch is not None and size > max_batch:
        raise InvalidRequest(
            f"Invalid Request: batch of {size} requests is over the limit of {max_batch}; split it",
            {"limit": max_batch, "size": size},
        )


def _parse_one(item: Any) -> Request | dict[str, Any]:
    request_id = item.get("id") if isinstance(item, dict) else None
    if not isinstance(request_id, (str, int, float, type(None))) or isinstance(request_id, bool):
        request_id = None
    try:
        return _validate(item)
    except ProtocolError as err:
        return error_response(request_id, err)


def _validate(item: Any) -> Request:
    if not isinstance(item, dict):
        raise InvalidRequest("Invalid Request: expected a JSON object")
    if item.get("jsonrpc") != "2.0":
        raise InvalidRequest('Invalid Request: "jsonrpc" must be exactly "2.0"')
    method = item.get("method")
    if not isinstance(method, str) or not method:
        raise InvalidRequest('Invalid Request: "method" must be a non-empty string')
    params = item.get("params", None)
    if params is not None and not isinstance(params, (dict, list)):
        raise InvalidRequest('Invalid Request: "params" must be an object or an array')
    if "id" in item:
        request_id = item["id"]
        if isinstance(request_id, bool) or not isinstance(request_id, (str, int, float, type(None))):
            raise InvalidRequest('Invalid Request: "id" must be a string, number or null')
        return Request(method, params, request_id)
    return Request(method, params)
