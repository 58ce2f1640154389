"""`--rollups ROLLUPS`: the brain reads a rollups folder instead of its store's rollups, and every
view answers as it does from the store (the demo company, rolled up from a lake by DuckDB)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from brain.cli import main

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)
pytestmark = pytest.mark.e2e  # builds the demo company


@pytest.fixture(scope="module")
def demo_lake(tmp_path_factory):
    """The demo vault (usage in its store) and the same usage as a lake rolled up by DuckDB."""
    from brain.demo.build import build_demo
    from brain.demo.usage import generate_usage
    from brain.lake import duckdb_engine
    from brain.lake.writer import LakeWriter

    root = tmp_path_factory.mktemp("catalog")
    build_demo(root / "vault", now=NOW, days=45)
    with LakeWriter(str(root / "lake")) as w:
        w.ingest_table(generate_usage(NOW, days=45, seed=7), "demo")
    duckdb_engine.run(str(root / "lake"), str(root / "rollups"))
    return root


def _json(capsys, *args) -> str:
    assert main(list(args)) == 0, capsys.readouterr().err
    return capsys.readouterr().out


@pytest.mark.parametrize("args", [
    ("spend", "--by", "agent", "--since", "2026-11-01", "--until", "2026-12-06"),
    ("spend", "--by", "team", "--since", "2026-11-10", "--until", "2026-12-01"),
    ("spend", "--by", "model", "--since", "2026-11-01", "--until", "2026-12-06"),
    ("anomalies", "--now", NOW.isoformat(), "--days", "30"),
    ("agent", "Support Agent", "--days", "30"),
])
def test_views_from_the_rollups_folder_equal_the_stores(demo_lake, capsys, args):
    vault = str(demo_lake / "vault")
    store = _json(capsys, *args, "--vault", vault, "--json")
    lake = _json(capsys, *args, "--vault", vault, "--json", "--rollups", str(demo_lake / "rollups"))
    if args[0] == "agent":  # a card's window ends today: compare what does not move with the clock
        store, lake = ({k: v for k, v in json.loads(x).items() if k not in ("run_rate_usd_per_day", "projected_30d_usd",
                        "projected_quarter_usd")} for x in (store, lake))
    assert store == lake and len(str(store)) > 500


def test_the_catalog_sits_beside_the_store_and_keeps_acks(demo_lake, capsys):
    vault = demo_lake / "vault"
    found = json.loads(_json(capsys, "anomalies", "--now", NOW.isoformat(), "--days", "30", "--vault", str(vault),
                             "--json", "--rollups", str(demo_lake / "rollups")))
    assert (vault / ".brain" / "rollups.duckdb").exists() and found
    _json(capsys, "anomalies", "--rollups", str(demo_lake / "rollups"), "ack", found[0]["id"], "--now", NOW.isoformat(),
          "--vault", str(vault), "--json")
    again = json.loads(_json(capsys, "anomalies", "--now", NOW.isoformat(), "--days", "30", "--vault", str(vault),
                             "--json", "--rollups", str(demo_lake / "rollups")))
    assert found[0]["id"] not in {a["id"] for a in again}


def test_rollups_folder_problems_are_one_clear_line(demo_lake, tmp_path, capsys):
    vault = str(demo_lake / "vault")
    assert main(["spend", "--vault", vault, "--rollups", str(tmp_path / "nope")]) == 1
    assert capsys.readouterr().err.strip() == (f"Error: rollups folder {tmp_path / 'nope'} does not exist; make it with "
                                                f"`brain rollup --lake LAKE --out {tmp_path / 'nope'}`")
    assert main(["spend", "--vault", vault, "--rollups", str(tmp_path)]) == 1
    assert "holds no rollups" in capsys.readouterr().err
    assert main(["ingest", str(tmp_path), "--vault", vault, "--rollups", str(demo_lake / "rollups")]) == 1
    assert "--rollups (or BRAIN_ROLLUPS) is for reading" in capsys.readouterr().err
