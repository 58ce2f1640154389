"""Anomaly tools: list cost anomalies and explain one (cause decomposition, nearby change notes)."""

# No `from __future__ import annotations`: the SDK reads these signatures at runtime.

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from mcp_server.common import READ_ONLY, cap_list, state_of, tool_errors

Severity = Literal["info", "warn", "critical"]
MAX_ANOMALIES = 50


def register(server: MCPServer) -> None:
    """Add the anomaly tools to `server`."""

    @server.tool(annotations=READ_ONLY, title="Anomalies")
    @tool_errors
    def anomalies(
        ctx: Context,
        days: Annotated[int, Field(ge=1, le=90, description="Anomalies active in this many recent days")] = 7,
        min_severity: Annotated[Severity, Field(description="Lowest severity to include")] = "info",
        include_acknowledged: Annotated[
            bool, Field(description="Also list anomalies someone acknowledged or marked planned (status says which)")
        ] = False,
    ) -> dict[str, Any]:
        """Unusual agent spend still open (not acknowledged or planned): onset, expected vs actual $/day, excess,
        30-day impact, severity, cause, related change notes."""
        found = state_of(ctx).brain.anomalies(days=days, min_severity=min_severity)
        shown = found if include_acknowledged else [a for a in found if a.get("status") == "open"]
        items, note = cap_list(shown, MAX_ANOMALIES, "anomalies", "raise min_severity or lower days")
        return {"days": days, "min_severity": min_severity, "count": len(shown),
                "closed_not_shown": len(found) - len(shown), "anomalies": items, "note": note}

    @server.tool(annotations=READ_ONLY, title="Explain anomaly")
    @tool_errors
    def explain_anomaly(
        id: Annotated[str, Field(description="Anomaly id as listed by the anomalies tool")],
        ctx: Context,
    ) -> dict[str, Any]:
        """One anomaly in full: the volume x tokens x mix x price decomposition of the cost change, signals and change notes near its onset."""
        return state_of(ctx).brain.explain_anomaly(id)
