"""Ingest: formats, quarantine rules, idempotence, atomicity and rollups kept current."""

from __future__ import annotations

import io
import json
import sys
from datetime import UTC, datetime, timedelta
from unittest.mock import ANY

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brain.errors import IngestError
from brain.ingest import ingest_files, ingest_table
from brain.store.database import Store

BASE = {
    "timestamp": "2025-03-01T10:00:00Z",
    "agent": "support-agent",
    "provider": "openai",
    "model": "gpt-4o",
    "input_tokens": 1000,
    "output_tokens": 100,
}


def _jsonl(path, rows) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _totals(store: Store) -> tuple:
    return store.con.execute(
        "SELECT count(*), sum(input_tokens), sum(output_tokens), sum(cost_est_usd) FROM events"
    ).fetchone()


def _rollup_totals(store: Store, table: str) -> tuple:
    return store.con.execute(
        f"SELECT sum(requests), sum(events), sum(input_tokens), sum(output_tokens), round(sum(cost_usd), 9),"
        f" sum(unpriced_requests) FROM {table}"
    ).fetchone()


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / ".brain" / "usage.duckdb")
    yield s
    s.close()


BAD_ROWS = [
    ({"timestamp": None}, "missing timestamp"),
    ({"timestamp": "yesterday-ish"}, "unparseable timestamp"),
    ({"timestamp": (datetime.now(UTC) + timedelta(days=30)).isoformat()}, "timestamp in the future"),
    ({"timestamp": "1990-01-01T00:00:00Z"}, "timestamp before 2000"),
    ({"model": None}, "missing model"),
    ({"input_tokens": -5}, "negative input_tokens"),
    ({"output_tokens": 12.5}, "non-integer output_tokens"),
    ({"output_tokens": "lots"}, "non-numeric output_tokens"),
    ({"cache_read_tokens": 900, "cache_write_tokens": 200}, "cache tokens exceed input_tokens"),
    ({"reasoning_tokens": 101}, "reasoning_tokens exceed output_tokens"),
    ({"requests": 0}, "requests must be at least 1"),
    ({"status": "maybe"}, "unknown status"),
    ({"cost_usd": -1}, "invalid cost_usd"),
]


@pytest.mark.e2e
@pytest.mark.parametrize(("change", "reason"), BAD_ROWS, ids=[r for _, r in BAD_ROWS])
def test_each_bad_row_kind_is_quarantined_with_its_reason_and_line(store, tmp_path, change, reason):
    good = [{**BASE, "request_id": f"g{i}"} for i in range(3)]
    bad = {**BASE, "request_id": "bad", **change}
    path = _jsonl(tmp_path / "u.jsonl", [good[0], bad, *good[1:]])
    report = ingest_files(store, [path])
    assert (report.accepted, report.duplicates, report.quarantined) == (3, 0, 1)
    line, why, src, raw = store.con.execute("SELECT source_line, reason, source_file, raw FROM quarantine").fetchone()
    assert line == 2 and why == reason and src.endswith("u.jsonl")  # its reason alone
    assert raw == json.dumps(bad)  # the line as written, to fix it by


@pytest.mark.e2e
def test_quarantine_report_counts_by_file_and_reason_and_filters(store, tmp_path, capsys):
    from brain.cli import main
    from brain.ingest.quarantine import quarantine_report

    (tmp_path / "logs").mkdir()
    a = _jsonl(tmp_path / "logs" / "a_1.jsonl", [{**BASE, "request_id": f"a{i}", "timestamp": "soon"} for i in range(3)])
    b = _jsonl(tmp_path / "b.jsonl", [{**BASE, "request_id": "b", "input_tokens": -1}, {**BASE, "request_id": "ok"}])
    ingest_files(store, [a, b])
    report = quarantine_report(store, limit=2)
    assert report["total"] == 4 and len(report["rows"]) == 2
    assert [(r["source_file"].rsplit("/", 1)[-1], r["reason"], r["rows"]) for r in report["by_reason"]] == [
        ("a_1.jsonl", "unparseable timestamp", 3), ("b.jsonl", "negative input_tokens", 1)]
    assert quarantine_report(store, file="logs/a_1.jsonl")["total"] == 3
    assert quarantine_report(store, file=b)["total"] == 1
    assert quarantine_report(store, file="a%1.jsonl")["total"] == 0  # LIKE wildcards are literal
    assert quarantine_report(store, file="_1.jsonl")["total"] == 0  # a whole file name, not any suffix
    assert quarantine_report(store, reason="TIMESTAMP")["total"] == 3
    assert quarantine_report(store, reason="timestamp", file="b.jsonl")["total"] == 0
    store.close()
    assert main(["quarantine", "--store", str(tmp_path / ".brain" / "usage.duckdb"), "--limit", "1"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[2].split()[:3] == ["3", "unparseable", "timestamp"]
    assert "1 of 4 rows shown" in out


@pytest.mark.e2e
def test_a_reingested_file_shows_its_current_bad_rows_and_keeps_the_old_ones(store, tmp_path, monkeypatch):
    from brain.ingest.quarantine import quarantine_report

    path = tmp_path / "u.jsonl"
    rows = [{**BASE, "request_id": "a", "timestamp": "soon"}, {**BASE, "request_id": "b", "input_tokens": -1},
            {**BASE, "request_id": "c"}]
    _jsonl(path, rows)
    ingest_files(store, [path])
    ingest_files(store, [path])  # unchanged: the same two rows, re-stamped, not copied
    assert quarantine_report(store)["total"] == 2 and store.con.execute("SELECT count(*) FROM quarantine").fetchone() == (2,)
    rows[0]["timestamp"] = BASE["timestamp"]  # fix one line
    _jsonl(path, rows)
    report = ingest_files(store, [path])
    assert (report.accepted, report.quarantined) == (1, 1)
    current = quarantine_report(store)
    assert current["total"] == 1 and current["superseded"] == 1
    assert current["rows"][0]["reason"] == "negative input_tokens"
    history = quarantine_report(store, history=True)
    assert history["total"] == 2 and history["superseded"] == 0
    assert sorted(r["superseded"] for r in history["rows"]) == [False, True]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b'{"timestamp": "soon", "model": "m"}\n')))
    ingest_files(store, ["-"])
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b'{"timestamp": "later", "model": "m"}\n')))
    ingest_files(store, ["-"])
    assert quarantine_report(store, file="<stdin>")["total"] == 2  # each stdin ingest is new input
    _jsonl(path, [rows[2]])  # every bad line gone: the file has nothing in quarantine
    ingest_files(store, [path])
    assert quarantine_report(store, file=str(path))["total"] == 0
    assert quarantine_report(store, file=str(path), history=True)["total"] == 2


