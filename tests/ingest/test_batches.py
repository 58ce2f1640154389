"""Many files in one ingest are read in batches (one statement per format), with the same result
as reading them one by one: rows, source files and lines, duplicates, quarantine and reports."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from brain.ingest import batches, canonical, ingest_files
from brain.store.database import Store

ROW = {  # one good event
    "timestamp": "2025-03-01T10:00:00Z",
    "agent": "support-agent",
    "provider": "openai",
    "model": "gpt-4o",
    "input_tokens": 1000,
    "output_tokens": 100,
}
COLUMNS = ("timestamp", "agent", "provider", "model", "input_tokens", "output_tokens", "request_id")


def _rows(n: int, tag: str) -> list[dict]:
    """`n` rows of file `tag`: its own ids, one id every file shares (with this file's values), a
    bad row, and an id repeated inside the file with different values (the first must win)."""
    rows = [{**ROW, "request_id": f"{tag}-{i}", "input_tokens": 1000 + i, "timestamp": f"2025-03-01T{i % 24:02d}:00:00Z"}
            for i in range(n)]
    rows.insert(1, {**ROW, "request_id": "shared", "input_tokens": 7, "agent": tag})
    rows.insert(2, {**ROW, "request_id": f"{tag}-bad", "input_tokens": -5})
    rows.insert(3, {**ROW, "request_id": f"{tag}-0", "input_tokens": 3})
    return rows


def _write(path: Path, fmt: str, rows: list[dict], upper: bool = False) -> str:
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif fmt == "csv":  # columns in another order, some names in capitals: read by name
        cols = list(reversed(COLUMNS))
        head = [c.upper() if upper and c in ("timestamp", "model") else c for c in cols]
        path.write_text(",".join(head) + "\n" + "".join(",".join(str(r.get(c, "")) for c in cols) + "\n" for r in rows))
    else:
        cols = COLUMNS if not upper else tuple(c for c in COLUMNS if c != "agent")  # a column missing
        pq.write_table(pa.table({c: [r.get(c) for r in rows] for c in cols}), path)
    return str(path)


def _files(folder: Path, fmts: list[str]) -> list[str]:
    folder.mkdir()
    ext = {"jsonl": "jsonl", "csv": "csv", "parquet": "parquet"}
    return [_write(folder / f"f{i}.{ext[fmt]}", fmt, _rows(5 + i, f"f{i}"), upper=i % 2 == 1)
            for i, fmt in enumerate(fmts)]


def _state(store: Store) -> tuple:
    events = store.con.execute(
        """SELECT "timestamp", agent, provider, model, input_tokens, output_tokens, request_id, source_file,
                  source_line, round(cost_est_usd, 12) FROM events ORDER BY ALL"""
    ).fetchall()
    quarantined = store.con.execute("SELECT source_file, source_line, reason, raw FROM quarantine ORDER BY ALL").fetchall()
    hourly = store.con.execute(
        "SELECT hour, agent, requests, runs, input_tokens, round(cost_usd, 12) FROM rollup_hourly ORDER BY ALL"
    ).fetchall()
    return events, quarantined, hourly


def _reports(report) -> list[tuple]:
    return [(f.source, f.format, f.rows, f.accepted, f.duplicates, f.quarantined, f.error) for f in report.files]


@pytest.fixture
def spy(monkeypatch):
    """Per ingest: the sources batching made, and (the same list, as the ingest left it) the
    sources it ran with in the end."""
    seen: list[tuple[list[canonical.Source], list[canonical.Source]]] = []
    real = batches.batched

    def batched(con, sources):
        out = real(con, sources)
        seen.append((list(out), out))
        return out

    monkeypatch.setattr(batches, "batched", batched)
    return seen


FORMAT_SETS = {
    "jsonl": ["jsonl"] * 4,
    "csv": ["csv"] * 4,
    "parquet": ["parquet"] * 4,
    "mixed": ["jsonl", "csv", "parquet", "jsonl", "parquet", "csv", "jsonl"],
}


@pytest.mark.e2e
@pytest.mark.parametrize("fmts", FORMAT_SETS.values(), ids=FORMAT_SETS.keys())
def test_files_read_together_give_what_one_by_one_gives(tmp_path, spy, fmts):
    paths = _files(tmp_path / "usage", fmts)
    with Store(tmp_path / "together.duckdb") as together:
        report = ingest_files(together, paths)
        batches = [s for s in spy[-1][0] if s.parts]
        assert {s.format for s in batches} == set(fmts) and sum(len(s.parts) for s in batches) == len(paths)
        got = _state(together)
    with Store(tmp_path / "apart.duckdb") as apart:
        reports = [ingest_files(apart, [p]) for p in paths]
        want = _state(apart)
    assert got == want
    assert _reports(report) == [r for one in reports for r in _reports(one)]
    # every file: its own rows plus 'shared' in the first file only; one bad row; one repeated id
    assert [(f.accepted, f.duplicates, f.quarantined) for f in report.files] == [
        (5 + i + (i == 0), 1 + (i > 0), 1) for i in range(len(paths))
    ]
    assert report.files[0].source == str(Path(paths[0]).resolve())
    assert got[0] and all(src.endswith(("jsonl", "csv", "parquet")) for *_, src, _line, _cost in got[0])
    shared = [e for e in got[0] if e[6] == "shared"]
    assert [e[1] for e in shared] == ["f0"]  # the first file given wins an id the files share


def test_a_batch_keeps_the_order_files_were_given_in(tmp_path):
    a = _write(tmp_path / "a.jsonl", "jsonl", [{**ROW, "request_id": "x", "agent": "from-a"}])
    b = _write(tmp_path / "b.jsonl", "jsonl", [{**ROW, "request_id": "x", "agent": "from-b"}])
    c = _write(tmp_path / "c.csv", "csv", [{**ROW, "request_id": "y", "agent": "from-c"}])
    with Store(tmp_path / "s.duckdb") as store:
        report = ingest_files(store, [c, b, a])
        assert [Path(f.source).name for f in report.files] == ["c.csv", "b.jsonl", "a.jsonl"]
        assert store.con.execute("SELECT agent FROM events ORDER BY agent").fetchall() == [("from-b",), ("from-c",)]


def test_a_file_that_breaks_its_batch_is_split_off_and_read_line_by_line(tmp_path, spy):
    folder = tmp_path / "logs"
    folder.mkdir()
    paths = [_write(folder / f"{i}.jsonl", "jsonl", [{**ROW, "request_id": f"{i}-{j}"} for j in range(3)])
             for i in range(4)]
    broken = folder / "2.jsonl"
    lines = broken.read_text().splitlines()
    broken.write_text("\n".join([lines[0], '{"timestamp": "2025-03-01T10:00:00Z", "mod', *lines[1:]]) + "\n")
    with Store(tmp_path / "s.duckdb") as store:
        report = ingest_files(store, paths)
        assert [(f.accepted, f.quarantined) for f in report.files] == [(3, 0), (3, 0), (3, 1), (3, 0)]
        assert store.con.execute("SELECT source_file, source_line, reason FROM quarantine").fetchall() == [
            (str(broken), 2, "malformed JSON line")
        ]
    (first,), (rest, alone) = spy[-1]
    assert [p.source for p in first.parts] == paths
    # the file the error named, on its own and line by line; the others still read together
    assert [p.source for p in rest.parts] == [p for p in paths if p != str(broken)]
    assert alone.source == str(broken) and alone.malformed


def test_an_error_that_names_no_file_splits_the_batch_into_single_files(tmp_path, spy):
    paths = [_write(tmp_path / f"{i}.jsonl", "jsonl", [{**ROW, "request_id": str(i)}]) for i in range(3)]
    with Store(tmp_path / "s.duckdb") as store:
        ingest_files(store, paths)
        (batch,), _ = spy[-1]
        parts = batches.split(store.con, batch, Exception("Out of Memory Error: failed to allocate"))
    assert [p.source for p in parts] == paths and not any(p.parts for p in parts)


def test_files_that_cannot_be_read_together_are_read_one_by_one(tmp_path, spy):
    plain = _write(tmp_path / "plain.parquet", "parquet", [{**ROW, "request_id": "p"}])
    own = tmp_path / "own.parquet"  # its own file_row_number column: no batch with DuckDB's
    pq.write_table(pa.table({"timestamp": ["2025-03-01T10:00:00Z"], "model": ["gpt-4o"], "request_id": ["o"],
                             "file_row_number": [41]}), own)
    with Store(tmp_path / "s.duckdb") as store:
        report = ingest_files(store, [plain, str(own)])
        assert not any(s.parts for s in spy[-1][0])
        assert report.accepted == 2
        assert store.con.execute("SELECT request_id, source_line FROM events ORDER BY 1").fetchall() == [
            ("o", None), ("p", 1)
        ]


def test_batches_hold_at_most_batch_max_files(tmp_path, spy, monkeypatch):
    monkeypatch.setattr(batches, "BATCH_MAX_FILES", 3)
    paths = [_write(tmp_path / f"{i:02d}.jsonl", "jsonl", [{**ROW, "request_id": str(i)}]) for i in range(8)]
    with Store(tmp_path / "s.duckdb") as store:
        report = ingest_files(store, paths)
        assert report.accepted == 8 and store.con.execute("SELECT count(DISTINCT source_file) FROM events").fetchone() == (8,)
    assert [len(s.parts) or 1 for s in spy[-1][0]] == [3, 3, 2]


CSV_HEADS = {  # file text -> the delimiter read without sniffing (None: DuckDB's sniffer decides)
    "comma": ("timestamp,model,input_tokens\n2025-03-01T10:00:00Z,gpt-4o,5\n", ","),
    "semicolon": ("timestamp;model;input_tokens\n2025-03-01T10:00:00Z;gpt-4o;5\n", ";"),
    "tab": ("timestamp\tmodel\tinput_tokens\n2025-03-01T10:00:00Z\tgpt-4o\t5\n", "\t"),
    "quoted names": ('"timestamp","model","input_tokens"\n2025-03-01T10:00:00Z,gpt-4o,5\n', ","),
    "crlf": ("timestamp,model,input_tokens\r\n2025-03-01T10:00:00Z,gpt-4o,5\r\n", ","),
    "byte order mark": ("\ufefftimestamp,model,input_tokens\n2025-03-01T10:00:00Z,gpt-4o,5\n", ","),
    "spaces after commas": ("timestamp, model, input_tokens\n2025-03-01T10:00:00Z, gpt-4o, 5\n", None),
    "backslash-escaped quotes": ('timestamp,model,input_tokens,run_id\n2025-03-01T10:00:00Z,gpt-4o,5,"a \\"b\\""\n', None),
}


@pytest.mark.e2e
@pytest.mark.parametrize(("text", "delim"), CSV_HEADS.values(), ids=CSV_HEADS.keys())
def test_a_plain_csv_header_is_read_without_sniffing_and_the_rest_is_sniffed(tmp_path, text, delim):
    path = tmp_path / "u.csv"
    path.write_bytes(text.encode("utf-8"))
    header = canonical.csv_header(str(path))
    assert (header[0] if header else None) == delim
    with Store(tmp_path / "s.duckdb") as store:
        report = ingest_files(store, [path])
        assert report.accepted == 1, report.files
        assert store.con.execute("SELECT model, input_tokens FROM events").fetchall() == [("gpt-4o", 5)]


@pytest.mark.e2e
def test_a_broken_row_of_a_sniffed_csv_is_quarantined_at_its_line(tmp_path):
    # spaces after the commas: the dialect is left to DuckDB's sniffer, which samples the first
    # 20,480 rows; the broken ones come after them
    good = "".join(f"2025-03-01T10:00:00Z, gpt-4o, {i}\n" for i in range(25_000))
    path = tmp_path / "u.csv"
    path.write_text("timestamp, model, input_tokens\n" + good + "2025-03-01T11:00:00Z\n2025-03-01T12:00:00Z, gpt-4o, -1\n")
    assert canonical.csv_header(str(path)) is None
    with Store(tmp_path / "s.duckdb") as store:
        (f,) = ingest_files(store, [path]).files
        assert (f.rows, f.accepted, f.quarantined, f.error) == (25_002, 25_000, 2, None)
        rows = store.con.execute("SELECT source_line, reason FROM quarantine ORDER BY 1").fetchall()
        assert [line for line, _ in rows] == [25_002, 25_003] and rows[0][1].startswith("malformed CSV row: ")
        assert rows[1][1] == "negative input_tokens"


def test_a_csv_file_with_a_broken_row_in_a_batch_keeps_its_other_rows(tmp_path):
    paths = [_write(tmp_path / f"{i}.csv", "csv", [{**ROW, "request_id": f"{i}-{j}"} for j in range(3)]) for i in range(3)]
    broken = Path(paths[1])
    lines = broken.read_text().splitlines()
    broken.write_text("\n".join([*lines[:2], "2025-03-01T10:00:00Z,too,few", *lines[2:]]) + "\n")
    with Store(tmp_path / "s.duckdb") as store:
        report = ingest_files(store, paths)
        assert [(f.rows, f.accepted, f.quarantined, f.error) for f in report.files] == [(3, 3, 0, None), (4, 3, 1, None), (3, 3, 0, None)]
        ((src, line, reason),) = store.con.execute("SELECT source_file, source_line, reason FROM quarantine").fetchall()
        assert (src, line) == (str(broken), 3) and reason.startswith("malformed CSV row: Expected Number of Columns")
