"""Budgets on agent, team and person notes, on a real store filled through ingest: spent this
period, projected to its end, % used, the thresholds crossed, and the budgets that are not used."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from brain.costs.budgets import budget_findings, budget_statuses, company_usd_per_day
from brain.graph.company import CompanyGraph
from brain.ingest import ingest_table
from brain.store.database import Store
from brain.vault.reader import read_vault

NOW = datetime(2025, 6, 20, 12, 0, tzinfo=UTC)
FIRST_DAY = datetime(2025, 5, 25, 6, 0, tzinfo=UTC)  # usage every day at 06:00 from here to NOW
USD_PER_DAY = {"support": 10.0, "triage": 2.0, "notes": 1.0, "research": 4.0, "weekend-script": 5.0}

NOTES = {
    "Teams/Platform.md": "---\ntype: team\nbudget_usd_per_month: 1000\n---\n",
    "Teams/Research.md": "---\ntype: team\n---\n",
    "People/Ada.md": "---\ntype: person\nteam: '[[Platform]]'\nbudget_usd_per_month: 500\n---\n",
    "People/Grace.md": "---\ntype: person\nteam: '[[Research]]'\n---\n",
    "Agents/Support.md": ("---\ntype: agent\nagent_id: support\nowner: '[[Ada]]'\n"
                          "budget_usd_per_month: 300\nbudget_usd_per_day: 15\n---\n"),
    "Agents/Triage.md": "---\ntype: agent\nagent_id: triage\nowner: '[[Ada]]'\nbudget_usd_per_month: '40'\n---\n",
    "Agents/Notes Bot.md": "---\ntype: agent\nagent_id: notes\nowner: '[[Platform]]'\n---\n",
    "Agents/Research.md": "---\ntype: agent\nagent_id: research\nowner: '[[Grace]]'\nbudget_usd_per_month: 100\n---\n",
    "Agents/Bad.md": ("---\ntype: agent\nagent_id: bad\nowner: '[[Grace]]'\nbudget_usd_per_month: -5\n"
                      "budget_usd_per_day: lots\nbudget_per_month: 3\nbudget_usd_per_week:\n---\n"),
    "Tools/Vector Store.md": "---\ntype: tool\nbudget_usd_per_month: 20\n---\n",
    "Templates/Agent.md": "---\ntype: agent\nbudget_usd_per_month: -1\n---\n",
    "Prices/Acme.md": "---\ntype: price\nprovider: acme\nmodel: acme-1\ninput_mtok: 10\noutput_mtok: 0\n---\n",
}


@pytest.fixture
def company(tmp_path, write_vault):
    root = write_vault(tmp_path / "vault", NOTES)
    (root / ".obsidian").mkdir()
    (root / ".obsidian" / "templates.json").write_text('{"folder": "Templates"}')
    graph = CompanyGraph.from_vault(read_vault(root))
    rows = []
    day = FIRST_DAY
    while day <= NOW:
        for agent, usd in USD_PER_DAY.items():
            rows.append({"timestamp": day.isoformat(), "agent": agent, "provider": "acme", "model": "acme-1",
                         "input_tokens": int(usd * 100_000), "output_tokens": 0,
                         "request_id": f"{agent}-{day.date()}"})
        day += timedelta(days=1)
    store = Store(tmp_path / "usage.duckdb")
    report = ingest_table(store, pa.Table.from_pylist(rows), source="test")
    assert report.quarantined == 0
    yield store, graph
    store.close()


def _statuses(store, graph, now=NOW) -> dict:
    found = budget_statuses(store, graph, graph.agent_identities(), graph.price_notes(), now)
    return {(b.node, b.period): b for b in found}


# June 1..20 spent; the run-rate is the 7 days from June 14 (7 rows) over 6.5 days; 10.5 days left.
RUN_RATE_DAYS, LEFT_DAYS = 6.5, 10.5


def _projected(usd_per_day: float, days: int = 20) -> float:
    return usd_per_day * days + usd_per_day * 7 / RUN_RATE_DAYS * LEFT_DAYS


def test_an_agent_budget_has_spent_projected_and_used(company):
    b = _statuses(*company)[("Agents/Support", "month")]
    assert (b.name, b.kind, b.period_start, b.budget_usd, b.agents) == ("Support", "agent", "2025-06-01", 300, ("Agents/Support",))
    assert b.spent_usd == pytest.approx(200)  # June only: May's usage is another month
    assert b.projected_usd == pytest.approx(_projected(10))
    assert b.used_pct == pytest.approx(66.67)
    assert b.to_dict()["agents"] == ["Agents/Support"]


def test_a_forecast_overrun_is_crossed_before_any_share(company):
    b = _statuses(*company)[("Agents/Support", "month")]
    assert b.projected_usd > b.budget_usd > b.spent_usd
    assert b.crossed() == ["forecast"]


def test_80_percent_is_crossed_with_the_forecast(company):
    b = _statuses(*company)[("Agents/Research", "month")]
    assert b.spent_usd == pytest.approx(80) and b.used_pct == pytest.approx(80)
    assert b.crossed() == ["forecast", "80%"]
    assert b.crossed((0.5, 0.9)) == ["forecast", "50%"]


def test_100_percent_is_crossed_and_the_forecast_no_longer_said(company):
    b = _statuses(*company)[("Agents/Triage", "month")]  # a budget written as text: '40'
    assert b.spent_usd == pytest.approx(40) and b.used_pct == pytest.approx(100)
    assert b.crossed() == ["80%", "100%"]


def test_a_team_budget_sums_its_agents(company):
    b = _statuses(*company)[("Teams/Platform", "month")]
    # Support and Triage (owned by Ada, of Platform) and Notes Bot (owned by the team); not Research
    assert set(b.agents) == {"Agents/Support", "Agents/Triage", "Agents/Notes Bot"}
    assert b.kind == "team" and b.spent_usd == pytest.approx(20 * 13)
    assert b.projected_usd == pytest.approx(_projected(13))
    assert b.crossed() == []


def test_a_person_budget_sums_the_agents_they_own(company):
    b = _statuses(*company)[("People/Ada", "month")]
    assert set(b.agents) == {"Agents/Support", "Agents/Triage"}
    assert b.kind == "person" and b.spent_usd == pytest.approx(20 * 12) and b.used_pct == pytest.approx(48)


def test_a_day_budget_counts_today_and_projects_to_midnight(company):
    b = _statuses(*company)[("Agents/Support", "day")]
    assert b.period_start == "2025-06-20" and b.spent_usd == pytest.approx(10)
    assert b.projected_usd == pytest.approx(10 + 10 * 7 / RUN_RATE_DAYS * 0.5)
    assert b.crossed() == ["forecast"]


def test_a_new_month_starts_from_nothing(company):
    store, graph = company
    later = _statuses(store, graph, datetime(2025, 7, 1, 0, 30, tzinfo=UTC))
    b = later[("Agents/Triage", "month")]
    assert b.period_start == "2025-07-01" and b.spent_usd == 0 and b.crossed() == []


def test_invalid_budgets_are_findings_with_file_and_line_and_no_budget(company):
    store, graph = company
    statuses = _statuses(store, graph)
    assert not any(node in ("Agents/Bad", "Tools/Vector Store", "Templates/Agent") for node, _ in statuses)
    assert sorted(budget_findings(graph)) == [
        ("Agents/Bad", "Agents/Bad.md:5: budget_usd_per_month is -5; it must be an amount in USD above 0, such as 500 (no budget)"),
        ("Agents/Bad", "Agents/Bad.md:6: budget_usd_per_day is 'lots'; it must be an amount in USD above 0, such as 500 (no budget)"),
        ("Agents/Bad", "Agents/Bad.md:7: budget_per_month is not a budget property; did you mean budget_usd_per_month? (ignored)"),
        ("Agents/Bad", "Agents/Bad.md:8: budget_usd_per_week is not a budget property; did you mean budget_usd_per_day? (ignored)"),
        ("Tools/Vector Store", "Tools/Vector Store.md:3: budget_usd_per_month on a tool note: budgets are read on agent, "
                               "team and person notes (ignored)"),
    ]


def test_without_a_store_nothing_is_spent(company):
    _, graph = company
    b = budget_statuses(None, graph, graph.agent_identities(), graph.price_notes(), NOW)
    assert b and all(s.spent_usd == s.projected_usd == 0 for s in b)


def test_company_spend_per_day_is_the_mean_of_complete_days_attributed_or_not(company):
    store, graph = company
    prices = graph.price_notes()
    # May 25 .. June 19: 26 complete days since the first usage, every agent and the unclaimed script
    assert company_usd_per_day(store, NOW, prices) == pytest.approx(sum(USD_PER_DAY.values()))
    assert company_usd_per_day(store, datetime(2025, 5, 1, tzinfo=UTC), prices) == 0.0
    # with list prices only, acme-1 is unpriced: the price note is what makes it $22/day
    assert company_usd_per_day(store, NOW) == 0.0
