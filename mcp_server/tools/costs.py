"""Cost tools: one agent's cost card, leaderboards by any grouping, usage nobody claims, rows not trusted."""

# No `from __future__ import annotations`: the SDK reads these signatures at runtime.

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from mcp_server.common import READ_ONLY, cap_list, state_of, tool_errors

GroupBy = Literal["agent", "owner", "team", "model", "provider", "key"]
Days = Annotated[int, Field(ge=1, le=366, description="Look-back window in days, ending now")]
MAX_SERIES_DAYS = 92


def register(server: MCPServer) -> None:
    """Add the cost tools to `server`."""

    @server.tool(annotations=READ_ONLY, title="Agent costs")
    @tool_errors
    def agent_costs(
        name: Annotated[str, Field(description="Agent note name, alias or agent id, e.g. 'Support Agent'")],
        ctx: Context,
        days: Days = 30,
    ) -> dict[str, Any]:
        """One agent's cost card: spend by token type, run-rate ($/day), cost per request, per run and per 1,000 runs, 30-day projection, daily series."""
        brain = state_of(ctx).brain
        card = brain.agent_costs(name, days=days)
        if usage_note := brain.usage_note():
            card["usage_note"] = usage_note
        series = card.get("daily")
        if isinstance(series, list) and len(series) > MAX_SERIES_DAYS:
            card["daily"] = series[-MAX_SERIES_DAYS:]
            card["daily_note"] = f"daily series shows the last {MAX_SERIES_DAYS} of {len(series)} days; lower days for less"
        return card

    @server.tool(annotations=READ_ONLY, title="Cost leaderboard")
    @tool_errors
    def cost_leaderboard(
        ctx: Context,
        group_by: Annotated[GroupBy, Field(description="What to group spend by")] = "agent",
        days: Days = 30,
        limit: Annotated[int, Field(ge=1, le=200, description="Most rows to return, biggest spend first")] = 20,
    ) -> dict[str, Any]:
        """Who spends the most: spend, requests, runs and run-rate grouped by agent, owner, team, model, provider or API key."""
        brain = state_of(ctx).brain
        report = brain.cost_leaderboard(group_by=group_by, days=days)
        rows, note = cap_list(list(report.get("rows", [])), limit, "rows", "raise limit to see more")
        return {**report, "group_by": group_by, "days": days, "rows": rows, "note": note or brain.usage_note()}

    @server.tool(annotations=READ_ONLY, title="Unattributed usage")
    @tool_errors
    def unattributed_usage(ctx: Context, days: Days = 30) -> dict[str, Any]:
        """Spend no agent note claims, by API key id and service name, so an owner can claim it (add the key to an agent note)."""
        brain = state_of(ctx).brain
        report = brain.unattributed_usage(days=days)
        rows, note = cap_list(list(report.get("rows", [])), 100, "rows", "lower days to narrow")
        return {**report, "rows": rows, "note": note or brain.usage_note()}

    @server.tool(annotations=READ_ONLY, title="Quarantined usage")
    @tool_errors
    def quarantined_usage(
        ctx: Context,
        file: Annotated[str | None, Field(description="Only rows from this source file (path, or its end: 'usage.jsonl')")] = None,
        reason: Annotated[str | None, Field(description="Only rows whose reason contains this text, e.g. 'timestamp'")] = None,
        limit: Annotated[int, Field(ge=0, le=500, description="Most rows to list (counts cover all)")] = 50,
    ) -> dict[str, Any]:
        """Usage rows ingest did not trust and left out of every figure (bad timestamps, negative tokens, malformed lines...): counts by file and reason, then the rows with their line and content, so the source can be fixed and ingested again."""
        return state_of(ctx).brain.quarantine(file=file, reason=reason, limit=limit)
