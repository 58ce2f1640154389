"""`brain rollup --engine duckdb`: the reference rollups of an event lake, on this machine.

The days whose lake files changed since the last run (`_manifest.json`) are rolled up by the very
code `brain ingest` keeps the store's rollups with (`brain.ingest.rollups.rebuild_touched`), in a
scratch store: their events are deduplicated (per UTC day: the request id, else the content hash;
the earliest written copy wins, a larger provider bucket before a smaller one), priced against
the rollups folder's price table, and rolled up; each day's rows then replace that day's folder.
Days are taken in chunks of about CHUNK_ROWS events, so the scratch store stays small.

Local folders only: on object storage, run the Spark job (`--engine spark`, docs/lake.md).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from brain.ingest.rollups import rebuild_touched
from brain.lake.layout import (
    LAKE_COLUMNS,
    MANIFEST,
    PARTITION,
    PRICE_TABLES,
    PRICES,
    ROLLUP_FOLDERS,
    LakeError,
    LakeFile,
    RollupReport,
    changed_days,
    filesystem,
    fingerprint,
    is_url,
    lake_days,
    manifest_text,
    read_manifest,
)
from brain.lake.prices import extend_prices
from brain.pricing.prices import EVENT_COST_SQL, PRICE_JOIN_SQL, PRICE_KEY_COLUMNS_SQL
from brain.store.database import CANONICAL_COLUMNS, FIXED_JOIN_ORDER, Store, one_row, settings

log = logging.getLogger(__name__)

CHUNK_ROWS = 20_000_000
DAY_US = 86_400_000_000
# The dedupe key of a lake row and the order its copies are kept in (the first wins): per UTC
# day, a larger provider bucket first (`brain.ingest.dedupe.BUCKET_SIZE_SQL`), then the earliest
# written batch. The Spark job orders the same way.
KEY_SQL = "coalesce(event_id, request_id)"
DAY_SQL = f'epoch_us("timestamp") // {DAY_US}'
FIRST_COPY_ORDER = ("CASE WHEN bucketed THEN [requests, input_tokens + output_tokens, input_tokens, cache_read_tokens, "
                    "cache_write_tokens, reasoning_tokens] END DESC NULLS LAST, written_at, batch")

Progress = Callable[[str, int, int], None]


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def readable(con: duckdb.DuckDBPyConnection, files: list[LakeFile]) -> tuple[dict[str, int], list[dict]]:
    """Row counts of the files whose Parquet footer reads, and the others (path, error)."""
    if not files:
        return {}, []
    listed = "[" + ", ".join(_lit(f.path) for f in files) + "]"
    try:
        rows = con.execute(f"SELECT file_name, num_rows FROM parquet_file_metadata({listed})").fetchall()
        return {r[0]: int(r[1]) for r in rows}, []
    except duckdb.Error:
        pass
    good, bad = {}, []
    for f in files:
        try:
            good[f.path] = int(one_row(con.execute(f"SELECT num_rows FROM parquet_file_metadata({_lit(f.path)})"))[0])
        except duckdb.Error as exc:
            error = str(exc).strip().splitlines()[0]
            log.warning("skipping %s: not a readable Parquet file (%s)", f.path, error)
            bad.append({"path": f.path, "error": error})
    return good, bad


def _chunks(days: list[str], rows_of_day: dict[str, int]) -> list[list[str]]:
    """Consecutive days in groups of at most CHUNK_ROWS events (a larger day is a group alone)."""
    chunks: list[list[str]] = [[]]
    size = 0
    for d in days:
        if chunks[-1] and size + rows_of_day.get(d, 0) > CHUNK_ROWS:
            chunks.append([])
            size = 0
        chunks[-1].append(d)
        size += rows_of_day.get(d, 0)
    return [c for c in chunks if c]


def _load_prices(root: Path) -> dict:
    out = {}
    for table in PRICE_TABLES:
        folder = root / PRICES / table
        files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
        out[table] = pq.read_table(files[0]) if files else None
    return out


def _save_prices(root: Path, tables: dict) -> None:
    for table, data in tables.items():
        folder = root / PRICES / table
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".part-0.parquet.{os.getpid()}.tmp"
        pq.write_table(data, tmp)
        tmp.replace(folder / "part-0.parquet")


def _insert_events(con: duckdb.DuckDBPyConnection, files: list[str]) -> int:
    """Deduplicate and price the lake rows of `files` into the scratch store's `events` (ingest 1)."""
    cols = ", ".join(f'"{c}"' for c, _ in LAKE_COLUMNS)
    src = f"(SELECT {cols} FROM read_parquet([{', '.join(_lit(f) for f in files)}], union_by_name = true))"
    h = f"hash({DAY_SQL}, {KEY_SQL})"
    con.execute(f"CREATE OR REPLACE TEMP TABLE _dup AS SELECT h FROM (SELECT {h} AS h FROM {src}) GROUP BY h HAVING count(*) > 1")
    kept = f"""SELECT * FROM {src} WHERE {h} NOT IN (SELECT h FROM _dup)
        UNION ALL
        SELECT * FROM (SELECT * FROM {src} WHERE {h} IN (SELECT h FROM _dup))
        QUALIFY row_number() OVER (PARTITION BY {DAY_SQL}, {KEY_SQL} ORDER BY {FIRST_COPY_ORDER}) = 1"""
    canon = ", ".join(f'e."{c}"' for c, _ in CANONICAL_COLUMNS)
    with settings(con, FIXED_JOIN_ORDER):
        n = one_row(con.execute(
            f"""INSERT INTO events
            SELECT {canon}, e.event_id, {EVENT_COST_SQL} AS cost_est_usd, p.price_id, e.source_file, e.source_line,
                   1 AS ingest_id, e.bucketed
            FROM (SELECT *, {PRICE_KEY_COLUMNS_SQL} FROM ({kept})) e
            LEFT JOIN price_table p ON {PRICE_JOIN_SQL}"""
        ))[0]
    con.execute("DROP TABLE _dup")
    return int(n)


