"""Shared adapter helpers: server state, error translation, pagination, truncation, annotations."""

from __future__ import annotations

import base64
import functools
import inspect
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, ToolAnnotations

from brain.errors import BrainError, NotFound
from brain.facade import Brain

log = logging.getLogger(__name__)

MAX_LIMIT = 200
DEFAULT_LIMIT = 50
MAX_TEXT_CHARS = 20_000
COSTS_MAX_AGE_S = 300.0

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False)


@dataclass
class BrainState:
    """What the server's lifespan holds: the brain, the write switch, the notification hook, and the
    agent cost fields attached to the graph (when, for which data, with which error)."""

    brain: Brain
    allow_writes: bool
    events: Any  # mcp_server.events.ServerEvents
    costs_at: float | None = None  # monotonic time the cost fields were last computed; None: never
    costs_version: object = None  # brain.costs_version() they were computed for
    costs_error: str | None = None
    extra: dict = field(default_factory=dict)
    costs_lock: threading.Lock = field(default_factory=threading.Lock)  # held while computing them
    _refresh_guard: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _refresher: threading.Thread | None = field(default=None, repr=False)
    _refresh_again: bool = field(default=False, repr=False)
    _after_refresh: list[Callable[[], None]] = field(default_factory=list, repr=False)
    _forced: bool = field(default=False, repr=False)
    _stopped: bool = field(default=False, repr=False)

    def ensure_costs(self, wait: bool = True) -> bool:
        """Attach cost fields to agent nodes, never making a request wait for a refresh of existing ones.

        Once computed, fields that are stale (new usage, agent identities or prices) or older than
        COSTS_MAX_AGE_S are refreshed by one background thread while requests read the previous
        values, at most one refresh old. Only the first computation happens in the caller: wait=True
        computes them, or waits for the thread computing them (the start-up warm-up); wait=False
        returns at once when another thread is at it. True when the attached fields are current,
        False while they are being computed (previous values, if any, stay attached).
        """
        if self.costs_at is None:
            if not self.costs_lock.acquire(blocking=wait):
                return False
            try:
                if self.costs_at is None:
                    self._compute()
                    return True
            finally:
                self.costs_lock.release()
        if self._refresher is not None:
            return False
        if self._is_fresh():
            return True
        self.refresh_costs()
        return False

    def refresh_costs(self, then: Callable[[], None] | None = None, force: bool = False) -> None:
        """Bring the cost fields up to date in the background (one refresher thread at a time), then call
        `then` in that thread. Asked while a refresh runs, it runs once more, so `then` sees the data of now.
        force: recompute even if they look current (a re-read agent note lost its fields; its identity did not change)."""
        with self._refresh_guard:
            if self._stopped:
                return
            self._forced = self._forced or force
            if then is not None:
                self._after_refresh.append(then)
            if self._refresher is not None:
                self._refresh_again = True
                return
            self._refresher = threading.Thread(target=self._refresh_loop, name="brain-costs-refresh", daemon=True)
            self._refresher.start()

    def stop(self) -> None:
        """Start no more refreshes; one running ends on its own (a daemon thread: it never holds the process up)."""
        with self._refresh_guard:
            self._stopped = True
            self._after_refresh.clear()

    def _is_fresh(self) -> bool:
        return (
            self.costs_at is not None
            and time.monotonic() - self.costs_at < COSTS_MAX_AGE_S
            and self.brain.costs_version() == self.costs_version
        )

    def _compute(self) -> None:
        """Recompute the cost fields (the caller holds costs_lock); BrainError and ImportError are kept in costs_error."""
        version = self.brain.costs_version()
        try:
            self.brain.attach_costs()
            self.costs_error = None
        except (BrainError, ImportError) as exc:
            if str(exc) != self.costs_error:
                log.warning("agent cost fields unavailable: %s", exc)
            self.costs_error = str(exc)
        self.costs_version = version
        self.costs_at = time.monotonic()  # when done: a compute longer than the expiry does not restart at once

    def _refresh_loop(self) -> None:
        """The refresher thread: recompute while asked to, then run the callbacks waiting for it."""
        while True:
            try:
                with self.costs_lock:
                    forced, self._forced = self._forced, False
                    if forced or not self._is_fresh():
                        self._compute()
            except Exception as exc:  # a thread of our own: keep the error for the requests, never crash the server
                if self._stopped:  # the store was closed under it while the server stops
                    log.debug("agent cost refresh ended by shutdown: %s", exc)
                    return
                log.exception("refreshing agent cost fields failed")
                self.costs_error = f"refreshing them failed: {type(exc).__name__}: {exc}"
                self.costs_at = time.monotonic()  # retried after COSTS_MAX_AGE_S or when the data changes
            with self._refresh_guard:
                if self._refresh_again and not self._stopped:
                    self._refresh_again = False
                    continue
                self._refresher = None
                callbacks, self._after_refresh = self._after_refresh, []
                break
        for fn in callbacks:
            try:
                fn()
            except Exception:
                log.exception("a callback after refreshing agent cost fields failed")


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
