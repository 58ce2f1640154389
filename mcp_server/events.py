"""Change notifications to connected clients: resources/updated and resources/list_changed on both protocol eras."""

from __future__ import annotations

import logging
import weakref
from typing import Any
from urllib.parse import quote

import anyio
from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.subscriptions import InMemorySubscriptionBus, ResourcesListChanged, ResourceUpdated
from mcp_types import EmptyResult, SubscribeRequestParams, UnsubscribeRequestParams
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

log = logging.getLogger(__name__)


def note_uri(path: str) -> str:
    """The vault:// URI of a vault-relative note path."""
    return "vault://note/" + quote(path, safe="/")


def agent_uri(name: str) -> str:
    """The brain://agent/ URI of an agent name."""
    return "brain://agent/" + quote(name, safe="")


class ServerEvents:
    """The server's notification hook: call from any async code (a vault watcher, a write tool) to tell clients.

    2026-07-28 clients get events through `subscriptions/listen` (the SDK's subscription bus);
    earlier clients get `notifications/resources/updated` for URIs they subscribed to with
    `resources/subscribe`, and `notifications/resources/list_changed` on every session that spoke to us.
    """

    def __init__(self) -> None:
        self.bus = InMemorySubscriptionBus()
        self._subscribed: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()
        self._sessions: weakref.WeakSet[Any] = weakref.WeakSet()

    # -- publishing ------------------------------------------------------------------------------

    async def resource_updated(self, uri: str) -> None:
        """Tell clients that the resource at `uri` has new content."""
        await self.bus.publish(ResourceUpdated(uri=uri))
        for session, uris in list(self._subscribed.items()):
            if uri in uris:
                await self._send(session.send_resource_updated, uri)

    async def resources_changed(self) -> None:
        """Tell clients that the list of resources changed (notes or agents added, moved or removed)."""
        await self.bus.publish(ResourcesListChanged())
        for session in list(self._sessions):
            await self._send(session.send_resource_list_changed)

    async def note_changed(self, path: str, agent_name: str | None = None, listing_changed: bool = False) -> None:
        """One note changed on disk: its vault:// URI, its agent's URIs, and the listings that show it."""
        await self.resource_updated(note_uri(path))
        if agent_name:
            await self.resource_updated(agent_uri(agent_name))
            await self.resource_updated("brain://agents")
        if listing_changed:
            await self.resources_changed()

    async def _send(self, fn, *args) -> None:
        try:
            await fn(*args)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream):
            log.debug("client went away before a notification could be sent")

    # -- wiring ----------------------------------------------------------------------------------

    @staticmethod
    def _connection(ctx):
        """The long-lived handshake-era connection of a request (None on 2026-07-28 per-request envelopes)."""
        # ServerSession is per request; its connection outlives it and can notify later.
        # The SDK keeps it private (`_connection`); there is no public accessor in 2.3.
        conn = getattr(getattr(ctx, "session", None), "_connection", None)
        if conn is None or getattr(conn, "protocol_version", None) in MODERN_PROTOCOL_VERSIONS:
            return None
        return conn

    async def track_session(self, ctx, call_next):
        """Server middleware: remember each handshake-era connection so list_changed can reach it."""
        conn = self._connection(ctx)
        if conn is not None:
            self._sessions.add(conn)
        return await call_next(ctx)

    async def on_subscribe(self, ctx, params: SubscribeRequestParams) -> EmptyResult:
        """resources/subscribe (handshake era): remember the URI for this connection."""
        conn = self._connection(ctx)
        if conn is not None:
            self._subscribed.setdefault(conn, set()).add(str(params.uri))
        return EmptyResult()

    async def on_unsubscribe(self, ctx, params: UnsubscribeRequestParams) -> EmptyResult:
        """resources/unsubscribe (handshake era): forget the URI for this connection."""
        conn = self._connection(ctx)
        if conn is not None:
            self._subscribed.get(conn, set()).discard(str(params.uri))
        return EmptyResult()

    def install(self, server) -> None:
        """Register the subscribe handlers and the session-tracking middleware on an MCPServer, and
        advertise `resources.listChanged` on every transport, since resources_changed sends it."""
        low = server._lowlevel_server  # the SDK exposes handler registration on the low-level server only
        low.add_request_handler("resources/subscribe", SubscribeRequestParams, self.on_subscribe)
        low.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, self.on_unsubscribe)
        server.middleware.append(self.track_session)
        advertise_list_changed(low)


def advertise_list_changed(low) -> None:
    """Make the low-level server's initialize answer say `resources.listChanged: true` by default.

    Each transport builds that answer from `create_initialization_options()`: stdio and the
    in-memory client through their caller, streamable HTTP inside the SDK's session manager, which
    takes no options. Defaulting it here gives every transport the same, truthful capabilities.
    """
    make = low.create_initialization_options

    def create_initialization_options(notification_options=None, *args, **kwargs):
        return make(notification_options or NotificationOptions(resources_changed=True), *args, **kwargs)

    low.create_initialization_options = create_initialization_options
