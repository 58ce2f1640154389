"""Graph tools: find notes, read a node, list agents, walk dependencies, owners and impact."""

# No `from __future__ import annotations`: the SDK reads these signatures at runtime.

import sys
from typing import Annotated, Any, Literal, get_args

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from brain.errors import BrainError
from brain.facade import AGENT_SORT_KEYS, COST_FIELDS
from brain.vault.reader import NOTE_TYPES
from mcp_server.common import READ_ONLY, cap_list, check_limit, paginate, state_of, tool_errors

MAX_DEPTH = 10
MAX_WALK_ITEMS = 200

NodeType = Literal["agent", "tool", "integration", "person", "team", "change", "price", "note"]
SortKey = Literal["name", "spend_usd", "run_rate_usd_per_day", "projected_30d_usd", "cost_per_request_usd"]
Name = Annotated[str, Field(description="Note name, vault path, alias or agent id (any case), e.g. 'Support Agent'")]
Depth = Annotated[int, Field(ge=1, le=MAX_DEPTH, description="How many hops to follow (1 = direct only)")]

assert set(get_args(NodeType)) == {*NOTE_TYPES, "note"}
assert set(get_args(SortKey)) == set(AGENT_SORT_KEYS)


def _walk_result(name: str, kind: str, hits: list[dict], hint: str) -> dict[str, Any]:
    items, note = cap_list(hits, MAX_WALK_ITEMS, kind, hint)
    return {"name": name, "count": len(hits), kind: items, "note": note}


def register(server: MCPServer) -> None:
    """Add the graph tools to `server`."""

    @server.tool(annotations=READ_ONLY, title="Search notes")
    @tool_errors
    def search_notes(
        query: Annotated[str, Field(description="Word or phrase to find in note names, aliases, properties and text")],
        ctx: Context,
        type: Annotated[NodeType | None, Field(description="Only notes of this type")] = None,
        limit: Annotated[int, Field(ge=1, le=100, description="Most results to return")] = 20,
    ) -> dict[str, Any]:
        """Find notes (agents, tools, integrations, people, teams, changes) by name or text; best matches first."""
        # every match is scored anyway; asking for all of them gives the true total for the note
        hits = state_of(ctx).brain.search_notes(query, type, limit=sys.maxsize)
        items, note = cap_list(hits, limit, "matches", "raise limit or make the query more specific")
        return {"query": query, "total": len(hits), "results": items, "note": note}

    @server.tool(annotations=READ_ONLY, title="Get node")
    @tool_errors
    def get_node(name: Name, ctx: Context) -> dict[str, Any]:
        """Everything about one note by name: type, properties, links in and out, owner, and for agents the cost fields."""
        st = state_of(ctx)
        ready = st.ensure_costs(wait=False)  # never queue behind the start-up computation
        card = st.brain.node_card(name)
        if not ready and card.get("type") == "agent" and card.get("costs") is None:
            try:
                c = st.brain.agent_costs(card["id"])
                card["costs"] = {k: c.get(k) for k in COST_FIELDS if k != "anomalies"}
                card["costs_note"] = "all agents' cost fields are still being computed; anomalies will follow"
            except BrainError as exc:
                card["costs_note"] = f"cost fields unavailable: {exc}"
        for direction in ("out", "in"):
            links = card["links"][direction]
            card["links"][direction], note = cap_list(
                links, MAX_WALK_ITEMS, f"links {direction}", "use dependents/dependencies for a narrower walk"
            )
            if note:
                card["links"][f"{direction}_note"] = note
        if card.get("type") == "agent" and card.get("costs") is None and st.costs_error:
            card["costs_note"] = f"cost fields unavailable: {st.costs_error}"
        return card

    @server.tool(annotations=READ_ONLY, title="List agents")
    @tool_errors
    def list_agents(
        ctx: Context,
        owner: Annotated[str | None, Field(description="Only agents owned by this person or team")] = None,
        team: Annotated[str | None, Field(description="Only agents of this team (directly or through their owner)")] = None,
        sort_by: Annotated[SortKey, Field(description="Sort order; cost keys sort biggest first")] = "name",
        limit: Annotated[int, Field(ge=1, le=200, description="Page size")] = 50,
        cursor: Annotated[str | None, Field(description="next_cursor from the previous page")] = None,
    ) -> dict[str, Any]:
        """Every AI agent with its owner, team and cost fields (spend, run-rate, projection); paginated."""
        st = state_of(ctx)
        st.ensure_costs()
        limit = check_limit(limit)
        rows = st.brain.agents(owner=owner, team=team, sort_by=sort_by)
        page = paginate(rows, limit, cursor, key=f"agents|{owner}|{team}|{sort_by}", what="agents")
        if st.costs_error:
            page["costs_note"] = f"cost fields unavailable: {st.costs_error}"
        return page

    @server.tool(annotations=READ_ONLY, title="Dependencies")
    @tool_errors
    def dependencies(name: Name, ctx: Context, depth: Depth = 1) -> dict[str, Any]:
        """What a note needs: the tools and integrations it depends on, following depends_on links outwards."""
        hits = state_of(ctx).brain.dependencies(name, depth)
        return _walk_result(name, "dependencies", hits, "lower depth to narrow the walk")

    @server.tool(annotations=READ_ONLY, title="Dependents")
    @tool_errors
    def dependents(name: Name, ctx: Context, depth: Depth = 1) -> dict[str, Any]:
        """What needs a note: the agents and tools that depend on it, following depends_on links inwards."""
        hits = state_of(ctx).brain.dependents(name, depth)
        return _walk_result(name, "dependents", hits, "lower depth to narrow the walk")

    @server.tool(annotations=READ_ONLY, title="Owner of")
    @tool_errors
    def owner_of(name: Name, ctx: Context) -> dict[str, Any]:
        """Who owns a note: the owner person and team (person -> team followed) and owners that do not resolve."""
        return state_of(ctx).brain.owner_of(name)

    @server.tool(annotations=READ_ONLY, title="Impact")
    @tool_errors
    def impact(name: Name, ctx: Context) -> dict[str, Any]:
        """Which agents break if this tool, integration or agent breaks: every agent depending on it at any depth."""
        hits = state_of(ctx).brain.impact(name)
        return _walk_result(name, "agents", hits, "use dependents with a small depth for the closest ones")

    @server.tool(annotations=READ_ONLY, title="Inventory gaps")
    @tool_errors
    def inventory_gaps(
        ctx: Context,
        limit: Annotated[int, Field(ge=1, le=200, description="Page size")] = 100,
        cursor: Annotated[str | None, Field(description="next_cursor from the previous page")] = None,
    ) -> dict[str, Any]:
        """Problems in the inventory: agents without owners, unresolved owners, duplicate ids or keys, secrets, broken links."""
        gaps = [g.as_dict() for g in state_of(ctx).brain.inventory_gaps()]
        gaps.sort(key=lambda g: (g["severity"] != "error", g["kind"], g["node"]))
        errors = sum(1 for g in gaps if g["severity"] == "error")
        page = paginate(gaps, limit, cursor, key="gaps", what="gaps")
        page.update(errors=errors, warnings=len(gaps) - errors)
        return page

    @server.tool(annotations=READ_ONLY, title="Graph stats")
    @tool_errors
    def graph_stats(ctx: Context) -> dict[str, Any]:
        """Size of the company graph: notes, nodes and links, counted by type and by relation."""
        return state_of(ctx).brain.graph_stats()
