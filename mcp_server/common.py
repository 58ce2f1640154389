"""Shared adapter helpers: server state, error translation, pagination, truncation, annotations."""

from __future__ import annotations

import base64
import functools
import inspect
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, cast

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, ToolAnnotations

from brain.brain import Brain
from brain.errors import BrainError, NotFound

log = logging.getLogger(__name__)

MAX_LIMIT = 200
DEFAULT_LIMIT = 50
MAX_TEXT_CHARS = 20_000
COSTS_MAX_AGE_S = 300.0

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False)


@dataclass
class BrainState:
    """What the server's lifespan holds: the brain, the write switch, and the notification hook."""

    brain: Brain
    allow_writes: bool
    events: Any  # mcp_server.events.ServerEvents
    costs_at: float | None = None
    costs_version: object = None
    costs_error: str | None = None
    extra: dict = field(default_factory=dict)
    costs_lock: threading.Lock = field(default_factory=threading.Lock)

    def ensure_costs(self, wait: bool = True) -> bool:
        """Attach cost fields to agent nodes when missing, stale or older than COSTS_MAX_AGE_S (errors kept).

        With wait=False, return False at once when another thread is computing them.
        """
        if not self.costs_lock.acquire(blocking=wait):
            return False
        try:
            self._ensure_costs()
        finally:
            self.costs_lock.release()
        return True

    def _ensure_costs(self) -> None:
        """Recompute the cost fields when stale (the caller holds costs_lock)."""
        now = time.monotonic()
        version = self.brain.costs_version()
        if self.costs_at is not None and now - self.costs_at < COSTS_MAX_AGE_S and version == self.costs_version:
            return
        self.costs_version = version
        try:
            self.brain.attach_costs()
            self.costs_error = None
        except (BrainError, ImportError) as exc:
            self.costs_error = str(exc)
            log.info("agent cost fields unavailable: %s", exc)
        self.costs_at = now


def state_of(ctx: Context) -> BrainState:
    """The lifespan-held BrainState of the request."""
    return cast(BrainState, ctx.request_context.lifespan_context)


def _error_text(exc: BrainError) -> str:
    return str(exc)


def tool_errors(fn):
    """Turn BrainError raised by a tool into a ToolError the model reads (isError), without a traceback."""
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args, **kwargs):
            try:
                return await fn(*args, **kwargs)
            except BrainError as exc:
                raise ToolError(_error_text(exc)) from exc

        async_wrapper.__signature__ = inspect.signature(fn)
        return async_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except BrainError as exc:
            raise ToolError(_error_text(exc)) from exc

    wrapper.__signature__ = inspect.signature(fn)
    return wrapper


def resource_errors(fn):
    """Turn BrainError raised by a fixed resource (no client input) into a ResourceError: a server fault, -32603."""
    return _resource_errors(fn, ResourceError)


def template_resource_errors(fn):
    """Turn BrainError raised by a templated resource into -32602 Invalid params: its arguments come from
    the client's URI, so the mistake is the client's (the SDK sends a ResourceError as -32603 Internal error)."""
    return _resource_errors(fn, lambda message: MCPError(code=INVALID_PARAMS, message=message))


def _resource_errors(fn, error):
    """Wrap a resource function: NotFound becomes the SDK's not-found error, any other BrainError `error(message)`."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except NotFound as exc:
            raise ResourceNotFoundError(_error_text(exc)) from exc
        except BrainError as exc:
            raise error(_error_text(exc)) from exc

    wrapper.__signature__ = inspect.signature(fn)
    return wrapper


def prompt_errors(fn):
    """Turn BrainError raised while rendering a prompt into an MCPError carrying the same message."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except BrainError as exc:
            raise MCPError(code=INVALID_PARAMS, message=_error_text(exc)) from exc

    wrapper.__signature__ = inspect.signature(fn)
    return wrapper


def check_limit(limit: int | None, default: int = DEFAULT_LIMIT) -> int:
    """A page size between 1 and MAX_LIMIT; raises with the allowed range."""
    if limit is None:
        return default
    if limit < 1 or limit > MAX_LIMIT:
        raise BrainError(f"limit must be between 1 and {MAX_LIMIT}; got {limit}")
    return limit


def encode_cursor(offset: int, key: str) -> str:
    """An opaque cursor for the next page of one listing."""
    return base64.urlsafe_b64encode(json.dumps({"o": offset, "k": key}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, key: str) -> int:
    """Offset from a cursor made by encode_cursor for the same listing; raises on a foreign cursor."""
    if not cursor:
        return 0
    try:
        pad = "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(cursor + pad))
        offset, k = int(data["o"]), data["k"]
    except (ValueError, KeyError, TypeError):
        raise BrainError("invalid cursor; pass back the next_cursor value of the previous page exactly") from None
    if k != key or offset < 0:
        raise BrainError("this cursor belongs to a different listing (other filters); start again without a cursor")
    return offset


def paginate(items: list, limit: int, cursor: str | None, key: str, what: str) -> dict:
    """One page of `items`: {items, total, next_cursor, note} where note says how to get the rest."""
    start = decode_cursor(cursor, key)
    page = items[start : start + limit]
    end = start + len(page)
    out: dict[str, Any] = {"items": page, "total": len(items), "offset": start, "next_cursor": None, "note": None}
    if end < len(items):
        out["next_cursor"] = encode_cursor(end, key)
        out["note"] = f"showing {what} {start + 1}-{end} of {len(items)}; call again with cursor=next_cursor for more"
    return out


def cap_list(items: list, limit: int, what: str, hint: str) -> tuple[list, str | None]:
    """At most `limit` items, and a note saying how many were left out and how to narrow."""
    if len(items) <= limit:
        return items, None
    return items[:limit], f"showing the first {limit} of {len(items)} {what}; {hint}"


def truncate_text(text: str, offset: int, max_chars: int = MAX_TEXT_CHARS, how: str = "") -> dict:
    """A slice of a long text with {text, offset, total_chars, truncated, note}."""
    if offset < 0:
        raise BrainError("offset must be 0 or more")
    chunk = text[offset : offset + max_chars]
    end = offset + len(chunk)
    truncated = end < len(text)
    note = None
    if truncated:
        note = f"showing characters {offset}-{end} of {len(text)}; call again with offset={end}{how} for the rest"
    return {"text": chunk, "offset": offset, "total_chars": len(text), "truncated": truncated, "note": note}
