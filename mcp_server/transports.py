"""Run a built server: stdio for desktop clients, streamable HTTP (loopback by default, optional bearer token)."""

from __future__ import annotations

import hmac
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable

import anyio
import anyio.abc
import anyio.from_thread
import anyio.lowlevel
from mcp.server.mcpserver import MCPServer

from brain.facade import Brain
from brain.settings import Settings
from mcp_server.common import BrainState
from mcp_server.events import agent_uri, note_uri
from mcp_server.options import DEFAULT_HOST, DEFAULT_PORT

log = logging.getLogger(__name__)

TOKEN_ENV = "BRAIN_MCP_TOKEN"
MCP_PATH = "/mcp"
WARM_DELAY_S = 1.5  # start computing agent cost fields this long after the server starts


class BearerTokenMiddleware:
    """ASGI middleware: every HTTP request must carry `Authorization: Bearer <token>`, else 401."""

    def __init__(self, app, token: str):
        self.app = app
        self._token = token.encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        given = b""
        for name, value in scope.get("headers") or ():
            if name == b"authorization":
                given = value
                break
        scheme, _, token = given.partition(b" ")
        if scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self._token):
            return await self.app(scope, receive, send)
        body = json.dumps({"error": "unauthorized", "error_description": f"send Authorization: Bearer ${TOKEN_ENV}"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"www-authenticate", b'Bearer realm="company-brain"'),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


async def run_stdio(server: MCPServer) -> None:
    """Serve one client over stdin/stdout; stdout carries only protocol messages."""
    await server.run_stdio_async()  # capabilities (resources.listChanged) as events.install set them


def http_app(server: MCPServer, host: str = DEFAULT_HOST, token: str | None = None):
    """The streamable HTTP ASGI app at /mcp, wrapped in the bearer-token check when `token` is set."""
    app = server.streamable_http_app(streamable_http_path=MCP_PATH, host=host)
    return BearerTokenMiddleware(app, token) if token else app


async def run_http(server: MCPServer, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, token: str | None = None) -> None:
    """Serve streamable HTTP on host:port until interrupted; logs go to stderr."""
    import uvicorn

    config = uvicorn.Config(http_app(server, host, token), host=host, port=port, log_level="warning", lifespan="on")
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("serving MCP on %s:%d, reachable from other machines%s", host, port, "" if token else f"; set {TOKEN_ENV}")
    print(f"Company Brain MCP server on http://{host}:{port}{MCP_PATH}", file=sys.stderr, flush=True)
    await uvicorn.Server(config).serve()


def serve(
    settings: Settings,
    http: bool = False,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    allow_writes: bool = False,
    watch: bool = True,
    publish_folder: str | None = None,
    otlp: tuple[str, int] | None = None,
) -> int:
    """Open the brain and serve it over stdio or HTTP until the client leaves or the process is stopped."""
    from brain.live.server import LiveBrain
    from mcp_server.server import build_server

    brain = Brain.open(settings, read_only=True)
    brain.graph  # noqa: B018 - read the vault now so a bad --vault fails before serving
    server = build_server(brain, allow_writes=allow_writes)
    token = os.environ.get(TOKEN_ENV) or None
    live = LiveBrain(brain, watch=watch, publish_folder=publish_folder, otlp=otlp)
    log.info(
        "serving %s: %s; %s; %s",
        settings.vault,
        "watching the vault for edits" if watch else "not watching the vault (read once)",
        f"publishing into {publish_folder}/" if publish_folder else "not publishing",
        f"OTLP receiver on {otlp[0]}:{otlp[1]}" if otlp else "no OTLP receiver",
    )

    def clean_up() -> None:
        server.brain_state.stop()  # a cost refresh still running ends with the process
        live.stop()  # flushes OTLP spans, withdraws .brain/server.json
        brain.close()

    async def main() -> None:
        notify = Notifier(server.brain_events, brain, anyio.lowlevel.current_token(), costs=server.brain_state)
        live.on_vault_change = notify.vault_changed
        live.on_store_change = notify.store_changed
        async with anyio.create_task_group() as tg:
            await tg.start(exit_on_signals, clean_up)
            try:
                await anyio.to_thread.run_sync(live.start)  # may wait for a writer: keep the loop (and signals) going
                # compute agent cost fields in the background, so the first get_node is not the one to wait
                # (after a moment, so it does not compete with answering the client's first requests)
                warm = threading.Timer(WARM_DELAY_S, server.brain_state.refresh_costs)
                warm.daemon = True
                warm.start()
                if http:
                    await run_http(server, host, port, token)
                else:
                    await run_stdio(server)
            finally:
                server.brain_state.stop()
                live.stop()
                tg.cancel_scope.cancel()

    try:
        anyio.run(main)
    finally:
        server.brain_state.stop()
        brain.close()
    return 0


async def exit_on_signals(clean_up: Callable[[], None], *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
    """On SIGTERM or SIGINT (a client or service manager stopping the server, Ctrl-C): clean up, then exit.

    The exit is immediate: the stdio transport reads stdin in a worker thread that cancellation
    cannot interrupt, so waiting for the transport would wait for the client to close stdin. Over
    HTTP uvicorn sees the signal too and starts its own shutdown; whichever ends first, the cleanup
    has run.
    """
    if sys.platform == "win32":  # no POSIX signals to receive there
        task_status.started()
        return
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        task_status.started()
        async for signum in signals:
            log.info("stopping on %s", signal.Signals(signum).name)
            try:
                await anyio.to_thread.run_sync(clean_up)
            finally:
                sys.stderr.flush()
                os._exit(128 + signum)


class Notifier:
    """Turns live-brain changes (from background threads) into MCP notifications on the server's loop."""

    MAX_PER_NOTE = 50  # past this many notes in one batch, send the list change only

    def __init__(self, events, brain: Brain, token, costs: BrainState | None = None):
        self.events = events
        self.brain = brain
        self.token = token
        self.costs = costs  # when given, brain://agents is updated once its cost fields are refreshed
        # agent note id -> title: a removed note is gone from the graph, so whether it was an agent
        # (and which brain://agent/ URI named it) has to be remembered from before the change
        self._agents = {nid: d.get("title") for nid, d in brain.graph.g.nodes(data=True) if d.get("type") == "agent"}

    def _run(self, fn, *args) -> None:
        try:
            anyio.from_thread.run(fn, *args, token=self.token)
        except Exception:  # the loop may be shutting down; a lost notification is not fatal
            log.debug("could not deliver a notification", exc_info=True)

    def vault_changed(self, change) -> None:
        """Notes appeared, went or changed on disk: their URIs, their agents' URIs and brain://agents."""
        g = self.brain.graph
        if change.added or change.removed:
            self._run(self.events.resources_changed)
        updates: list[tuple[str, str | None]] = []  # (note path, agent title it was or is)
        for nid in sorted(change.removed):  # URIs from the change itself: the node is already gone
            updates.append((nid + ".md", self._agents.pop(nid, None)))
        for nid in sorted(change.modified | change.added):
            d = g.g.nodes.get(nid) or {}
            was = self._agents.pop(nid, None)
            if d.get("type") == "agent":
                self._agents[nid] = d.get("title")
            updates.append((d.get("path") or nid + ".md", self._agents.get(nid) or was))
        if len(updates) > self.MAX_PER_NOTE:
            self._run(self.events.resource_updated, "brain://agents")
            if self.costs is not None:
                self._refresh_agent_costs()
            return
        uris = [note_uri(path) for path, _ in updates] + [agent_uri(agent) for _, agent in updates if agent]
        if any(agent for _, agent in updates):
            uris.append("brain://agents")
        for uri in dict.fromkeys(uris):  # once each, in order (a rename removes and adds the same agent)
            self._run(self.events.resource_updated, uri)
        if self.costs is not None and any(agent for _, agent in updates):
            self._refresh_agent_costs()

    def _refresh_agent_costs(self) -> None:
        """Recompute the agent cost fields in the background (a re-read agent note lost its own, new usage
        changed them), then update brain://agents."""
        assert self.costs is not None
        self.costs.refresh_costs(then=lambda: self._run(self.events.resource_updated, "brain://agents"), force=True)

    def store_changed(self) -> None:
        """New usage landed: the listings that show costs changed. The leaderboard and anomalies are
        computed per read; brain://agents shows the agents' cost fields, so it is updated after they
        are refreshed (in the background), and a client that reads it then sees the new usage."""
        if self.costs is None:
            self._run(self.events.resource_updated, "brain://agents")
        for uri in ("brain://leaderboard", "brain://anomalies"):
            self._run(self.events.resource_updated, uri)
        if self.costs is not None:
            self._refresh_agent_costs()
