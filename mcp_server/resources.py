"""Resources: brain://agents, brain://agent/{name}, brain://leaderboard, brain://anomalies,
brain://alerts, brain://budgets, vault://note/{path}.

Each one is also reachable through a tool (list_agents, get_node/agent_costs, cost_leaderboard,
anomalies, alerts, budgets, read_note) because Cursor and Cline use tools only.
"""

# No `from __future__ import annotations`: the SDK reads these signatures at runtime.

from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.resources.templates import ResourceSecurityError

from brain.errors import BrainError
from brain.facade import Brain
from mcp_server.common import BrainState, resource_errors, state_of, template_resource_errors
from mcp_server.events import agent_uri, note_uri
from mcp_server.tools.alerts import budget_view, open_alerts

JSON = "application/json"
MARKDOWN = "text/markdown"
MAX_AGENTS = 500


def register(server: MCPServer, state: BrainState) -> None:
    """Add the resources to `server`; static ones read `state` (templates read it from the request)."""

    @server.resource("brain://agents", name="agents", title="All agents", mime_type=JSON)
    @resource_errors
    def agents() -> dict[str, Any]:
        """Every agent with owner, team and cost fields (same as the list_agents tool)."""
        state.ensure_costs()
        rows = state.brain.agents(sort_by="name")
        out: dict[str, Any] = {"count": len(rows), "agents": rows[:MAX_AGENTS], "note": None}
        if len(rows) > MAX_AGENTS:
            out["note"] = f"first {MAX_AGENTS} of {len(rows)} agents; use the list_agents tool with cursor for the rest"
        return out

    @server.resource("brain://agent/{name}", name="agent", title="One agent", mime_type=JSON)
    @template_resource_errors
    def agent(name: str, ctx: Context) -> dict[str, Any]:
        """One agent: properties, links, owner and cost card (same as the get_node and agent_costs tools)."""
        st = state_of(ctx)
        st.ensure_costs()
        card = st.brain.node_card(name)
        if card.get("type") != "agent":
            raise BrainError(f"{name!r} is a {card.get('type')}, not an agent; read it with {note_uri(card['path'])}")
        try:
            card["cost_card"] = st.brain.agent_costs(card["id"])
        except (BrainError, ImportError) as exc:
            card["cost_card"] = None
            card["cost_note"] = f"cost card unavailable: {exc}"
        return card

    @server.resource("brain://leaderboard", name="leaderboard", title="Spend by agent, last 30 days", mime_type=JSON)
    @resource_errors
    def leaderboard() -> dict[str, Any]:
        """Spend by agent over the last 30 days (same as the cost_leaderboard tool)."""
        return state.brain.cost_leaderboard(group_by="agent", days=30)

    @server.resource("brain://anomalies", name="anomalies", title="Cost anomalies, last 7 days", mime_type=JSON)
    @resource_errors
    def anomalies() -> dict[str, Any]:
        """Open cost anomalies active in the last 7 days (same as the anomalies tool)."""
        found = [a for a in state.brain.anomalies(days=7) if a.get("status") == "open"]
        return {"days": 7, "count": len(found), "anomalies": found}

    @server.resource("brain://alerts", name="alerts", title="Alerts standing now: anomalies and budgets", mime_type=JSON)
    @resource_errors
    def alerts() -> dict[str, Any]:
        """Open anomalies at or above the settings note's min_severity, and budgets past a threshold
        this period (the `open` part of the alerts tool)."""
        return open_alerts(state.brain)

    @server.resource("brain://budgets", name="budgets", title="Budgets in their current period", mime_type=JSON)
    @resource_errors
    def budgets() -> dict[str, Any]:
        """Every budget on agent, team and person notes: spent, projected and % used (same as the budgets tool)."""
        return budget_view(state.brain)

    @server.resource("vault://note/{+path}", name="note", title="A vault note's Markdown", mime_type=MARKDOWN)
    @template_resource_errors
    def note(path: str, ctx: Context) -> str:
        """The Markdown of one note by vault path (same as the read_note tool, unpaged)."""
        return state_of(ctx).brain.read_note(path).text


def canonical_uri(server: MCPServer, brain: Brain, uri: str) -> str | None:
    """The one URI notifications name for what a read of `uri` answers, resolved as a read resolves it
    (agent id, alias, any case, a raw space, no `.md` or an NFD path all name one note), or None
    when `uri` names nothing readable now."""
    manager = server._resource_manager  # the SDK's own URI matching (no public accessor in 2.3)
    if uri in {str(r.uri) for r in manager.list_resources()}:
        return uri
    for template in manager.list_templates():
        try:
            params = template.matches(uri)
        except ResourceSecurityError:
            return None
        if params is None:
            continue
        try:
            if template.name == "agent":
                card = brain.node_card(str(params["name"]))
                return agent_uri(card["name"]) if card.get("type") == "agent" else None
            if template.name == "note":
                return note_uri(brain.read_note(str(params["path"])).path)
        except BrainError:
            return None
    return None
