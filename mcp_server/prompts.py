"""Prompts: a monthly cost review, an anomaly investigation and an agent brief, each seeded with live data."""

# No `from __future__ import annotations`: the SDK reads these signatures at runtime.

import json
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from pydantic import Field

from brain.errors import BrainError
from mcp_server.common import BrainState, prompt_errors

MAX_JSON_CHARS = 12_000


def _block(title: str, data: Any) -> str:
    text = json.dumps(data, indent=1, default=str, ensure_ascii=False)
    if len(text) > MAX_JSON_CHARS:
        text = text[:MAX_JSON_CHARS] + "\n... (truncated; call the tool named above for the full data)"
    return f"### {title}\n```json\n{text}\n```"


def _try(title: str, fn) -> str:
    try:
        return _block(title, fn())
    except (BrainError, ImportError) as exc:
        return f"### {title}\n(unavailable: {exc})"


def register(server: MCPServer, state: BrainState) -> None:
    """Add the prompts to `server`."""
    brain = state.brain

    @server.prompt(title="Monthly cost review")
    @prompt_errors
    def monthly_cost_review() -> str:
        """Review the last 30 days of AI agent spend: biggest spenders, anomalies, unclaimed usage and owner gaps."""
        parts = [
            "You are reviewing last month's AI agent spend for the company. Using the data below and the "
            "Company Brain tools (cost_leaderboard, agent_costs, anomalies, explain_anomaly, unattributed_usage, "
            "inventory_gaps, owner_of), write a short review with: total spend and the trend; the five biggest "
            "agents with owner, run-rate and 30-day projection; every warn or critical anomaly with its cause and "
            "the change note that explains it (or say none does); usage no agent claims and who should claim it; "
            "agents without an owner. End with three concrete actions, each naming an owner.",
            _try("cost_leaderboard(group_by='agent', days=30)", lambda: brain.cost_leaderboard("agent", 30)),
            _try("anomalies(days=30, min_severity='warn')", lambda: brain.anomalies(30, "warn")),
            _try("unattributed_usage(days=30)", lambda: brain.unattributed_usage(30)),
        ]
        return "\n\n".join(parts)

    @server.prompt(title="Investigate anomaly")
    @prompt_errors
    def investigate_anomaly(id: Annotated[str, Field(description="Anomaly id as listed by the anomalies tool")]) -> str:
        """Investigate one cost anomaly: what changed, why (cause and change notes), who owns it, what to do."""
        found = brain.explain_anomaly(id)
        owner = _try("owner_of(agent)", lambda: brain.owner_of(found["agent_node"]))
        return "\n\n".join(
            [
                f"Investigate cost anomaly {found['id']} of agent {found['agent']!r}. Explain in plain words what "
                "changed and when, which term of the decomposition (volume, tokens per request, model mix, price) "
                "drives it, whether a change note explains it (read it with read_note), who owns the agent, and "
                "whether it is expected. Recommend: acknowledge as planned, fix, or escalate, naming the owner. "
                "Use agent_costs for the daily series and dependencies for what the agent relies on.",
                _block(f"explain_anomaly({found['id']!r})", found),
                owner,
            ]
        )

    @server.prompt(title="Agent brief")
    @prompt_errors
    def agent_brief(name: Annotated[str, Field(description="Agent note name, alias or agent id, e.g. 'Support Agent'")]) -> str:
        """A one-page brief on one agent: what it does, who owns it, what it depends on, what it costs and any anomalies."""
        card = brain.node_card(name)
        if card.get("type") != "agent":
            raise BrainError(f"{name!r} is a {card.get('type')}, not an agent; use get_node for other notes")
        note = brain.read_note(card["path"]).text
        return "\n\n".join(
            [
                f"Write a one-page brief on the agent {card['name']!r} for someone who has never seen it: what it "
                "does, who owns it (person and team), what it depends on and what depends on it, what it costs "
                "(spend, run-rate, cost per 1,000 runs, 30-day projection) and any open anomalies. Keep it factual; "
                "say what is unknown.",
                _block(f"get_node({card['name']!r})", card),
                _try(f"agent_costs({card['name']!r}, days=30)", lambda: brain.agent_costs(card["id"], 30)),
                f"### The agent's note ({card['path']})\n{note[:MAX_JSON_CHARS]}",
            ]
        )
