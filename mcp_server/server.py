"""build_server(brain): the MCP server over one Brain, its state held by the server's lifespan."""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS
from pydantic import ValidationError

from brain.errors import BrainError
from brain.facade import Brain
from mcp_server import prompts, resources
from mcp_server.arguments import (
    missing_argument,
    unknown_argument,
    unknown_name,
    validation_message,
)
from mcp_server.common import BrainState
from mcp_server.events import ServerEvents
from mcp_server.tools import alerts, anomalies, costs, graph, notes

log = logging.getLogger(__name__)

INSTRUCTIONS = """\
Company Brain: the company's AI agents, tools, integrations, people and teams (an Obsidian vault
as a graph) joined with what every agent costs. Names are forgiving: note name, path, alias or
agent id, any case. Start with list_agents or search_notes; get_node shows one note with its
links and costs; dependents/impact answer "what breaks if X breaks"; cost_leaderboard,
agent_costs and anomalies answer "what costs what and why did it change"; unattributed_usage and
quarantined_usage say what the figures leave out."""


class BrainServer(MCPServer):
    """An MCPServer that also carries the brain's notification hook and lifespan state, and words
    argument errors for the model (see mcp_server.arguments)."""

    brain_events: ServerEvents
    brain_state: BrainState

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        """Call a tool; an unknown name or rejected arguments fail with one sentence saying what to send."""
        try:
            return await super().call_tool(name, arguments, context)
        except UnexpectedToolError:
            raise
        except ToolError as exc:
            tools = {t.name: t for t in await self.list_tools()}
            if name not in tools:
                raise ToolError(unknown_name("tool", name, list(tools))) from None
            if isinstance(exc.__cause__, ValidationError):  # kept as the cause: the SDK logs its field names
                raise ToolError(validation_message(name, tools[name].input_schema, exc.__cause__)) from exc.__cause__
            raise

    async def get_prompt(self, name: str, arguments: dict[str, Any] | None = None, context: Any = None) -> Any:
        """Render a prompt; an unknown name or a missing or unknown argument is an invalid-params error
        naming it (the SDK answers those with an internal error and logs a traceback)."""
        prompts = {p.name: p for p in await self.list_prompts()}
        prompt = prompts.get(name)
        if prompt is None:
            raise MCPError(code=INVALID_PARAMS, message=unknown_name("prompt", name, list(prompts)))
        subject = f"the prompt {name}"
        props = {a.name: {"type": "string", "description": a.description} for a in prompt.arguments or []}
        for a in prompt.arguments or []:
            if a.required and a.name not in (arguments or {}):
                raise MCPError(code=INVALID_PARAMS, message=missing_argument(subject, a.name, props[a.name]))
        for given in arguments or {}:
            if given not in props:
                raise MCPError(code=INVALID_PARAMS, message=unknown_argument(subject, given, props))
        return await super().get_prompt(name, arguments, context)


def build_server(brain: Brain, allow_writes: bool = False, name: str = "company-brain") -> BrainServer:
    """An MCPServer exposing `brain`; write tools only when `allow_writes`; `server.brain_events` is the notify hook."""
    events = ServerEvents()
    state = BrainState(brain=brain, allow_writes=allow_writes, events=events)

    @asynccontextmanager
    async def lifespan(_server: MCPServer) -> AsyncIterator[BrainState]:
        await anyio.to_thread.run_sync(_warm, brain)
        yield state

    server = BrainServer(
        name=name,
        title="Company Brain",
        version=package_version(),
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        subscriptions=events.bus,
        log_level="WARNING",
    )
    graph.register(server)
    costs.register(server)
    anomalies.register(server)
    notes.register(server, allow_writes=allow_writes)
    alerts.register(server, allow_writes=allow_writes)
    resources.register(server, state)
    prompts.register(server, state)
    events.install(server, canonical=lambda uri: resources.canonical_uri(server, brain, uri))
    server.brain_events = events
    server.brain_state = state
    return server


def package_version() -> str:
    """The installed company-brain version, which clients show as serverInfo.version."""
    try:
        return importlib.metadata.version("company-brain")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


def _warm(brain: Brain) -> None:
    """Build the graph before the first request so the first answer is fast."""
    try:
        brain.graph  # noqa: B018 - cached property: parse the vault now
    except BrainError:
        log.exception("cannot read the vault")
        raise
