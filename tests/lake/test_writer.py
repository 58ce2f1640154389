"""The event lake writer: validated, priced, deduplicated batches, one Parquet file per UTC day,
named by content so that writing a batch again changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from brain.lake.layout import LakeError, lake_days
from brain.lake.writer import LakeWriter, write_files

ROWS = [
    {"timestamp": "2026-11-30T23:59:00Z", "agent": "a", "provider": "openai", "model": "gpt-4.1-mini",
     "input_tokens": 1000, "output_tokens": 100, "request_id": "r1"},
    {"timestamp": "2026-12-01T00:01:00Z", "agent": "a", "provider": "openai", "model": "gpt-4.1-mini",
     "input_tokens": 2000, "output_tokens": 50, "request_id": "r2", "run_id": "run-1"},
    {"timestamp": "2026-12-01T00:01:00Z", "agent": "a", "provider": "openai", "model": "gpt-4.1-mini",
     "input_tokens": 2000, "output_tokens": 50, "request_id": "r2", "run_id": "run-1"},  # re-sent: a duplicate
    {"timestamp": "2026-12-01T00:02:00Z", "agent": "b", "provider": "openai", "model": "gpt-4.1-mini",
     "input_tokens": -5, "output_tokens": 1},  # untrusted: quarantined
    {"timestamp": "2026-12-01T00:03:00Z", "agent": "b", "provider": "acme", "model": "in-house-13b",
     "input_tokens": 10, "output_tokens": 1},  # unknown model: kept, unpriced
]


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_a_batch_lands_as_one_priced_file_per_utc_day_and_its_bad_rows_in_quarantine(tmp_path):
    src = _jsonl(tmp_path / "usage.jsonl", ROWS)
    report = write_files(str(tmp_path / "lake"), [str(src)])
    assert (report.accepted, report.duplicates, report.quarantined) == (3, 1, 1)
    days = lake_days(str(tmp_path / "lake"))
    assert sorted(days) == ["2026-11-30", "2026-12-01"]
    assert all(len(files) == 1 and Path(files[0].path).name == f"batch-{report.batch}.parquet" for files in days.values())
    con = duckdb.connect()
    rows = con.execute(f"""SELECT request_id, cost_est_usd IS NOT NULL, batch = '{report.batch}', source_file
                           FROM read_parquet('{tmp_path}/lake/date=*/*.parquet') ORDER BY "timestamp" """).fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [("r1", True, True), ("r2", True, True), (None, False, True)]
    assert rows[0][3] == str(src.resolve())
    reasons = con.execute(f"SELECT reason FROM read_parquet('{tmp_path}/lake/_quarantine/*.parquet')").fetchall()
    assert reasons == [("negative input_tokens",)]


def test_writing_the_same_batch_again_changes_nothing(tmp_path):
    (tmp_path / "in").mkdir()
    src = _jsonl(tmp_path / "in" / "usage.jsonl", ROWS)
    first = write_files(str(tmp_path / "lake"), [str(src)])
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in (tmp_path / "lake").rglob("*.parquet")}
    again = write_files(str(tmp_path / "lake"), [str(tmp_path / "in")])  # the folder: the same file, the same batch
    assert again.batch == first.batch and again.written == () and len(again.present) == len(first.written) == 3
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in (tmp_path / "lake").rglob("*.parquet")} == before


def test_collector_batches_are_written_through_the_same_writer(tmp_path):
    import pyarrow as pa

    table = pa.table({"timestamp": ["2026-12-01T10:00:00Z"], "model": ["gpt-4.1-mini"], "provider": ["openai"],
                      "input_tokens": [100], "output_tokens": [10], "request_id": ["span-1"]})
    with LakeWriter(str(tmp_path / "lake")) as w:
        one = w.ingest_table(table, "otlp")
        two = w.ingest_table(table, "otlp")  # a retried batch
    assert one.accepted == 1 and len(one.written) == 1 and two.written == () and two.present == one.written


def test_a_lake_whose_parent_folder_is_missing_is_one_clear_error(tmp_path):
    src = _jsonl(tmp_path / "usage.jsonl", ROWS)
    with pytest.raises(LakeError, match="parent folder does not exist"):
        write_files(str(tmp_path / "no" / "such" / "lake"), [str(src)])


def test_brain_collect_with_a_lake_writes_its_batches_there(tmp_path, free_port):
    import urllib.request

    from brain.live.server import Collecting

    doc = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
                              "scopeSpans": [{"spans": [{
                                  "traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331",
                                  "startTimeUnixNano": "1748772000000000000",
                                  "attributes": [{"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
                                                 {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "100"}},
                                                 {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "10"}}]}]}]}]}
    run = Collecting(None, host="127.0.0.1", port=free_port(), flush_interval_s=0.05, lake=str(tmp_path / "lake")).start()
    try:
        req = urllib.request.Request(f"{run.endpoint}", data=json.dumps(doc).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200
    finally:
        stats = run.stop()  # flushes the pending batch
    assert stats["events_ingested"] == 1
    assert sorted(lake_days(str(tmp_path / "lake"))) == ["2025-06-01"]
