"""build_server(brain): the MCP server over one Brain, its state held by the server's lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from mcp.server.mcpserver import MCPServer

from brain.brain import Brain
from brain.errors import BrainError
from mcp_server import prompts, resources
from mcp_server.common import BrainState
from mcp_server.events import ServerEvents
from mcp_server.tools import anomalies, costs, graph, notes

log = logging.getLogger(__name__)

INSTRUCTIONS = """\
Company Brain: the company's AI agents, tools, integrations, people and teams (an Obsidian vault
as a graph) joined with what every agent costs. Names are forgiving: note name, path, alias or
agent id, any case. Start with list_agents or search_notes; get_node shows one note with its
links and costs; dependents/impact answer "what breaks if X breaks"; cost_leaderboard,
agent_costs and anomalies answer "what costs what and why did it change"; unattributed_usage and
quarantined_usage say what the figures leave out."""


class BrainServer(MCPServer):
    """An MCPServer that also carries the brain's notification hook and lifespan state."""

    brain_events: ServerEvents
    brain_state: BrainState


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
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        subscriptions=events.bus,
        log_level="WARNING",
    )
    graph.register(server)
    costs.register(server)
    anomalies.register(server)
    notes.register(server, allow_writes=allow_writes)
    resources.register(server, state)
    prompts.register(server, state)
    events.install(server)
    server.brain_events = events
    server.brain_state = state
    return server


def _warm(brain: Brain) -> None:
    """Build the graph before the first request so the first answer is fast."""
    try:
        brain.graph  # noqa: B018 - cached property: parse the vault now
    except BrainError:
        log.exception("cannot read the vault")
        raise
