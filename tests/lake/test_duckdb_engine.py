"""`brain rollup --engine duckdb`: the lake's rollups equal the store's for the same events; only
changed days are rebuilt; a corrupt file is reported and skipped; a missing lake is one error."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from brain.cli import main
from brain.ingest import ingest_files
from brain.lake import duckdb_engine
from brain.lake.layout import LakeError
from brain.lake.writer import write_files
from brain.store.database import Store

NOW = datetime(2026, 12, 7, tzinfo=UTC)


@pytest.fixture
def lake_and_store(tmp_path, events_file):
    """40,000 generated events (and their re-sent copies) in a lake and, ingested, in a store."""
    src = events_file(tmp_path / "events.parquet", 40_000, NOW, days=5)
    with Store(tmp_path / "usage.duckdb") as st:
        ingest_files(st, [str(src)])
    write_files(str(tmp_path / "lake"), [str(src)])
    return tmp_path / "lake", tmp_path / "usage.duckdb", src


def test_lake_rollups_equal_the_store_rollups_row_by_row(tmp_path, lake_and_store, same_rollups):
    lake, store, _ = lake_and_store
    report = duckdb_engine.run(str(lake), str(tmp_path / "rollups"))
    assert len(report.rebuilt) == 5 and report.events == 40_000 and not report.skipped
    same_rollups(tmp_path / "rollups", store)


def test_only_changed_days_are_rebuilt_and_copies_in_other_batches_count_once(tmp_path, lake_and_store, same_rollups):
    lake, store, src = lake_and_store
    out = tmp_path / "rollups"
    duckdb_engine.run(str(lake), str(out))
    assert duckdb_engine.run(str(lake), str(out)).rebuilt == ()  # a second run: nothing changed
    # the same events again, as JSONL: another batch (other bytes), every event a duplicate
    import duckdb

    duckdb.sql(f"COPY (SELECT * FROM read_parquet('{src}') WHERE \"timestamp\" >= TIMESTAMPTZ '2026-12-06') "
               f"TO '{tmp_path / 'again.jsonl'}' (FORMAT json)")
    write_files(str(lake), [str(tmp_path / "again.jsonl")])
    report = duckdb_engine.run(str(lake), str(out))
    assert report.rebuilt == ("2026-12-06",) and report.unchanged == 4
    same_rollups(out, store)


def test_a_corrupt_lake_file_is_reported_with_its_path_and_skipped(tmp_path, lake_and_store):
    lake, _, _ = lake_and_store
    day = sorted(lake.glob("date=*"))[2]
    bad = day / "batch-torn.parquet"
    whole = next(day.glob("batch-*.parquet")).read_bytes()
    bad.write_bytes(whole[: len(whole) // 2])  # a torn copy: no footer
    out = tmp_path / "rollups"
    report = duckdb_engine.run(str(lake), str(out))
    assert [s["path"] for s in report.skipped] == [str(bad)]
    assert len(report.rebuilt) == 5 and report.events == 40_000  # the rest rolled up
    assert duckdb_engine.run(str(lake), str(out)).rebuilt == (day.name.removeprefix("date="),)  # reported again
    bad.unlink()
    assert duckdb_engine.run(str(lake), str(out)).skipped == ()


def test_a_lake_that_does_not_exist_is_one_clear_error(tmp_path, capsys):
    with pytest.raises(LakeError, match="does not exist"):
        duckdb_engine.run(str(tmp_path / "nope"), str(tmp_path / "rollups"))
    assert main(["rollup", "--lake", str(tmp_path / "nope"), "--out", str(tmp_path / "rollups")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"Error: event lake {tmp_path / 'nope'} does not exist")


def test_cli_writes_the_lake_and_rolls_it_up(tmp_path, lake_and_store, capsys):
    _, _, src = lake_and_store
    assert main(["lake", "write", str(tmp_path / "lake2"), str(src), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accepted"] == 40_000
    assert main(["rollup", "--lake", str(tmp_path / "lake2"), "--out", str(tmp_path / "r2"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["engine"] == "duckdb" and report["events"] == 40_000 and Path(tmp_path / "r2" / "_manifest.json").exists()
