"""Budgets in `brain spend` and `brain agent`: budget, spent this month, projected month end and
% used when a note sets a budget; in --json always a `budget` key (null when there is none)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time

import pyarrow as pa
import pytest

from brain.cli import main
from brain.store.database import Store

NOTES = {
    "Agents/Support.md": "---\ntype: agent\nagent_id: support\nowner: '[[Ada]]'\nbudget_usd_per_month: 100\n---\n",
    "Agents/Notes Bot.md": "---\ntype: agent\nagent_id: notes\nowner: '[[Ada]]'\n---\n",
    "People/Ada.md": "---\ntype: person\nteam: '[[Platform]]'\n---\n",
    "Teams/Platform.md": "---\ntype: team\nbudget_usd_per_month: 1000\nbudget_usd_per_day: 5\n---\n",
    "Prices/Acme.md": "---\ntype: price\nprovider: acme\nmodel: acme-1\ninput_mtok: 10\noutput_mtok: 0\n---\n",
}


@pytest.fixture
def vault(make_vault):
    """Support spent $10 and Notes Bot $2 at today's midnight (UTC): this month and today, whenever the test runs."""
    from brain.ingest import ingest_table

    root = make_vault(NOTES)
    midnight = datetime.combine(datetime.now(UTC).date(), time(0), UTC).isoformat()
    rows = [{"timestamp": midnight, "agent": agent, "provider": "acme", "model": "acme-1", "input_tokens": tokens,
             "output_tokens": 0, "request_id": agent} for agent, tokens in (("support", 1_000_000), ("notes", 200_000))]
    with Store(root / ".brain" / "usage.duckdb") as st:
        ingest_table(st, pa.Table.from_pylist(rows), source="test")
    return root


def _out(capsys, argv: list[str]) -> str:
    capsys.readouterr()
    assert main(argv) == 0
    return capsys.readouterr().out


def test_spend_shows_the_budgets_of_the_rows(vault, capsys):
    out = _out(capsys, ["spend", "--vault", str(vault)])
    table, budgets = out.split("\nBudgets: ")
    assert "Total $12.00" in table  # the spend table as before
    lines = budgets.splitlines()
    assert lines[0] == "spent this month (or today) and projected to its end, UTC"
    assert lines[2].split() == ["agent", "budget", "spent", "used", "projected", "end"]
    support = lines[4].split()
    assert support[:5] == ["Support", "$100.00/month", "$10.00", "10%", support[4]] and len(lines) == 5
    assert float(support[4].strip("$").replace(",", "")) > 10  # spent plus the run-rate for the rest of the month


def test_spend_json_has_a_budget_key_on_every_row(vault, capsys):
    report = json.loads(_out(capsys, ["spend", "--vault", str(vault), "--json"]))
    rows = {r["group"]: r for r in report["rows"]}
    assert rows["Notes Bot"]["budget"] is None
    b = rows["Support"]["budget"]
    assert (b["node"], b["kind"], b["period"], b["budget_usd"]) == ("Agents/Support", "agent", "month", 100)
    assert b["spent_usd"] == pytest.approx(10) and b["used_pct"] == pytest.approx(10)
    assert b["projected_usd"] > 10 and b["period_start"] == datetime.now(UTC).date().replace(day=1).isoformat()
    assert {(x["node"], x["period"]) for x in report["budgets"]} == {
        ("Agents/Support", "month"), ("Teams/Platform", "month"), ("Teams/Platform", "day")}


def test_spend_by_team_shows_the_team_budgets_summing_its_agents(vault, capsys):
    report = json.loads(_out(capsys, ["spend", "--vault", str(vault), "--by", "team", "--json"]))
    (platform,) = report["rows"]
    assert platform["budget"]["period"] == "month" and platform["budget"]["spent_usd"] == pytest.approx(12)
    out = _out(capsys, ["spend", "--vault", str(vault), "--by", "team"])
    budgets = out.split("\nBudgets: ")[1]
    assert "$1,000.00/month" in budgets and "$5.00/day" in budgets
    day = next(line for line in budgets.splitlines() if "/day" in line)
    assert "240%" in day and "over budget" in day  # $12 spent today of $5


def test_spend_by_model_has_no_budgets(vault, capsys):
    report = json.loads(_out(capsys, ["spend", "--vault", str(vault), "--by", "model", "--json"]))
    assert [r["budget"] for r in report["rows"]] == [None]
    assert "Budgets" not in _out(capsys, ["spend", "--vault", str(vault), "--by", "model"])


def test_agent_card_shows_its_budget(vault, capsys):
    out = _out(capsys, ["agent", "Support", "--vault", str(vault)])
    (line,) = [x for x in out.splitlines() if x.lstrip().startswith("budget")]
    assert line.split()[:6] == ["budget", "$100.00/month", "spent", "this", "month", "$10.00"]
    assert "(10%)" in line and "projected month end $" in line
    card = json.loads(_out(capsys, ["agent", "Support", "--vault", str(vault), "--json"]))
    assert card["budget"]["used_pct"] == pytest.approx(10) and card["budgets"] == [card["budget"]]


def test_an_agent_without_a_budget_shows_none(vault, capsys):
    out = _out(capsys, ["agent", "Notes Bot", "--vault", str(vault)])
    assert not [x for x in out.splitlines() if x.lstrip().startswith("budget")]
    card = json.loads(_out(capsys, ["agent", "Notes Bot", "--vault", str(vault), "--json"]))
    assert card["budget"] is None and card["budgets"] == []