def _replace_day(new: Path | None, dest: Path) -> None:
    """Put a day's new rollup folder in place of the old one (or remove it when `new` is None)."""
    old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
    if dest.exists():
        dest.rename(old)
    if new is not None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        new.rename(dest)
    shutil.rmtree(old, ignore_errors=True)


def run(lake: str, out: str, full: bool = False, progress: Progress | None = None) -> RollupReport:
    """Roll up the days of `lake` that changed since the last run into `out` (all with `full`)."""
    started = time.monotonic()
    if is_url(lake) or is_url(out):
        raise LakeError("the duckdb engine reads and writes local folders; use --engine spark for object storage")
    days = lake_days(lake)
    fs, root_s = filesystem(out)
    root = Path(root_s)
    if root.exists() and not root.is_dir():
        raise LakeError(f"rollups folder {out} is a file")
    root.mkdir(parents=True, exist_ok=True)
    done = read_manifest(fs, root_s)
    rebuild, gone = changed_days(days, done, full)
    tmp = Path(tempfile.mkdtemp(prefix="brain-rollup-"))
    skipped: list[dict] = []
    events = hourly_rows = daily_rows = 0
    new_pairs = 0
    try:
        store = Store(tmp / "scratch.duckdb")
        con = store.con
        with settings(con, {"memory_limit": os.environ.get("BRAIN_INGEST_MEMORY") or "1GB",
                            "preserve_insertion_order": "false", **{k: "" for k in FIXED_JOIN_ORDER}}):
            rows, skipped = readable(con, [f for d in rebuild for f in days[d]])
            bad = {s["path"] for s in skipped}
            day_files = {d: [f.path for f in days[d] if f.path not in bad] for d in rebuild}
            wanted = [f for d in rebuild for f in day_files[d]]
            if wanted:
                pairs = [tuple(r) for r in con.execute(
                    f"SELECT DISTINCT provider, model FROM read_parquet([{', '.join(_lit(f) for f in wanted)}], union_by_name = true)"
                ).fetchall()]
                tables, new_pairs = extend_prices(_load_prices(root), pairs)
                for table, data in tables.items():
                    con.register("_p", data)
                    con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _p")
                    con.unregister("_p")
                if new_pairs:
                    _save_prices(root, tables)
            per_day = {d: sum(rows.get(f, 0) for f in day_files[d]) for d in rebuild}
            chunks = _chunks(rebuild, per_day)
            for i, chunk in enumerate(chunks):
                if progress:
                    progress(f"rolling up {chunk[0]}..{chunk[-1]}", i, len(chunks))
                for table in ("events", "rollup_hourly", "rollup_daily"):
                    con.execute(f"DELETE FROM {table}")
                files = [f for d in chunk for f in day_files[d]]
                events += _insert_events(con, files) if files else 0
                rebuild_touched(con, 1)
                staged = tmp / f"chunk-{i}"
                staged.mkdir()
                for table, folder in ROLLUP_FOLDERS.items():
                    bucket = "hour" if table == "rollup_hourly" else "day"
                    n = one_row(con.execute(f"SELECT count(*) FROM {table}"))[0]
                    hourly_rows, daily_rows = (hourly_rows + n, daily_rows) if bucket == "hour" else (hourly_rows, daily_rows + n)
                    if n:
                        con.execute(
                            f"""COPY (SELECT *, strftime({bucket}, '%Y-%m-%d') AS {PARTITION} FROM {table})
                            TO '{staged / folder}' (FORMAT parquet, PARTITION_BY ({PARTITION}), COMPRESSION zstd)"""
                        )
                    for d in chunk:
                        new = staged / folder / f"{PARTITION}={d}"
                        _replace_day(new if new.is_dir() else None, root / folder / f"{PARTITION}={d}")
        store.close()
        for d in gone:
            for folder in ROLLUP_FOLDERS.values():
                _replace_day(None, root / folder / f"{PARTITION}={d}")
        bad_days = {d for d in rebuild for f in days[d] if f.path in {s["path"] for s in skipped}}
        current = {d: fp for d, fp in done.items() if d in days and d not in rebuild}
        current.update({d: fingerprint(days[d]) for d in rebuild if d not in bad_days})
        tmp_manifest = root / f".{MANIFEST}.{os.getpid()}.tmp"
        tmp_manifest.write_text(manifest_text(current, "duckdb"), encoding="utf-8")
        tmp_manifest.replace(root / MANIFEST)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return RollupReport("duckdb", lake, out, tuple(rebuild), tuple(gone), len(days) - len(rebuild), events,
                        tuple(skipped), hourly_rows, daily_rows, new_pairs, time.monotonic() - started)