def test_malformed_json_lines_are_quarantined_and_the_rest_kept(store, tmp_path):
    path = tmp_path / "u.jsonl"
    path.write_text(json.dumps({**BASE, "request_id": "a"}) + "\n{not json\n" + json.dumps({**BASE, "request_id": "b"}) + "\n")
    report = ingest_files(store, [str(path)])
    assert (report.accepted, report.quarantined) == (2, 1)
    assert store.con.execute("SELECT source_line, reason, raw FROM quarantine").fetchone() == (2, "malformed JSON line", "{not json")


@pytest.mark.e2e
@pytest.mark.parametrize("also_malformed", [False, True], ids=["typed reader", "line-exact reader"])
def test_json_lines_that_are_not_objects_say_so(store, tmp_path, also_malformed):
    lines = [json.dumps({**BASE, "request_id": "a"}), "[1, 2]", "42", ' "text"', json.dumps({**BASE, "request_id": "b"})]
    path = tmp_path / "u.jsonl"
    path.write_text("\n".join(lines + (["{not json"] if also_malformed else [])) + "\n")
    report = ingest_files(store, [str(path)])
    assert (report.accepted, report.quarantined) == (2, 3 + also_malformed)
    rows = store.con.execute("SELECT source_line, reason, raw FROM quarantine ORDER BY 1").fetchall()
    assert rows[:3] == [(n, "not a JSON object (one event per line)", lines[n - 1]) for n in (2, 3, 4)]


def test_double_ingest_leaves_totals_unchanged(store, tmp_path):
    rows = [{**BASE, "request_id": f"r{i}", "input_tokens": 100 + i} for i in range(50)]
    rows += [{**BASE, "input_tokens": 7, "run_id": f"run{i}"} for i in range(5)]  # no request id: hashed
    path = _jsonl(tmp_path / "u.jsonl", rows)
    first = ingest_files(store, [path])
    before = (_totals(store), _rollup_totals(store, "rollup_hourly"), _rollup_totals(store, "rollup_daily"))
    second = ingest_files(store, [path])
    after = (_totals(store), _rollup_totals(store, "rollup_hourly"), _rollup_totals(store, "rollup_daily"))
    assert first.accepted == 55 and second.accepted == 0 and second.duplicates == 55
    assert before == after


