"""Who hears about an alert, by the graph: the agent's own `notify`, else its owner's, else the
owner's team's (or the agent's team's), else the settings note's default channel, else nobody
(reported as "no channel", never sent to a wrong place). `alerts: off`, `alert_severity` and
`alert_min_usd_per_day` on the agent (else its team) narrow what is sent about it."""

from __future__ import annotations

from dataclasses import dataclass

from brain.alerts.settings import AlertSettings, NodeAlertPrefs, node_prefs

SEVERITY_RANK = {"info": 0, "warn": 1, "critical": 2}


@dataclass(frozen=True)
class Route:
    """Where an alert goes and what narrows it: `channel` None when nobody has one."""

    channel: str | None
    via: str  # "agent", "owner Ada Lovelace", "team Platform", "default channel", "no channel"
    off: bool = False  # `alerts: off` on the agent or its team
    off_by: str | None = None
    min_severity: str | None = None  # the agent's (else its team's) `alert_severity`
    min_usd_per_day: float | None = None  # the agent's (else its team's) `alert_min_usd_per_day`


def prefs_of(graph, node_id: str | None) -> NodeAlertPrefs:
    """The alert properties of a note (what cannot be read is as if unset; `brain check` says why)."""
    if graph is None or node_id is None or node_id not in graph.g:
        return NodeAlertPrefs()
    return node_prefs(graph.g.nodes[node_id].get("properties") or {})[0]


def _teams(graph, node_id: str, person_id: str | None) -> list[str]:
    """The teams to ask, in order: the owning team (or the person's), then the note's own team."""
    own = graph.owner_of_id(node_id)
    out = [own["team_id"]] if own["team_id"] else []
    for start in (person_id, node_id):
        if start:
            out += [t for t in graph.targets(start, "member_of") if graph.g.nodes[t].get("type") == "team"]
    return list(dict.fromkeys(out))


def _first_channel(graph, candidates: list[tuple[str | None, str]], settings: AlertSettings) -> tuple[str | None, str]:
    for node, via in candidates:
        notify = prefs_of(graph, node).notify if node else None
        if notify:
            return notify, via
    if settings.default_channel:
        return settings.default_channel, "default channel"
    return None, "no channel"


def route_agent(graph, agent_node: str | None, settings: AlertSettings) -> Route:
    """Where an anomaly of `agent_node` goes, and the agent's (else its team's) overrides."""
    if graph is None or agent_node is None or agent_node not in graph.g:
        channel, via = _first_channel(graph, [], settings)
        return Route(channel, via)
    own = graph.owner_of_id(agent_node)
    person = own["person_id"]
    teams = _teams(graph, agent_node, person)
    candidates: list[tuple[str | None, str]] = [(agent_node, "agent")]
    if person:
        candidates.append((person, f"owner {graph.name_of(person)}"))
    candidates += [(t, f"team {graph.name_of(t)}") for t in teams]
    channel, via = _first_channel(graph, candidates, settings)
    agent, team = prefs_of(graph, agent_node), prefs_of(graph, teams[0] if teams else None)
    off_by = "agent" if agent.off else (f"team {graph.name_of(teams[0])}" if team.off else None)
    return Route(
        channel, via, off=off_by is not None, off_by=off_by,
        min_severity=agent.min_severity or team.min_severity,
        min_usd_per_day=agent.min_usd_per_day if agent.min_usd_per_day is not None else team.min_usd_per_day,
    )


def route_budget(graph, node: str, kind: str, settings: AlertSettings) -> Route:
    """Where a budget alert goes: an agent's as its anomalies; a team's to the team, else the
    default; a person's to the person, then their team, then the default."""
    if kind == "agent" or graph is None or node not in graph.g:
        return route_agent(graph, node if kind == "agent" else None, settings)
    name = graph.name_of(node)
    if kind == "team":
        candidates: list[tuple[str | None, str]] = [(node, f"team {name}")]
    else:
        teams = [t for t in graph.targets(node, "member_of") if graph.g.nodes[t].get("type") == "team"]
        candidates = [(node, f"person {name}")] + [(t, f"team {graph.name_of(t)}") for t in teams]
    channel, via = _first_channel(graph, candidates, settings)
    prefs = prefs_of(graph, node)
    return Route(channel, via, off=prefs.off, off_by=f"{kind} {name}" if prefs.off else None)
