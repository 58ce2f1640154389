"""Alert tools: what was sent (and what would be), budgets; with --allow-writes, set a budget and
acknowledge an anomaly (in the store and in its published note)."""

# No `from __future__ import annotations`: the SDK reads these signatures at runtime.

from typing import Annotated, Any, Literal, get_args

import anyio
from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from brain.alerts.state import STATUSES
from brain.facade import Brain
from mcp_server.common import READ_ONLY, WRITE, BrainState, cap_list, state_of, tool_errors

SEVERITIES = ("info", "warn", "critical")
MAX_ROWS = 100
ALERT_DAYS = 14  # as an alert pass reads them (Brain.alert_inputs)
DeliveryStatus = Literal["held", "sending", "sent", "failed", "digested"]
assert set(get_args(DeliveryStatus)) == set(STATUSES)


def open_alerts(brain: Brain) -> dict[str, Any]:
    """The alerts standing now: open anomalies of the last ALERT_DAYS days at or above the settings
    note's `min_severity`, and budgets past a threshold this period (shared by the alerts tool and
    the brain://alerts resource). Whether and where each is sent is `brain alerts`' to decide
    (quiet hours, digests, a note's `alerts: off`)."""
    settings, _ = brain.alert_settings()
    floor = SEVERITIES.index(settings.min_severity) if settings.min_severity in SEVERITIES else 1
    anomalies = [a for a in brain.anomalies(days=ALERT_DAYS)
                 if a.get("status") == "open" and a.get("severity") in SEVERITIES and SEVERITIES.index(a["severity"]) >= floor]
    budgets = []
    for b in brain.budget_statuses():
        crossed = b.crossed(settings.budget_thresholds)
        if crossed:
            budgets.append({**b.to_dict(), "crossed": crossed})
    return {"days": ALERT_DAYS, "min_severity": settings.min_severity, "anomalies": anomalies, "budgets": budgets}


def budget_view(brain: Brain) -> dict[str, Any]:
    """Every budget in its current period (shared by the budgets tool and the brain://budgets resource)."""
    rows = brain.budgets()
    out: dict[str, Any] = {"count": len(rows), "budgets": rows, "note": None}
    if not rows:
        out["note"] = ("no budgets: set `budget_usd_per_month` (or `budget_usd_per_day`) on an agent, team or "
                       "person note, or use the set_budget tool (with --allow-writes)")
    return out


def register(server: MCPServer, allow_writes: bool) -> None:
    """Add alerts and budgets, and the write tools set_budget and ack_anomaly when `allow_writes` is set."""

    @server.tool(annotations=READ_ONLY, title="Alerts")
    @tool_errors
    def alerts(
        ctx: Context,
        status: Annotated[
            DeliveryStatus | None,
            Field(description="Only deliveries with this status: held (waiting for a digest or quiet hours), sending, sent, "
                  "failed (retried later), digested; default: all"),
        ] = None,
    ) -> dict[str, Any]:
        """Alerts: the deliveries `brain alerts` recorded (to whom, which channel, when, with which result), and
        what stands to alert now: open anomalies at or above the settings note's min_severity and budgets past a threshold."""
        brain = state_of(ctx).brain
        deliveries, note = cap_list(list(brain.alerts(status)), MAX_ROWS, "deliveries", "pass status to narrow")
        return {"status": status, "deliveries": deliveries, "delivery_note": note, "open": open_alerts(brain)}

    @server.tool(annotations=READ_ONLY, title="Budgets")
    @tool_errors
    def budgets(ctx: Context) -> dict[str, Any]:
        """Budgets on agent, team and person notes in their current period (month or day, UTC): budget, spent,
        projected period end and % used, and the agents summed."""
        return budget_view(state_of(ctx).brain)

    if not allow_writes:
        return

    @server.tool(annotations=WRITE.model_copy(update={"idempotent_hint": True}), title="Set budget")
    @tool_errors
    async def set_budget(
        name: Annotated[str, Field(description="The agent, team or person note (name, alias or agent id)")],
        usd: Annotated[float, Field(description="The budget in US dollars, above 0")],
        ctx: Context,
        period: Annotated[Literal["month", "day"], Field(description="Budget per calendar month or per day (UTC)")] = "month",
    ) -> dict[str, Any]:
        """Set a budget on an agent, team or person note (`budget_usd_per_month` or `budget_usd_per_day`); only that property
        changes, the rest of the note is kept byte for byte."""
        st = state_of(ctx)
        result = await anyio.to_thread.run_sync(st.brain.set_budget, name, usd, period)
        await _notify(st, result.path)
        await st.events.resource_updated("brain://budgets")
        await st.events.resource_updated("brain://alerts")
        return result.as_dict()

    @server.tool(annotations=WRITE.model_copy(update={"idempotent_hint": True}), title="Acknowledge anomaly")
    @tool_errors
    async def ack_anomaly(
        id: Annotated[str, Field(description="Anomaly id as listed by the anomalies tool")],
        ctx: Context,
        note: Annotated[str, Field(description="Why it is fine; kept with the ack and shown in the anomaly's note")] = "",
        planned: Annotated[bool, Field(description="Mark the cost change as planned rather than acknowledged")] = False,
    ) -> dict[str, Any]:
        """Acknowledge an anomaly (or mark it planned) so it stops alerting; its published note in the vault, if any, shows it
        (`status` and `ack_note` set, the rest kept)."""
        st = state_of(ctx)
        out = await anyio.to_thread.run_sync(lambda: st.brain.ack_anomaly(id, note=note, planned=planned))
        for path in out["notes_written"]:
            await _notify(st, path)
        await st.events.resource_updated("brain://anomalies")
        await st.events.resource_updated("brain://alerts")
        return out


async def _notify(st: BrainState, path: str) -> None:
    """Tell subscribed clients that a note (and, for an agent note, its agent) changed."""
    note = st.brain.graph.notes.get(path[:-3])
    agent = note.name if note is not None and note.type == "agent" else None
    await st.events.note_changed(path, agent_name=agent)