@pytest.mark.e2e
@pytest.mark.parametrize("filler", [0, 200_000])
def test_duplicates_within_one_file_keep_the_first(store, tmp_path, filler):
    # Text files are read in parallel chunks without line numbers (filler makes ~40 MB, several
    # chunks): the first of two rows sharing an id must still be the one kept.
    rows = [{**BASE, "request_id": "twin"}, {**BASE, "request_id": "same", "input_tokens": 10}]
    rows += [{**BASE, "request_id": f"r{i}"} for i in range(filler // 2)]
    rows += [{**BASE, "request_id": "same", "input_tokens": 30}, {**BASE, "request_id": "twin"}]
    rows += [{**BASE, "request_id": f"s{i}"} for i in range(filler // 2)]
    rows += [{**BASE, "request_id": "same", "input_tokens": 20}]
    report = ingest_files(store, [_jsonl(tmp_path / "u.jsonl", rows)])
    assert (report.accepted, report.duplicates) == (2 + filler, 3)
    assert store.con.execute("SELECT input_tokens FROM events WHERE request_id = 'same'").fetchall() == [(10,)]
    assert store.con.execute("SELECT count(*) FROM events WHERE request_id = 'twin'").fetchall() == [(1,)]


@pytest.mark.e2e
def test_models_first_seen_after_the_price_sample_are_priced_the_same(tmp_path, monkeypatch):
    import brain.ingest.pipeline as ingest_mod

    rows = [{**BASE, "request_id": "a"},
            {**BASE, "request_id": "b", "provider": None, "model": "claude-3-5-haiku", "cache_read_tokens": 300},
            {**BASE, "request_id": "c", "provider": "anthropic", "model": "claude-sonnet-4-5"},
            {**BASE, "request_id": "d", "model": "in-house-7b"},
            {**BASE, "request_id": "e", "model": "gpt-4o-mini", "input_tokens": -5}]  # quarantined
    path = _jsonl(tmp_path / "u.jsonl", rows)
    q = "SELECT request_id, price_id IS NULL, cost_est_usd FROM events ORDER BY 1"
    with Store(tmp_path / "whole.duckdb") as whole:
        ingest_files(whole, [path])
        expected = whole.con.execute(q).fetchall()
        models = whole.con.execute("SELECT * FROM price_models ORDER BY ALL").fetchall()
    monkeypatch.setattr(ingest_mod, "PRICE_SAMPLE_ROWS", 1)
    with Store(tmp_path / "late.duckdb") as late:
        report = ingest_files(late, [path])
        assert (report.accepted, report.quarantined) == (4, 1)
        assert late.con.execute(q).fetchall() == expected
        assert late.con.execute("SELECT * FROM price_models ORDER BY ALL").fetchall() == models
    assert [r[1] for r in expected] == [False, False, False, True]


def test_parquet_events_keep_their_row_number(store, tmp_path):
    path = tmp_path / "u.parquet"
    pq.write_table(pa.Table.from_pylist([{**BASE, "request_id": f"r{i}"} for i in range(3)]), path)
    ingest_files(store, [path])
    assert store.con.execute("SELECT request_id, source_line FROM events ORDER BY 2").fetchall() == [
        ("r0", 1), ("r1", 2), ("r2", 3)]


@pytest.mark.e2e
@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "arrow", "csv"])
def test_bad_rows_are_quarantined_at_their_lines_whatever_the_reader(store, tmp_path, fmt):
    # Parquet and Arrow rows carry their row numbers, and so does a JSONL file whose typed read
    # failed (a truncated last line): only the untrusted lines are read again for the quarantine.
    rows = [{**BASE, "request_id": f"r{i}"} for i in range(8)]
    rows[1]["input_tokens"] = -1
    rows[4]["model"] = None
    if fmt == "jsonl":
        path = tmp_path / "u.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"timestamp": "2025-03-01T1')
        report = ingest_files(store, [path])
        expected = [(2, "negative input_tokens"), (5, "missing model"), (9, "malformed JSON line")]
    elif fmt == "csv":  # the header is line 1
        path = tmp_path / "u.csv"
        pacsv.write_csv(pa.Table.from_pylist(rows), path)
        report = ingest_files(store, [path])
        expected = [(3, "negative input_tokens"), (6, "missing model")]
    else:
        table = pa.Table.from_pylist(rows)
        if fmt == "parquet":
            pq.write_table(table, tmp_path / "u.parquet")
            report = ingest_files(store, [tmp_path / "u.parquet"])
        else:
            report = ingest_table(store, table, "arrow-source")
        expected = [(2, "negative input_tokens"), (5, "missing model")]
    assert report.accepted == 6 and report.quarantined == len(expected)
    assert store.con.execute("SELECT source_line, reason FROM quarantine ORDER BY 1").fetchall() == expected
    if fmt == "jsonl":
        assert store.con.execute("SELECT raw FROM quarantine WHERE source_line = 9").fetchone() == (
            '{"timestamp": "2025-03-01T1',)


def test_malformed_lines_only_are_numbered_without_validating_the_rest(store, tmp_path):
    # every untrusted line is malformed JSON (two identical ones, and a cut-off last line): they
    # are found by json_valid alone and numbered by their text
    good = [json.dumps({**BASE, "request_id": f"g{i}"}) for i in range(5)]
    lines = [good[0], "{oops", good[1], good[2], "{oops", good[3], good[4], '{"timestamp": "2025-03-01T10:0']
    (tmp_path / "u.jsonl").write_text("\n".join(lines))
    report = ingest_files(store, [tmp_path / "u.jsonl"])
    assert (report.accepted, report.quarantined) == (5, 3)
    assert store.con.execute("SELECT source_line, reason, raw FROM quarantine ORDER BY 1").fetchall() == [
        (2, "malformed JSON line", "{oops"), (5, "malformed JSON line", "{oops"),
        (8, "malformed JSON line", '{"timestamp": "2025-03-01T10:0')]


def test_a_parquet_file_with_its_own_file_row_number_column_is_read(store, tmp_path):
    rows = [{**BASE, "request_id": f"r{i}", "file_row_number": 100 + i} for i in range(3)]
    rows[1]["input_tokens"] = -1
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "u.parquet")
    report = ingest_files(store, [tmp_path / "u.parquet"])
    assert (report.accepted, report.quarantined) == (2, 1)
    assert store.con.execute("SELECT reason FROM quarantine").fetchall() == [("negative input_tokens",)]


@pytest.mark.e2e
def test_failure_mid_ingest_leaves_the_store_as_before(store, tmp_path):
    ingest_files(store, [_jsonl(tmp_path / "old.jsonl", [{**BASE, "request_id": "old"}])])
    before = (_totals(store), _rollup_totals(store, "rollup_daily"), store.con.execute("SELECT count(*) FROM ingests").fetchone())
    a = _jsonl(tmp_path / "a.jsonl", [{**BASE, "request_id": "a", "timestamp": "2025-03-01T10:30:00Z"}])
    b = _jsonl(tmp_path / "b.jsonl", [{**BASE, "request_id": "b"}, {**BASE, "timestamp": "bad"}])

    def crash(phase: str, done: int, total: int) -> None:
        if phase.startswith("storing") and done == 1:  # after a.jsonl's rows went into events
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ingest_files(store, [a, b], progress=crash)
    after = (_totals(store), _rollup_totals(store, "rollup_daily"), store.con.execute("SELECT count(*) FROM ingests").fetchone())
    assert after == before
    assert store.con.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 0
    assert ingest_files(store, [a, b]).accepted == 2  # and it can be retried


def test_csv_and_parquet_read_the_same_rows(store, tmp_path):
    rows = [{**BASE, "request_id": f"r{i}", "status": "error" if i % 4 == 0 else "ok"} for i in range(8)]
    table = pa.Table.from_pylist(rows)
    pq.write_table(table.slice(0, 4), tmp_path / "a.parquet")
    import pyarrow.csv as pcsv

    pcsv.write_csv(table.slice(4), tmp_path / "b.csv")
    report = ingest_files(store, [tmp_path / "a.parquet", tmp_path / "b.csv"])
    assert report.accepted == 8 and [f.format for f in report.files] == ["parquet", "csv"]
    assert store.con.execute("SELECT sum(error_requests) FROM rollup_daily").fetchone()[0] == 2


@pytest.mark.e2e
@pytest.mark.parametrize("eol", ["\n", "\r\n"])
def test_csv_rows_that_cannot_be_parsed_are_quarantined_and_the_rest_kept(store, tmp_path, eol):
    head = "timestamp,model,input_tokens,request_id"
    ok = "2025-03-01T10:00:00Z,gpt-4o,{},{}"
    lines = [head, ok.format(5, "a"), "2025-03-01T10:00:00Z,x", "2025-03-01T10:00:00Z,y,7,9,z",
             ok.format(-3, "b"), ok.format(6, "c"), '2025-03-01T10:00:00Z,"gpt-4o,8']
    path = tmp_path / "u.csv"
    path.write_bytes((eol.join(lines) + eol).encode())
    good = _jsonl(tmp_path / "good.jsonl", [{**BASE, "request_id": "g"}])
    for ingest in (1, 2):
        report = ingest_files(store, [path, good])
        f = report.files[0]
        assert (f.rows, f.accepted, f.duplicates, f.quarantined, f.error) == (6, 2 if ingest == 1 else 0, 0 if ingest == 1 else 2, 4, None)
        assert store.con.execute("SELECT ingest_id, source_line, reason, raw FROM quarantine ORDER BY 2").fetchall() == [
            (ingest, 3, "malformed CSV row: Expected Number of Columns: 4 Found: 2", lines[2]),
            (ingest, 4, "malformed CSV row: Expected Number of Columns: 4 Found: 5", lines[3]),
            (ingest, 5, "negative input_tokens", ANY),  # its line number counts the two skipped lines
            (ingest, 7, "malformed CSV row: Value with unterminated quote found.", lines[6]),
        ]
    assert store.con.execute("SELECT request_id, input_tokens FROM events ORDER BY 1").fetchall() == [
        ("a", 5), ("c", 6), ("g", 1000)
    ]
    assert not store.con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()


def test_a_csv_row_with_an_open_quote_is_kept_whole_and_listed_on_one_line(store, tmp_path, capsys):
    from brain.cli import main

    path = tmp_path / "u.csv"  # the open quote runs to the end of the file: those lines are its row
    path.write_text("timestamp,model\n2025-03-01T10:00:00Z,gpt-4o\n2025-03-01T11:00:00Z,\"gpt\n2025-03-01T12:00:00Z,gpt-4o\n")
    assert ingest_files(store, [path]).files[0].quarantined == 1
    assert store.con.execute("SELECT source_line, raw FROM quarantine").fetchall() == [
        (3, '2025-03-01T11:00:00Z,"gpt\n2025-03-01T12:00:00Z,gpt-4o')
    ]
    store.close()
    assert main(["quarantine", "--store", str(tmp_path / ".brain" / "usage.duckdb")]) == 0
    (listed,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith(str(path))]
    assert listed.endswith('2025-03-01T11:00:00Z,"gpt\\n2025-03-01T12:00:00Z,gpt-4o')


def test_csv_lines_count_the_header(store, tmp_path):
    path = tmp_path / "u.csv"
    path.write_text("timestamp,model,input_tokens\n2025-03-01T00:00:00Z,gpt-4o,5\nnope,gpt-4o,5\n")
    ingest_files(store, [path])
    assert store.con.execute("SELECT source_line FROM quarantine").fetchone()[0] == 3


def test_stdin_dash_reads_jsonl(store, monkeypatch):
    data = (json.dumps({**BASE, "request_id": "s1"}) + "\n").encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    report = ingest_files(store, ["-"])
    assert report.accepted == 1 and report.files[0].source == "<stdin>"


def test_unreadable_files_are_reported_and_others_kept(store, tmp_path):
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    (tmp_path / "notes.txt").write_text("hello")
    good = _jsonl(tmp_path / "good.jsonl", [{**BASE, "request_id": "x"}])
    report = ingest_files(store, [tmp_path / "broken.parquet", tmp_path / "notes.txt", tmp_path / "nope.jsonl", good])
    assert report.accepted == 1 and report.readable
    errors = [f.error for f in report.files if f.error]
    assert len(errors) == 3 and any("--format" in e for e in errors) and any("no such file" in e for e in errors)
    by_file = {f.source.rsplit("/", 1)[-1]: f.error for f in report.files}
    assert by_file["good.jsonl"] is None
    assert by_file["broken.parquet"].startswith(f"cannot read {tmp_path / 'broken.parquet'} as parquet: ")
    assert by_file["notes.txt"] == f"cannot tell the format of {tmp_path / 'notes.txt'}; pass --format jsonl|csv|parquet"
    assert by_file["nope.jsonl"] == f"no such file: {tmp_path / 'nope.jsonl'}"
    nothing = ingest_files(store, [tmp_path / "notes.txt"])
    assert not nothing.readable and nothing.ingest_id is None


def test_a_binary_file_is_refused_by_name_and_the_files_beside_it_kept(store, tmp_path):
    import gzip

    (tmp_path / "image.jsonl").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with gzip.open(tmp_path / "packed.csv.gz", "wb") as fh:
        fh.write(b"timestamp,model\n\x00\x01\x02")
    good = _jsonl(tmp_path / "good.jsonl", [{**BASE, "request_id": "x"}])
    report = ingest_files(store, [tmp_path / "image.jsonl", tmp_path / "packed.csv.gz", good])
    assert report.accepted == 1
    errors = {f.source.rsplit("/", 1)[-1]: f for f in report.files if f.error}
    assert set(errors) == {"image.jsonl", "packed.csv.gz"}
    assert "binary file, not jsonl text (a NUL byte at byte 8)" in errors["image.jsonl"].error
    assert errors["image.jsonl"].format == "jsonl" and "binary file, not csv" in errors["packed.csv.gz"].error
    assert store.con.execute("SELECT count(*) FROM quarantine").fetchone() == (0,)


def test_folders_are_expanded_to_the_usage_files_under_them(store, tmp_path):
    from brain.ingest.paths import ingest_paths

    logs = tmp_path / "logs"
    (logs / "2025" / "03").mkdir(parents=True)
    (logs / ".cache").mkdir()
    _jsonl(logs / "2025" / "03" / "01.jsonl", [{**BASE, "request_id": "a"}])
    _jsonl(logs / "2025" / "03" / "02.ndjson", [{**BASE, "request_id": "b"}])
    _jsonl(logs / ".cache" / "stale.jsonl", [{**BASE, "request_id": "c"}])  # hidden: skipped
    (logs / "README.txt").write_text("usage exports land here")  # unknown extension: skipped
    (tmp_path / "empty").mkdir()
    result = ingest_paths(store, [str(logs), str(tmp_path / "empty")])
    assert result["accepted"] == 2
    read = sorted(f["source"].rsplit("/", 1)[-1] for f in result["files"] if not f.get("error"))
    assert read == ["01.jsonl", "02.ndjson"]
    (empty,) = [f for f in result["files"] if f.get("error")]
    assert empty["format"] == "folder" and "no usage files" in empty["error"]
    assert "is a folder" in ingest_files(store, [logs]).files[0].error  # the library takes files only


def test_file_without_timestamp_column_is_an_error(store, tmp_path):
    report = ingest_files(store, [_jsonl(tmp_path / "u.csv", [])], format="parquet")
    assert report.files[0].error
    assert report.files[0].error.startswith(f"cannot read {tmp_path / 'u.csv'} as parquet: ")
    pq.write_table(pa.table({"model": ["gpt-4o"]}), tmp_path / "x.parquet")
    assert "timestamp" in ingest_files(store, [tmp_path / "x.parquet"]).files[0].error
    assert ingest_files(store, [tmp_path / "x.parquet"]).files[0].error.startswith(f"{tmp_path / 'x.parquet'} has no 'timestamp' column")
    with pytest.raises(IngestError, match="t: the table has no 'timestamp' column"):
        ingest_table(store, pa.table({"model": ["gpt-4o"]}), "t")
    assert store.con.execute("SELECT count(*) FROM events").fetchone() == (0,)


def test_rollups_count_runs_errors_and_p95(store):
    t0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
    rows = [
        {"timestamp": t0 + timedelta(minutes=i), "agent": "a", "provider": "openai", "model": "gpt-4o",
         "input_tokens": 100 * (i + 1), "output_tokens": 10, "run_id": f"run{i // 5}",
         "status": "error" if i == 3 else "ok", "request_id": f"q{i}", "cost_usd": 0.01,
         "requests": None}
        for i in range(20)
    ]
    rows.append({"timestamp": t0, "agent": "a", "provider": "openai", "model": "gpt-4o",
                 "input_tokens": 300, "output_tokens": 30, "requests": 3, "request_id": "agg",
                 "run_id": None, "status": None, "cost_usd": None})
    ingest_table(store, pa.Table.from_pylist(rows), "t")
    r = store.con.execute(
        "SELECT requests, error_requests, runs, events, input_tokens_p95, round(reported_cost_usd, 6) FROM rollup_hourly"
    ).fetchone()
    assert r[:4] == (23, 1, 4 + 3, 21)
    assert r[4] == pytest.approx(1900.0) and r[5] == 0.2


@pytest.mark.e2e
def test_later_ingest_recomputes_touched_buckets_with_old_events(store):
    t0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
    row = {"agent": "a", "provider": "openai", "model": "gpt-4o", "input_tokens": 10, "output_tokens": 1, "run_id": "R"}
    ingest_table(store, pa.Table.from_pylist([{**row, "timestamp": t0, "request_id": "1"}]), "t1")
    ingest_table(store, pa.Table.from_pylist([{**row, "timestamp": t0 + timedelta(minutes=5), "request_id": "2"}]), "t2")
    assert store.con.execute("SELECT requests, runs, events, agent_runs FROM rollup_hourly").fetchall() == [(2, 1, 2, 1)]
    assert store.con.execute("SELECT requests, runs, agent_runs FROM rollup_daily").fetchall() == [(2, 1, 1)]
    # the same run later calls a model that sorts first: the agent's run moves to that row
    other = {**row, "provider": "anthropic", "model": "claude-3-5-haiku", "timestamp": t0 + timedelta(minutes=9)}
    ingest_table(store, pa.Table.from_pylist([{**other, "request_id": "3"}]), "t3")
    for table in ("rollup_hourly", "rollup_daily"):
        assert store.con.execute(f"SELECT model, runs, agent_runs FROM {table} ORDER BY model").fetchall() == [
            ("claude-3-5-haiku", 1, 1), ("gpt-4o", 1, 0)]


def test_a_run_on_two_models_is_one_agent_run_per_bucket(store):
    # QA spend2 item 4: R1 calls two models; R2 crosses midnight; one request carries no run id.
    # `runs` counts per (provider, model) row (R1 in each of its models); `agent_runs` once per
    # bucket and (agent, key, service). A run crossing the hour or midnight counts in each bucket.
    rows = [
        ("2026-11-20T12:00:00Z", "openai", "gpt-4o-mini", "R1"),
        ("2026-11-20T12:00:01Z", "anthropic", "claude-haiku-4-5", "R1"),
        ("2026-11-20T12:30:00Z", "openai", "gpt-4o-mini", None),
        ("2026-11-20T23:59:50Z", "openai", "gpt-4o-mini", "R2"),
        ("2026-11-21T00:00:10Z", "openai", "gpt-4o-mini", "R2"),
        ("2026-11-21T00:00:20Z", None, "in-house-7b", "R2"),
    ]
    ingest_table(store, pa.Table.from_pylist([
        {"timestamp": ts, "agent": "runner", "provider": p, "model": m, "input_tokens": 100, "output_tokens": 1,
         "run_id": run, "request_id": f"q{i}"} for i, (ts, p, m, run) in enumerate(rows)]), "t")
    q = "SELECT strftime({b}, '%d %H'), provider, model, runs, agent_runs FROM {t} ORDER BY 1, 2 NULLS FIRST, 3"
    assert store.con.execute(q.format(b="hour", t="rollup_hourly")).fetchall() == [
        ("20 12", "anthropic", "claude-haiku-4-5", 1, 2), ("20 12", "openai", "gpt-4o-mini", 2, 0),
        ("20 23", "openai", "gpt-4o-mini", 1, 1),
        ("21 00", None, "in-house-7b", 1, 1), ("21 00", "openai", "gpt-4o-mini", 1, 0)]
    assert store.con.execute(q.format(b="day", t="rollup_daily")).fetchall() == [
        ("20 00", "anthropic", "claude-haiku-4-5", 1, 3), ("20 00", "openai", "gpt-4o-mini", 3, 0),
        ("21 00", None, "in-house-7b", 1, 1), ("21 00", "openai", "gpt-4o-mini", 1, 0)]


_row = st.fixed_dictionaries(
    {
        "minute": st.integers(0, 60 * 72),
        "agent": st.sampled_from(["a", "b", None]),
        "model": st.sampled_from(["gpt-4o", "gpt-4o-mini", "claude-3-5-haiku", "unknown-x"]),
        "input_tokens": st.integers(0, 5000),
        "output_tokens": st.integers(0, 500),
        "run_id": st.sampled_from(["r1", "r2", None]),
    }
)


def _rounded(rows: list[tuple]) -> list[tuple]:
    return [tuple(round(x, 9) if isinstance(x, float) else x for x in r) for r in rows]


@pytest.mark.e2e
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(_row, min_size=1, max_size=40), split=st.integers(0, 40))
def test_rollups_do_not_depend_on_how_usage_was_split_into_ingests(tmp_path_factory, rows, split):
    t0 = datetime(2025, 3, 1, tzinfo=UTC)
    data = [
        {**{k: v for k, v in r.items() if k != "minute"}, "timestamp": t0 + timedelta(minutes=r["minute"]),
         "provider": None, "request_id": f"id{i}"}
        for i, r in enumerate(rows)
    ]
    d = tmp_path_factory.mktemp("h")
    one, two = Store(d / "one.duckdb"), Store(d / "two.duckdb")
    ingest_table(one, pa.Table.from_pylist(data), "all")
    for part, name in ((data[split:], "late"), (data[:split], "early")):
        if part:
            ingest_table(two, pa.Table.from_pylist(part), name)
    q = "SELECT * FROM {t} ORDER BY ALL"
    for table in ("rollup_hourly", "rollup_daily"):
        a = one.con.execute(q.format(t=table)).fetchall()
        b = two.con.execute(q.format(t=table)).fetchall()
        assert _rounded(a) == _rounded(b)
    one.close()
    two.close()


