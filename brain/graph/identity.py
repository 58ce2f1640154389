"""Agent identity: how a usage event finds its agent note (DESIGN: Agent identity and attribution)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass


def slugify(name: str) -> str:
    """The default agent_id of a note: lower-case ASCII words joined by '-'."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "agent"


# The cost fields every agent node carries (DESIGN "Spend and run-rate"); `anomalies` is added
# by the facade from the anomaly scan.
AGENT_COST_FIELDS = (
    "spend_usd",
    "run_rate_usd_per_day",
    "cost_per_request_usd",
    "cost_per_1k_runs_usd",
    "projected_30d_usd",
)


@dataclass(frozen=True)
class AgentIdentity:
    """Everything that can point a usage event at one agent note, plus its owner and team."""

    node_id: str  # vault path without .md, e.g. "Agents/Support Agent"
    name: str  # note name, e.g. "Support Agent"
    agent_id: str  # frontmatter agent_id or slugify(name)
    aliases: tuple[str, ...] = ()
    api_keys: tuple[str, ...] = ()
    service_names: tuple[str, ...] = ()
    owner: str | None = None  # owner node name (person or team), if it resolves
    team: str | None = None  # team node name, following person -> team
