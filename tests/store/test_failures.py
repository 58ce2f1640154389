"""The usage store itself failing under an ingest (a full disk, a corrupt block): one clear error
that names the store, never the input file, and the store as it was."""

from __future__ import annotations

import resource
import subprocess
import sys

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from brain.ingest import ingest_files
from brain.store.database import Store

pytestmark = pytest.mark.e2e


def _usage(path, n: int, prefix: str) -> str:
    pq.write_table(pa.table({
        "timestamp": [f"2025-03-{1 + i % 28:02d}T{i % 24:02d}:00:00Z" for i in range(n)],
        "agent": [f"agent-{i % 300}" for i in range(n)],
        "provider": ["openai"] * n, "model": ["gpt-4o"] * n,
        "input_tokens": [1000 + i for i in range(n)], "output_tokens": [i % 977 for i in range(n)],
        "request_id": [f"{prefix}{i}" for i in range(n)], "run_id": [f"{prefix}run{i // 7}" for i in range(n)],
    }), path)
    return str(path)


def _totals(path) -> tuple:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("SELECT count(*), sum(input_tokens), (SELECT count(*) FROM ingests) FROM events").fetchall()[0]
    finally:
        con.close()


def _brain(*args: str, fsize: int | None = None) -> subprocess.CompletedProcess:
    def limit() -> None:
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return subprocess.run([sys.executable, "-c", "import sys; from brain.cli import main; sys.exit(main())", *args], capture_output=True, text=True,
                          preexec_fn=limit, timeout=300)


def test_a_store_that_cannot_grow_is_named_and_left_as_it_was(tmp_path):
    store = tmp_path / "usage.duckdb"
    with Store(store) as s:
        ingest_files(s, [_usage(tmp_path / "old.parquet", 1_000, "old")])
    before = _totals(store)
    big = _usage(tmp_path / "big.parquet", 300_000, "new")
    # the store file may grow by 256 KB: far less than 300,000 events need ("File too large")
    r = _brain("ingest", big, "--store", str(store), "--vault", str(tmp_path), fsize=store.stat().st_size + 256 * 1024)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: usage store") and str(store) in lines[0]
    assert "nothing was stored" in lines[0] and "big.parquet" not in lines[0]
    assert _totals(store) == before


def test_a_corrupt_block_met_by_an_ingest_is_one_error_line_and_the_file_untouched(tmp_path):
    store = tmp_path / "usage.duckdb"
    with Store(store) as s:
        ingest_files(s, [_usage(tmp_path / "old.parquet", 300_000, "old")])
    data = bytearray(store.read_bytes())
    data[512 * 1024:768 * 1024] = b"\xa5" * (256 * 1024)  # events' blocks, past the header and catalog
    store.write_bytes(bytes(data))
    one = tmp_path / "one.jsonl"
    one.write_text('{"timestamp": "2025-03-02T10:00:00Z", "agent": "agent-1", "provider": "openai", '
                   '"model": "gpt-4o", "input_tokens": 10, "output_tokens": 5, "request_id": "new"}\n')
    r = _brain("ingest", str(one), "--store", str(store), "--vault", str(tmp_path))
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and str(store) in lines[0] and "Corrupt database file" in lines[0], lines
    assert store.read_bytes() == bytes(data)