def _direct_rollup(store: Store, bucket: str, p95: bool) -> list[tuple]:
    """The rollup computed the obvious way, straight from the events: `agent_runs` is the distinct
    runs of the (bucket, agent, key, service) group on its first (provider, model) row, else 0."""
    p95s = (", quantile_cont(input_tokens::DOUBLE / requests, 0.95), "
            "quantile_cont(output_tokens::DOUBLE / requests, 0.95)") if p95 else ""
    runs = "count(DISTINCT run_id) + coalesce(sum(requests) FILTER (WHERE run_id IS NULL), 0)"
    triple = ("b", "agent", "api_key_id", "service_name")
    same = " AND ".join(f"t.{c} IS NOT DISTINCT FROM r.{c}" for c in triple)
    return _rounded(store.con.execute(f"""
        WITH rows AS (
            SELECT date_trunc('{bucket}', "timestamp") AS b, agent, api_key_id, service_name, provider, model,
                sum(requests), coalesce(sum(requests) FILTER (WHERE status = 'error'), 0),
                {runs}, count(*),
                sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), sum(cache_write_tokens),
                sum(reasoning_tokens), coalesce(sum(cost_est_usd), 0),
                coalesce(sum(requests) FILTER (WHERE cost_est_usd IS NULL), 0), sum(cost_usd){p95s}
            FROM events GROUP BY ALL
        ), per_triple AS (
            SELECT date_trunc('{bucket}', "timestamp") AS b, agent, api_key_id, service_name, {runs} AS agent_runs
            FROM events GROUP BY ALL
        )
        SELECT r.*, CASE WHEN row_number() OVER (PARTITION BY {", ".join(f"r.{c}" for c in triple)}
                ORDER BY r.provider NULLS FIRST, r.model NULLS FIRST) = 1 THEN t.agent_runs ELSE 0 END
        FROM rows r JOIN per_triple t ON {same}
        ORDER BY ALL""").fetchall())


