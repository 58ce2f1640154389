"""Routing by the graph: the agent's notify, its owner's, the owner's team's, the default, or none;
and the overrides (`alerts: off`, `alert_severity`, `alert_min_usd_per_day`) on agents and teams."""

from __future__ import annotations

from brain.alerts.route import route_agent, route_budget
from brain.alerts.settings import AlertSettings
from brain.graph.company import CompanyGraph
from brain.vault.reader import read_vault


def test_an_agent_goes_to_its_own_channel_else_its_owner_else_the_team_else_the_default(company):
    g, plain = company.graph, AlertSettings()
    assert route_agent(g, "Agents/Loud Agent", plain).channel == "loud-hook"
    owner = route_agent(g, "Agents/Support Agent", plain)
    assert (owner.channel, owner.via) == ("ada-hook", "owner Ada Lovelace")
    team = route_agent(g, "Agents/Triage Bot", plain)  # Grace names no channel; her team does
    assert (team.channel, team.via) == ("platform-hook", "team Platform")
    with_default = AlertSettings(default_channel="ops")
    assert route_agent(g, "Agents/Team Agent", plain).channel is None
    assert (route_agent(g, "Agents/Team Agent", with_default).channel,
            route_agent(g, "Agents/Team Agent", with_default).via) == ("ops", "default channel")
    orphan = route_agent(g, "Agents/Orphan Agent", plain)
    assert (orphan.channel, orphan.via) == (None, "no channel")
    assert route_agent(g, "key:unclaimed", with_default).channel == "ops", "usage no note claims: the default"


def test_alerts_off_and_the_floors_come_from_the_agent_else_its_team(make_vault):
    root = make_vault({
        "Agents/A.md": "---\ntype: agent\nowner: \"[[Ops]]\"\nalert_severity: critical\n---\n",
        "Agents/B.md": "---\ntype: agent\nowner: \"[[Ops]]\"\n---\n",
        "Agents/C.md": "---\ntype: agent\nowner: \"[[Quiet]]\"\n---\n",
        "Teams/Ops.md": "---\ntype: team\nnotify: ops\nalert_severity: warn\nalert_min_usd_per_day: 25\n---\n",
        "Teams/Quiet.md": "---\ntype: team\nnotify: quiet\nalerts: off\n---\n",
    })
    g = CompanyGraph.from_vault(read_vault(root))
    a, b, c = (route_agent(g, f"Agents/{n}", AlertSettings()) for n in "ABC")
    assert (a.min_severity, a.min_usd_per_day, a.off) == ("critical", 25.0, False)
    assert (b.min_severity, b.min_usd_per_day, b.off) == ("warn", 25.0, False)
    assert (c.off, c.off_by, c.channel) == (True, "team Quiet", "quiet")


def test_budgets_route_by_the_budget_note(company):
    g, s = company.graph, AlertSettings(default_channel="ops")
    assert route_budget(g, "Agents/Support Agent", "agent", s).channel == "ada-hook"
    assert route_budget(g, "Teams/Platform", "team", s).channel == "platform-hook"
    assert route_budget(g, "Teams/Research", "team", s).channel == "ops"
    grace = route_budget(g, "People/Grace Hopper", "person", s)
    assert (grace.channel, grace.via) == ("platform-hook", "team Platform")
    assert route_budget(g, "People/Ada Lovelace", "person", s).channel == "ada-hook"
    assert route_budget(g, "Agents/Quiet Agent", "agent", s).off
