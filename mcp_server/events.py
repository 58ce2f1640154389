"""Change notifications to connected clients: resources/updated and resources/list_changed on both protocol eras."""

from __future__ import annotations

import logging
import weakref
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import anyio
from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.subscriptions import (
    InMemorySubscriptionBus,
    ListenHandler,
    ResourcesListChanged,
    ResourceUpdated,
)
from mcp_types import (
    EmptyResult,
    SubscribeRequestParams,
    SubscriptionsListenRequestParams,
    SubscriptionsListenResult,
    UnsubscribeRequestParams,
)
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

    A client may subscribe with any URI a read accepts (agent id, alias, a raw space, no `.md`, NFD);
    each is resolved to its canonical form (`note_uri(path)`, `agent_uri(name)`) when subscribed and
    after notes come or go, and an update of the canonical URI is sent under every form subscribed.
    """

    def __init__(self) -> None:
        self.bus = InMemorySubscriptionBus()
        self.canonical: Callable[[str], str | None] = lambda uri: None  # set by install
        self._listen = ListenHandler(self.bus)
        # handshake-era connection -> {URI as the client subscribed it: its canonical URI}
        self._subscribed: weakref.WeakKeyDictionary[Any, dict[str, str]] = weakref.WeakKeyDictionary()
        self._sessions: weakref.WeakSet[Any] = weakref.WeakSet()
        # URIs open subscriptions/listen streams asked for: how many streams, and each one's canonical URI
        self._listening: Counter[str] = Counter()
        self._listened_canonical: dict[str, str] = {}

    # -- publishing ------------------------------------------------------------------------------

    async def resource_updated(self, uri: str) -> None:
        """Tell clients that the resource at canonical `uri` has new content, under every form they subscribed."""
        for form in sorted({uri} | {f for f, c in self._listened_canonical.items() if c == uri}):
            await self.bus.publish(ResourceUpdated(uri=form))  # each listen stream keeps the forms it asked for
        for session, subscribed in list(self._subscribed.items()):
            for form in sorted(f for f, c in subscribed.items() if c == uri):
                await self._send(session.send_resource_updated, form)

    async def resources_changed(self) -> None:
        """Tell clients that the list of resources changed (notes or agents added, moved or removed)."""
        await self._recanonicalise()
        await self.bus.publish(ResourcesListChanged())
        for session in list(self._sessions):
            await self._send(session.send_resource_list_changed)

    async def note_changed(self, path: str, agent_name: str | None = None, listing_changed: bool = False) -> None:
        """One note changed on disk: its vault:// URI, its agent's URIs, and the listings that show it."""
        if listing_changed:  # first, as the vault watcher does: it resolves subscribed URIs again
            await self.resources_changed()
        await self.resource_updated(note_uri(path))
        if agent_name:
            await self.resource_updated(agent_uri(agent_name))
            await self.resource_updated("brain://agents")

    async def _send(self, fn, *args) -> None:
        try:
            await fn(*args)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream):
            log.debug("client went away before a notification could be sent")

    # -- canonical URIs --------------------------------------------------------------------------

    async def _resolve(self, uri: str, previous: str | None = None) -> str:
        """The canonical form of a subscribed URI; one that names nothing now keeps its previous
        canonical form (a deleted note's subscribers hear of the deletion) or, never resolved, itself."""
        found = await anyio.to_thread.run_sync(self.canonical, uri)
        return found or previous or uri

    async def _recanonicalise(self) -> None:
        """Resolve every subscribed URI again: notes came or went, so a name may now mean another note."""
        for subscribed in list(self._subscribed.values()):
            for form, canonical in list(subscribed.items()):
                subscribed[form] = await self._resolve(form, canonical)
        for form, canonical in list(self._listened_canonical.items()):
            resolved = await self._resolve(form, canonical)
            if form in self._listened_canonical:  # its stream may have closed meanwhile
                self._listened_canonical[form] = resolved

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
        """resources/subscribe (handshake era): remember the URI, and its canonical form, for this connection."""
        conn = self._connection(ctx)
        if conn is not None:
            uri = str(params.uri)
            self._subscribed.setdefault(conn, {})[uri] = await self._resolve(uri)
        return EmptyResult()

    async def on_unsubscribe(self, ctx, params: UnsubscribeRequestParams) -> EmptyResult:
        """resources/unsubscribe (handshake era): forget the URI for this connection."""
        conn = self._connection(ctx)
        if conn is not None:
            self._subscribed.get(conn, {}).pop(str(params.uri), None)
        return EmptyResult()

    async def on_listen(self, ctx, params: SubscriptionsListenRequestParams) -> SubscriptionsListenResult:
        """subscriptions/listen (2026-07-28): the SDK's stream, with the URIs it asks for resolved while it is open."""
        forms = list(dict.fromkeys(params.notifications.resource_subscriptions or ()))
        for form in forms:
            self._listening[form] += 1
            self._listened_canonical[form] = await self._resolve(form, self._listened_canonical.get(form))
        try:
            return await self._listen(ctx, params)
        finally:
            for form in forms:
                self._listening[form] -= 1
                if self._listening[form] <= 0:
                    del self._listening[form]
                    self._listened_canonical.pop(form, None)

    def install(self, server, canonical: Callable[[str], str | None]) -> None:
        """Register the subscribe and listen handlers and the session-tracking middleware on an MCPServer,
        resolve subscribed URIs with `canonical`, and advertise `resources.listChanged` on every
        transport, since resources_changed sends it."""
        self.canonical = canonical
        low = server._lowlevel_server  # the SDK exposes handler registration on the low-level server only
        low.add_request_handler("resources/subscribe", SubscribeRequestParams, self.on_subscribe)
        low.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, self.on_unsubscribe)
        low.add_request_handler("subscriptions/listen", SubscriptionsListenRequestParams, self.on_listen)
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