def _stored_rollup(store: Store, table: str, bucket: str, p95: bool) -> list[tuple]:
    p95s = ", input_tokens_p95, output_tokens_p95" if p95 else ""
    return _rounded(store.con.execute(f"""
        SELECT {bucket}, agent, api_key_id, service_name, provider, model, requests, error_requests,
            runs, events, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
            reasoning_tokens, cost_usd, unpriced_requests, reported_cost_usd{p95s}, agent_runs
        FROM {table} ORDER BY ALL""").fetchall())


@pytest.mark.e2e
def test_rollups_equal_a_direct_aggregate_of_the_events(store):
    # Hours of 1 to 45 events (p95 from the two largest values up to 20, from the events beyond),
    # runs spanning hours, days, keys and (in half the combinations) models, requests without a run id, unknown
    # models without a provider, reported costs, several agents, keys and models, ingested in three
    # parts that share days and hours.
    import random

    rnd = random.Random(7)
    t0 = datetime(2025, 3, 1, 20, 0, tzinfo=UTC)
    rows = []
    for hour in range(10):
        for combo in range(6):
            for k in range(rnd.choice([1, 2, 3, 5, 19, 20, 21, 22, 45])):
                model = ["gpt-4o", "gpt-4o-mini", "in-house-7b"][(combo + (k % 2) * (combo // 3)) % 3]
                rows.append({
                    "timestamp": t0 + timedelta(hours=hour, minutes=rnd.randrange(60)),
                    "agent": ["a", "b", None][combo % 3], "api_key_id": [None, "key_1"][combo % 2],
                    "provider": None if model == "in-house-7b" else "openai", "model": model,
                    "input_tokens": rnd.choice([100, 100, 250, 4000, rnd.randrange(1, 9000)]),
                    "output_tokens": rnd.randrange(1, 900), "requests": rnd.choice([1, 1, 1, 3]),
                    "run_id": None if k % 7 == 6 else f"run-{combo % 3}-{(hour * 60 + k) // 50}",
                    "status": rnd.choice(["ok"] * 9 + ["error"]),
                    "cost_usd": rnd.choice([None, 0.01]),
                    "request_id": f"q{len(rows)}",
                })
    rnd.shuffle(rows)
    third = len(rows) // 3
    for part in (rows[:third], rows[third:2 * third], rows[2 * third:]):
        ingest_table(store, pa.Table.from_pylist(part), "t")
    assert _stored_rollup(store, "rollup_hourly", "hour", True) == _direct_rollup(store, "hour", True)
    assert _stored_rollup(store, "rollup_daily", "day", False) == _direct_rollup(store, "day", False)
    sizes = [n for (n,) in store.con.execute("SELECT events FROM rollup_hourly").fetchall()]
    assert min(sizes) == 1 and max(sizes) > 20
    runs, agent_runs = store.con.execute("SELECT sum(runs), sum(agent_runs) FROM rollup_hourly").fetchone()
    assert agent_runs < runs  # runs that used two models count once in agent_runs


@pytest.mark.e2e
def test_rows_not_kept_leave_with_the_ingest_and_the_next_ingest_clears_left_overs(store, tmp_path):
    # Untrusted rows and duplicates are marked with the negated ingest id and deleted once the
    # ingest has committed. If that cleanup never ran (the process died in between), the next
    # ingest removes the marked rows before it reads anything (spend reads rollups, never them).
    first = [{**BASE, "request_id": f"a{i}", "timestamp": f"2025-03-01T10:{i:02d}:00Z"} for i in range(6)]
    first += [{**BASE, "request_id": "a1"}, {**BASE, "request_id": "bad", "input_tokens": -4}]
    report = ingest_files(store, [_jsonl(tmp_path / "a.jsonl", first)])
    assert (report.accepted, report.duplicates, report.quarantined) == (6, 1, 1)
    assert store.con.execute("SELECT count(*) FROM events WHERE ingest_id < 0").fetchone() == (0,)
    # what an interrupted cleanup would leave: copies of stored rows, marked
    store.con.execute("INSERT INTO events SELECT * REPLACE (-7 AS ingest_id) FROM events")
    again = [{**BASE, "request_id": f"b{i}", "timestamp": f"2025-03-01T10:{30 + i}:00Z"} for i in range(3)]
    report = ingest_files(store, [_jsonl(tmp_path / "b.jsonl", [*again, {**BASE, "request_id": "a2"}])])
    assert (report.accepted, report.duplicates) == (3, 1)  # a2 is a duplicate of the kept row only
    assert store.con.execute("SELECT count(*) FROM events WHERE ingest_id < 0").fetchone() == (0,)
    assert store.con.execute("SELECT count(*) FROM events").fetchone() == (9,)
    # the hour both ingests touched was recomputed from its kept events
    assert _stored_rollup(store, "rollup_hourly", "hour", True) == _direct_rollup(store, "hour", True)
    assert _rollup_totals(store, "rollup_daily")[:2] == (9, 9)


def test_ingest_restores_the_connection_settings(store, tmp_path):
    q = ("SELECT current_setting('memory_limit'), current_setting('preserve_insertion_order'), "
         "current_setting('disabled_optimizers')")
    before = store.con.execute(q).fetchone()
    ingest_files(store, [_jsonl(tmp_path / "u.jsonl", [{**BASE, "request_id": "a"}, {**BASE, "input_tokens": -1}])])
    after = store.con.execute(q).fetchone()
    assert after == before


# --- bucketed sources (provider usage exports): a grown bucket replaces the stored one --------

BUCKET = {"timestamp": datetime(2025, 3, 1, tzinfo=UTC), "api_key_id": "key_1", "provider": "openai",
          "model": "gpt-4o", "cache_read_tokens": 0, "status": "ok"}


def _buckets(*specs) -> pa.Table:
    """Bucket rows (request_id, hour offset, requests, input, output) as an export adapter hands them."""
    return pa.Table.from_pylist([
        {**BUCKET, "request_id": rid, "timestamp": BUCKET["timestamp"] + timedelta(hours=h),
         "requests": n, "input_tokens": i, "output_tokens": o}
        for rid, h, n, i, o in specs
    ])


def _store_state(store: Store) -> tuple:
    return (
        store.con.execute("SELECT event_id, requests, input_tokens, output_tokens, cost_est_usd FROM events ORDER BY ALL").fetchall(),
        store.con.execute("SELECT * EXCLUDE (input_tokens_p95, output_tokens_p95) FROM rollup_hourly ORDER BY ALL").fetchall(),
        store.con.execute("SELECT * FROM rollup_daily ORDER BY ALL").fetchall(),
        store.con.execute("SELECT count(*) FROM ingests").fetchall(),
    )


@pytest.mark.e2e
def test_reimported_grown_bucket_replaces_the_stored_one(store):
    ingest_table(store, _buckets(("b:00", 0, 10, 1000, 100), ("b:01", 1, 4, 400, 40)), "export-morning", bucketed=True)
    later = _buckets(("b:00", 0, 10, 1000, 100), ("b:01", 1, 9, 900, 90), ("b:02", 2, 2, 200, 20))
    report = ingest_table(store, later, "export-evening", bucketed=True)
    assert (report.accepted, report.replaced, report.duplicates) == (1, 1, 1)
    assert report.files[0].replaced == 1
    # totals equal the newest buckets, not the sum of both downloads
    fresh = Store(store.path.parent / "fresh.duckdb")
    ingest_table(fresh, later, "export-evening", bucketed=True)
    assert _store_state(store)[:3] == _store_state(fresh)[:3]
    assert _rollup_totals(store, "rollup_daily") == (21, 3, 2100, 210, *_rollup_totals(fresh, "rollup_daily")[4:])
    assert store.con.execute("SELECT replaced FROM ingests ORDER BY ingest_id").fetchall() == [(0,), (1,)]
    fresh.close()


def test_identical_bucket_reimport_changes_nothing(store):
    rows = _buckets(("b:00", 0, 10, 1000, 100), ("b:01", 1, 4, 400, 40))
    ingest_table(store, rows, "export", bucketed=True)
    before = _store_state(store)[:3]
    again = ingest_table(store, rows, "export", bucketed=True)
    assert (again.accepted, again.replaced, again.duplicates) == (0, 0, 2)
    assert _store_state(store)[:3] == before


@pytest.mark.e2e
def test_per_request_sources_stay_insert_only_first_wins(store):
    ingest_table(store, _buckets(("r1", 0, 1, 1000, 100)), "spans")
    report = ingest_table(store, _buckets(("r1", 0, 1, 5000, 500)), "spans-again")
    assert (report.accepted, report.replaced, report.duplicates) == (0, 0, 1)
    # nor does a bucket replace a per-request event that shares its id
    report = ingest_table(store, _buckets(("r1", 0, 3, 9000, 900)), "export", bucketed=True)
    assert (report.accepted, report.replaced, report.duplicates) == (0, 0, 1)
    assert store.con.execute("SELECT input_tokens, bucketed FROM events").fetchall() == [(1000, False)]


@pytest.mark.e2e
def test_replacing_a_bucket_that_moved_recomputes_both_hours(store):
    ingest_table(store, _buckets(("b:x", 0, 5, 500, 50)), "old", bucketed=True)
    ingest_table(store, _buckets(("b:x", 3, 6, 600, 60)), "new", bucketed=True)
    assert store.con.execute("SELECT hour, requests FROM rollup_hourly").fetchall() == [
        (BUCKET["timestamp"] + timedelta(hours=3), 6)]


@pytest.mark.e2e
def test_an_older_download_ingested_later_is_a_duplicate_not_a_shrink(store):
    """QA otlp2 bug 3: the last file ingested won, so re-ingesting an older download shrank a grown bucket."""
    grown = _buckets(("b:00", 0, 15, 3000, 300), ("b:01", 24, 5, 1000, 100))
    ingest_table(store, grown, "usage_1123.json", bucketed=True)
    before = _store_state(store)[:3]
    stale = ingest_table(store, _buckets(("b:00", 0, 5, 1000, 100)), "usage_1122.json", bucketed=True)
    assert (stale.accepted, stale.replaced, stale.duplicates) == (0, 0, 1)
    assert _store_state(store)[:3] == before
    # and the grown folder ingested again, older file first, changes nothing either
    for table, source in ((_buckets(("b:00", 0, 5, 1000, 100)), "usage_1122.json"), (grown, "usage_1123.json")):
        report = ingest_table(store, table, source, bucketed=True)
        assert (report.accepted, report.replaced) == (0, 0)
    assert _store_state(store)[:3] == before


@pytest.mark.parametrize(
    ("stored", "new", "replaced"),
    [
        ((5, 1000, 100), (6, 900, 90), True),     # more requests wins, even with fewer tokens
        ((5, 1000, 100), (4, 9000, 900), False),  # fewer requests loses, even with more tokens
        ((5, 1000, 100), (5, 1000, 101), True),   # same requests: more tokens wins
        ((5, 1000, 100), (5, 999, 100), False),
        ((5, 1000, 100), (5, 1000, 100), False),  # equal: a duplicate
    ],
)
@pytest.mark.e2e
def test_a_stored_bucket_is_replaced_only_by_a_larger_one(store, stored, new, replaced):
    ingest_table(store, _buckets(("b:00", 0, *stored)), "first", bucketed=True)
    report = ingest_table(store, _buckets(("b:00", 0, *new)), "second", bucketed=True)
    assert (report.replaced, report.duplicates) == ((1, 0) if replaced else (0, 1))
    kept = new if replaced else stored
    assert store.con.execute("SELECT requests, input_tokens, output_tokens FROM events").fetchall() == [kept]


def test_within_one_ingest_the_largest_copy_of_a_bucket_wins(store):
    report = ingest_table(store, _buckets(("b:00", 0, 5, 1000, 100), ("b:00", 0, 15, 3000, 300)), "pages", bucketed=True)
    assert (report.accepted, report.duplicates) == (1, 1)
    assert store.con.execute("SELECT requests FROM events").fetchall() == [(15,)]


@pytest.mark.e2e
def test_crash_while_replacing_buckets_leaves_the_store_unchanged(store):
    ingest_table(store, _buckets(("b:00", 0, 10, 1000, 100)), "morning", bucketed=True)
    before = _store_state(store)

    def crash(phase: str, done: int, total: int) -> None:
        if phase == "updating rollups":  # the old bucket is deleted and the new one inserted by now
            raise KeyboardInterrupt

    grown = _buckets(("b:00", 0, 30, 3000, 300), ("b:01", 1, 1, 100, 10))
    with pytest.raises(KeyboardInterrupt):
        ingest_table(store, grown, "evening", bucketed=True, progress=crash)
    assert _store_state(store) == before
    assert ingest_table(store, grown, "evening", bucketed=True).replaced == 1  # and it can be retried


@pytest.mark.e2e
def test_overlapping_sources_lists_keys_fed_by_an_export_and_by_telemetry(store):
    from brain.ingest import overlapping_sources

    now = BUCKET["timestamp"] + timedelta(days=2)
    ingest_table(store, _buckets(("b:00", 0, 10, 1000, 100)), "openai_usage.json", bucketed=True)
    spans = _buckets(("span-1", 0, 1, 100, 10), ("span-2", 30, 1, 100, 10))  # day 1 overlaps, day 2 does not
    ingest_table(store, spans, "otlp")
    other_key = pa.Table.from_pylist([{**spans.to_pylist()[0], "request_id": "span-3", "api_key_id": "key_2"}])
    ingest_table(store, other_key, "otlp")
    assert overlapping_sources(store, days=30, now=now) == [{
        "api_key_id": "key_1", "day": "2025-03-01", "bucketed_sources": ["openai_usage.json"],
        "request_sources": ["otlp"], "bucketed_requests": 10, "request_requests": 1,
    }]
    assert overlapping_sources(store, days=1, now=now) == []


def test_rows_of_a_model_another_source_priced_later_are_priced(tmp_path, monkeypatch):
    """A model past the first source's price sample, sampled by a later source of the same ingest."""
    import brain.ingest.pipeline as ingest_mod

    monkeypatch.setattr(ingest_mod, "PRICE_SAMPLE_ROWS", 1)
    first = _jsonl(tmp_path / "a.jsonl", [{**BASE, "request_id": "a1"}, {**BASE, "request_id": "a2"},
                                          {**BASE, "request_id": "a3", "model": "gpt-4o-mini"}])
    later = tmp_path / "b.csv"
    later.write_text("timestamp,provider,model,input_tokens,output_tokens,request_id\n"
                     "2025-03-01T11:00:00Z,openai,gpt-4o-mini,10,1,b1\n")
    with Store(tmp_path / "s.duckdb") as s:
        report = ingest_files(s, [first, str(later)])
        assert report.accepted == 4
        assert s.con.execute("SELECT request_id FROM events WHERE cost_est_usd IS NULL").fetchall() == []
        priced = s.con.execute("SELECT request_id FROM events WHERE cost_est_usd > 0 ORDER BY 1").fetchall()
        assert priced == [("a1",), ("a2",), ("a3",), ("b1",)]
        assert _rollup_totals(s, "rollup_hourly")[-1] == 0


def test_json_booleans_and_arrays_are_not_numbers(store, tmp_path):
    """`true` is not 1 token and not $1 (the fast typed read took it for 1)."""
    path = _jsonl(tmp_path / "u.jsonl", [
        {**BASE, "request_id": "ok"},
        {**BASE, "request_id": "t", "input_tokens": True},
        {**BASE, "request_id": "f", "output_tokens": False},
        {**BASE, "request_id": "c", "cost_usd": True},
        {**BASE, "request_id": "s", "input_tokens": "1000"},  # a number written as text still counts
    ])
    report = ingest_files(store, [path])
    assert (report.accepted, report.quarantined) == (2, 3)
    rows = store.con.execute("SELECT source_line, reason FROM quarantine ORDER BY 1").fetchall()
    assert rows == [(2, "non-numeric input_tokens"), (3, "non-numeric output_tokens"), (4, "invalid cost_usd")]
    assert store.con.execute("SELECT sum(cost_usd), sum(input_tokens) FROM events").fetchone() == (None, 2000)


def test_a_file_named_directly_and_inside_a_folder_is_read_once(store, tmp_path, monkeypatch):
    from brain.ingest.paths import ingest_paths

    logs = tmp_path / "logs"
    logs.mkdir()
    _jsonl(logs / "a.jsonl", [{**BASE, "request_id": "a"}])
    (logs / "bad.csv").write_text("model\ngpt-4o\n")  # no timestamp column: an error, reported once
    monkeypatch.chdir(tmp_path)
    result = ingest_paths(store, ["logs/a.jsonl", str(logs), "logs/bad.csv", "./logs/a.jsonl"])
    assert (result["accepted"], result["duplicates"]) == (1, 0)
    assert sorted(f["source"].rsplit("/", 1)[-1] for f in result["files"]) == ["a.jsonl", "bad.csv"]


def test_a_parquet_file_damaged_inside_is_reported_with_its_reason_and_the_others_kept(store, tmp_path):
    # The footer reads fine; a compressed data page does not, halfway through the insert.
    n = 50_000
    pq.write_table(pa.table({
        "timestamp": ["2025-03-01T10:00:00Z"] * n, "provider": ["openai"] * n, "model": ["gpt-4o"] * n,
        "input_tokens": list(range(n)), "output_tokens": [5] * n, "request_id": [f"r{i}" for i in range(n)],
    }), tmp_path / "bad.parquet", compression="snappy", row_group_size=5_000)
    data = bytearray((tmp_path / "bad.parquet").read_bytes())
    data[len(data) // 2:len(data) // 2 + 20_000] = b"\xff" * 20_000
    (tmp_path / "bad.parquet").write_bytes(bytes(data))
    good = _jsonl(tmp_path / "good.jsonl", [{**BASE, "request_id": "g"}])
    q = "SELECT current_setting('disabled_optimizers'), current_setting('memory_limit')"
    before = store.con.execute(q).fetchone()
    report = ingest_files(store, [str(tmp_path / "bad.parquet"), good])
    assert report.accepted == 1
    error = next(f.error for f in report.files if f.error)
    assert "bad.parquet" in error and "decompression" in error.lower()  # the reader's reason, not "transaction aborted"
    assert store.con.execute(q).fetchone() == before


@pytest.mark.e2e
def test_provider_names_are_lower_cased_so_one_provider_is_one_group(store, tmp_path):
    """QA otlp2 bug 7: `Anthropic` (OpenLLMetry's gen_ai.system) and `anthropic` were two providers."""
    rows = [{**BASE, "provider": p, "model": "claude-sonnet-4-5", "request_id": f"r{i}"}
            for i, p in enumerate(["Anthropic", "anthropic", " ANTHROPIC "])]  # fmt: skip
    ingest_files(store, [_jsonl(tmp_path / "a.jsonl", rows[:2])])
    ingest_table(store, pa.Table.from_pylist(rows[2:]), "otlp")
    got = store.con.execute("SELECT provider, count(*), count(cost_est_usd) FROM events GROUP BY ALL").fetchall()
    assert got == [("anthropic", 3, 3)]
