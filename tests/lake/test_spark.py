"""The Spark job (local[2]): the same rollups as the DuckDB path on the demo's usage plus a generated
1M-event set, the same `brain spend --json` and `brain anomalies --json`, idempotent, incremental,
past a corrupt file. One Spark session for the run (`spark` fixture); skipped with how to enable
Spark when pyspark or Java is missing."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from brain.cli import main
from brain.lake import duckdb_engine, spark_job
from brain.lake.layout import LakeError

pytestmark = pytest.mark.e2e
NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)
GENERATED = 1_000_000


@pytest.fixture(scope="module")
def world(tmp_path_factory, events_file):
    """The demo vault with its store holding the demo's usage plus GENERATED events (ingested by
    `brain ingest`), and the same two batches in a lake."""
    from brain.demo.build import build_demo
    from brain.demo.usage import generate_usage
    from brain.ingest import ingest_files
    from brain.lake.writer import LakeWriter
    from brain.store.database import Store

    root = tmp_path_factory.mktemp("spark")
    demo = build_demo(root / "vault", now=NOW, days=45)
    events = events_file(root / "generated.parquet", GENERATED, NOW, days=20)
    with Store(demo.store) as st:
        ingest_files(st, [str(events)])
    with LakeWriter(str(root / "lake")) as w:
        w.ingest_table(generate_usage(NOW, days=45, seed=7), "demo")
        w.write_files([str(events)])
    return root, demo.store


@pytest.fixture(scope="module")
def rolled(world, spark):
    """The lake rolled up by Spark and by DuckDB."""
    root, _ = world
    report = spark_job.run(spark, str(root / "lake"), str(root / "spark"))
    duckdb_engine.run(str(root / "lake"), str(root / "duckdb"))
    return report


def test_spark_rollups_equal_the_duckdb_rollups_row_by_row(world, rolled, same_rollups):
    root, store = world
    assert rolled.events > GENERATED and not rolled.skipped
    same_rollups(root / "spark", store)  # the store `brain ingest` kept
    same_rollups(root / "spark", root / "duckdb")  # the DuckDB engine on the same lake


@pytest.mark.parametrize("args", [
    ("spend", "--since", "2026-11-01", "--until", "2026-12-06"),
    ("spend", "--by", "key", "--since", "2026-11-20", "--until", "2026-12-06"),
    ("anomalies", "--now", NOW.isoformat(), "--days", "30"),
])
def test_cli_json_is_identical_on_both_engines(world, rolled, capsys, args):
    root, _ = world
    outs = []
    for rollups in ("spark", "duckdb"):
        assert main([*args, "--vault", str(root / "vault"), "--json", "--rollups", str(root / rollups)]) == 0
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1] and json.loads(outs[0])


def test_running_the_job_again_or_writing_a_batch_again_changes_nothing(world, rolled, spark):
    root, _ = world
    files = {p: p.read_bytes() for p in (root / "spark").rglob("*.parquet")}
    again = spark_job.run(spark, str(root / "lake"), str(root / "spark"))
    assert again.rebuilt == () and again.unchanged == len(rolled.rebuilt)
    from brain.lake.writer import write_files

    assert write_files(str(root / "lake"), [str(root / "generated.parquet")]).written == ()
    assert spark_job.run(spark, str(root / "lake"), str(root / "spark")).rebuilt == ()
    assert {p: p.read_bytes() for p in (root / "spark").rglob("*.parquet")} == files


def test_a_corrupt_file_is_skipped_and_reported_and_only_its_day_is_rebuilt(world, rolled, spark, same_rollups, tmp_path):
    import shutil

    root, _ = world
    lake = tmp_path / "lake"
    shutil.copytree(root / "lake", lake)
    shutil.copytree(root / "spark", tmp_path / "out")
    day = sorted(lake.glob("date=*"))[-3]
    bad = day / "batch-zzz.parquet"
    bad.write_bytes(b"PAR1 this is not parquet")
    report = spark_job.run(spark, str(lake), str(tmp_path / "out"))
    assert report.rebuilt == (day.name.removeprefix("date="),)
    assert [s["path"].removeprefix("file:") for s in report.skipped] == [str(bad)]
    same_rollups(tmp_path / "out", root / "duckdb")  # the rest of the day rolled up: nothing lost


def test_a_lake_that_does_not_exist_is_one_clear_error(spark, tmp_path, capsys):
    with pytest.raises(LakeError, match="does not exist"):
        spark_job.run(spark, str(tmp_path / "nope"), str(tmp_path / "out"))
    assert main(["rollup", "--engine", "spark", "--lake", str(tmp_path / "nope"), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"Error: event lake {tmp_path / 'nope'} does not exist")
