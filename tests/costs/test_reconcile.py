"""Reconciliation: estimates from rollups beside provider cost reports; imports dedupe; gaps flagged."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from brain.cli import main
from brain.costs.reconcile import reconcile
from brain.ingest import ingest_table
from brain.ingest.detect import detect_format, ingest_source
from brain.store.database import Store

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "exports"
NOW = datetime(2025, 6, 3, tzinfo=UTC)


def _load(store, *names):
    for name in names:
        path = FIXTURES / name
        ingest_source(store, path, detect_format(path))


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "usage.duckdb") as s:
        yield s


@pytest.mark.e2e
def test_usage_exports_reimported_keep_the_same_totals(store):
    _load(store, "openai_usage.json", "anthropic_usage.json", "litellm_spend_logs.csv")
    before = store.con.execute("SELECT sum(requests), sum(cost_usd) FROM rollup_daily").fetchall()
    _load(store, "openai_usage.json", "anthropic_usage.json", "litellm_spend_logs.csv")
    assert store.con.execute("SELECT sum(requests), sum(cost_usd) FROM rollup_daily").fetchall() == before
    assert before[0][0] == 40 + 25 + 20 + 2 + 3  # bucket request counts carried through


def test_cost_report_reimport_replaces_instead_of_adding(store):
    first = ingest_source(store, FIXTURES / "openai_costs.json", "openai_costs")
    again = ingest_source(store, FIXTURES / "openai_costs.json", "openai_costs")
    assert (first.inserted, again.inserted, again.replaced, again.duplicates) == (4, 0, 0, 4)
    total = store.con.execute("SELECT sum(amount_usd) FROM provider_costs").fetchall()[0][0]
    assert total == pytest.approx(0.6135)


def test_cost_report_imports_count_like_usage_ingests(tmp_path):
    """`brain ingest` of a cost report: its new rows accepted, an identical re-import all
    duplicates, a re-download whose amounts grew replaces just those rows."""
    from brain.ingest.paths import ingest_paths

    path = tmp_path / "costs.json"
    text = (FIXTURES / "openai_costs.json").read_text()
    path.write_text(text)
    with Store(tmp_path / "s.duckdb") as s:
        first = ingest_paths(s, [str(path)])
        again = ingest_paths(s, [str(path)])
        doc = json.loads(text)
        doc["data"][0]["results"][0]["amount"]["value"] += 1
        path.write_text(json.dumps(doc))
        grown = ingest_paths(s, [str(path)])
    counts = [tuple(r[k] for k in ("accepted", "duplicates", "replaced")) for r in (first, again, grown)]
    assert counts == [(4, 0, 0), (0, 4, 0), (0, 3, 1)]


@pytest.mark.e2e
def test_matching_costs_reconcile_and_a_gap_is_flagged(store):
    _load(store, "openai_usage.json", "openai_costs.json", "anthropic_usage.json", "anthropic_costs.json")
    result = reconcile(store, days=3, threshold_pct=5, now=NOW)
    rows = {(r["day"], r["provider"], r["model"]): r for r in result["rows"]}
    haiku = rows[("2025-06-01", "anthropic", "claude-3-5-haiku-20241022")]
    assert haiku["estimate_usd"] == pytest.approx(haiku["reported_usd"]) and not haiku["flagged"]
    sonnet = rows[("2025-06-01", "anthropic", "claude-sonnet-4-20250514")]
    assert sonnet["reported_usd"] == pytest.approx(0.009975) and not sonnet["flagged"]
    gpt4o = rows[("2025-06-01", "openai", "gpt-4o-2024-08-06")]
    assert gpt4o["estimate_usd"] == pytest.approx(0.5)
    assert gpt4o["reported_usd"] == pytest.approx(0.6)
    assert gpt4o["gap_pct"] == pytest.approx(-100 / 6, abs=1e-3)
    assert gpt4o["flagged"]
    # a day with usage but no cost report has nothing to compare against
    unreported = rows[("2025-06-02", "openai", "gpt-4o-2024-08-06")]
    assert unreported["reported_usd"] is None and not unreported["flagged"]
    assert result["totals"]["flagged"] == 1


@pytest.mark.e2e
def test_event_reported_cost_stands_in_without_a_cost_report(store):
    _load(store, "litellm_spend_logs.csv")
    rows = reconcile(store, days=3, now=NOW)["rows"]
    assert {r["reported_source"] for r in rows} == {"events"}
    assert all(r["estimate_usd"] == pytest.approx(r["reported_usd"], abs=1e-9) for r in rows)


@pytest.mark.e2e
def test_provider_total_without_model_detail_compares_against_all_models(store):
    path = FIXTURES / "anthropic_usage.json"
    ingest_source(store, path, "anthropic_usage")
    totals = store.con.execute("SELECT sum(cost_usd) FROM rollup_daily").fetchall()[0][0]
    cost = Path(store.path).parent / "anthropic_total.json"
    cents = f"{totals * 100:.6f}"
    cost.write_text(
        json.dumps(
            {"data": [{"starting_at": "2025-06-01T00:00:00Z", "ending_at": "2025-06-02T00:00:00Z",
                       "results": [{"currency": "USD", "amount": cents, "workspace_id": None,
                                    "description": None, "model": None}]}]}
        )
    )  # fmt: skip
    ingest_source(store, cost, "anthropic_costs")
    (row,) = reconcile(store, days=3, now=NOW)["rows"]
    assert row["model"] is None and row["reported_source"] == "cost_export"
    assert row["gap_usd"] == pytest.approx(0, abs=1e-6)


@pytest.mark.e2e
def test_reconcile_cli_prints_json(tmp_path, capsys):
    store_path = tmp_path / "usage.duckdb"
    with Store(store_path) as store:
        _load(store, "openai_usage.json", "openai_costs.json")
    code = main(["reconcile", "--store", str(store_path), "--vault", str(tmp_path), "--days", "100000", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["totals"]["flagged"] == 1
    assert any(r["flagged"] and r["model"] == "gpt-4o-2024-08-06" for r in out["rows"])


@pytest.mark.e2e
def test_reconcile_estimates_as_brain_spend_does_after_price_notes(tmp_path, make_vault, capsys):
    """Regression: reconcile summed list prices, so a discount note made it differ from `brain spend`."""
    vault = make_vault({
        "Prices/OpenAI discount.md": """\
            ---
            type: price
            provider: openai
            model: gpt-4o-2024-08-06
            discount_pct: 15
            valid_from: 2025-01-01
            ---
            """,
    })
    store_path = vault / ".brain" / "usage.duckdb"
    with Store(store_path) as store:
        _load(store, "openai_usage.json", "openai_costs.json")
        listed = store.con.execute("SELECT sum(cost_usd) FROM rollup_daily").fetchall()[0][0]
    common = ["--vault", str(vault), "--days", "100000", "--json"]
    assert main(["reconcile", *common]) == 0
    estimate = json.loads(capsys.readouterr().out)["totals"]["estimate_usd"]
    assert main(["spend", *common]) == 0
    spent = json.loads(capsys.readouterr().out)["total_usd"]
    assert estimate == pytest.approx(spent, abs=1e-9)
    assert estimate < listed - 1e-6  # the discount applies


@pytest.mark.e2e
@pytest.mark.parametrize("days", ["0", "-3", "99999999", "x"])
def test_reconcile_refuses_a_day_count_out_of_range(tmp_path, days, capsys):
    with Store(tmp_path / "usage.duckdb") as store:
        _load(store, "openai_usage.json")
    assert main(["reconcile", "--vault", str(tmp_path), "--store", str(tmp_path / "usage.duckdb"), "--days", days]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"Error: --days: must be a whole number of days between 1 and 100,000 (got {days!r}); "
                   "see `brain reconcile --help`"]


def test_reconcile_core_refuses_days_below_one(store):
    from brain.errors import BrainError

    with pytest.raises(BrainError, match="days must be at least 1"):
        reconcile(store, days=0, now=NOW)


@pytest.mark.e2e
def test_reconcile_table_reads_as_money(tmp_path, make_vault, capsys):
    """Regression: gaps without `$` and with four decimals, a flag column with no header, and
    unpriced usage shown as $0.0000."""
    vault = make_vault({"Agents/Bot.md": "---\ntype: agent\n---\n"})
    with Store(vault / ".brain" / "usage.duckdb") as store:
        _load(store, "openai_usage.json", "openai_costs.json")
        ingest_table(store, pa.Table.from_pylist([
            {"timestamp": datetime(2025, 1, 2, 12, tzinfo=UTC), "provider": "openai", "model": "gpt-unknown-9",
             "input_tokens": 1000, "output_tokens": 10, "request_id": "u1"}]), "t")
    assert main(["reconcile", "--vault", str(vault), "--days", "100000"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[0].split()
    assert header[-1] == "flag" and "gap" in header
    body = "\n".join(lines[2:])
    assert "unpriced (1 request)" in body and "$0.0000" not in body
    gaps = [c for line in lines[2:] for c in line.split() if c.startswith(("+$", "-$"))]
    assert gaps and all(re.fullmatch(r"[+-]\$[\d,]+(\.\d+)?", g) for g in gaps)
