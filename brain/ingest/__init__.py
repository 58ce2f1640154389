"""Usage ingest: canonical files and Arrow tables into the store, bulk, idempotent and atomic."""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from brain.errors import IngestError
from brain.ingest import canonical
from brain.ingest.rollups import rebuild_touched
from brain.pricing import EVENT_COST_SQL, PRICE_JOIN_SQL, PRICE_KEY_COLUMNS_SQL, ensure_prices
from brain.store import CANONICAL_COLUMNS, Store

log = logging.getLogger(__name__)

__all__ = ["FileReport", "IngestReport", "ingest_files", "ingest_table"]

# progress(phase, done, total): phase is a short label ("reading x.jsonl", "rollups", ...).
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class FileReport:
    """What happened to one source: rows accepted, duplicates skipped, quarantined, or its error."""

    source: str
    format: str
    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    error: str | None = None


@dataclass(frozen=True)
class IngestReport:
    """Totals of one ingest (one transaction) and the detail per source."""

    ingest_id: int | None
    accepted: int
    duplicates: int
    quarantined: int
    files: tuple[FileReport, ...] = field(default_factory=tuple)
    hours_touched: int = 0

    @property
    def readable(self) -> bool:
        """True when at least one source could be read."""
        return any(f.error is None for f in self.files)

    def to_dict(self) -> dict:
        """A JSON-able view of the report."""
        return {
            "ingest_id": self.ingest_id,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
            "hours_touched": self.hours_touched,
            "files": [f.__dict__ for f in self.files],
        }


# DuckDB memory cap while ingesting (env BRAIN_INGEST_MEMORY overrides): staging, dedupe and
# rollups spill to `<store>.tmp/` beyond it instead of growing the process (10M rows: 5.4 GB
# peak RSS uncapped). Process RSS ends up a few hundred MB above it (Python, Arrow, allocator).
INGEST_MEMORY_LIMIT = "1GB"


@contextmanager
def _ingest_settings(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Cap DuckDB's memory and drop insertion-order preservation for one ingest, then restore."""
    wanted = {
        "memory_limit": os.environ.get("BRAIN_INGEST_MEMORY", INGEST_MEMORY_LIMIT),
        "preserve_insertion_order": "false",
    }
    setting = "SELECT current_setting(?)"
    before: dict[str, str | None] = {}
    for k in wanted:
        value = con.execute(setting, [k]).fetchone()[0]
        con.execute(f"RESET {k}")
        # None = it was the default: RESET again afterwards (printed sizes are rounded).
        before[k] = None if con.execute(setting, [k]).fetchone()[0] == value else str(value)
    for k, v in wanted.items():
        con.execute(f"SET {k} = '{v}'")
    try:
        yield
    finally:
        for k, v in before.items():
            con.execute(f"RESET {k}" if v is None else f"SET {k} = '{v}'")


@dataclass(frozen=True)
class _Staged:
    source: str
    format: str
    table: str


def _stage(con: duckdb.DuckDBPyConnection, n: int, raw_sql: str, malformed: bool = False) -> str:
    name = f"_stage_{n}"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {name} AS {canonical.validated_select(raw_sql, malformed=malformed)}"
    )
    return name


def _stage_file(con: duckdb.DuckDBPyConnection, n: int, path: str, fmt: str) -> str:
    raw = canonical.raw_relation(con, path, fmt)
    try:
        return _stage(con, n, raw)
    except duckdb.Error as exc:
        if fmt != "jsonl":
            raise IngestError(f"cannot read {path} as {fmt}: {canonical._first_line(exc)}") from exc
        log.info("%s has malformed lines; re-reading line by line", path)
    try:
        return _stage(con, n, canonical.jsonl_lines_relation(path), malformed=True)
    except duckdb.Error as exc:
        raise IngestError(f"cannot read {path} as jsonl: {canonical._first_line(exc)}") from exc


def _dropped_lines(con: duckdb.DuckDBPyConnection, t: str, events_empty: bool) -> int:
    """Fill `_dropped` with the staged lines that are duplicates; returns how many.

    Within the source the first line of an event id wins. Candidates are found by grouping on a
    64-bit hash of the id (integers group much faster than long strings); only those rows are
    then compared by the id itself, so a hash collision never drops an event.
    """
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _dropped AS
        SELECT _line FROM (
            SELECT _line, row_number() OVER (PARTITION BY event_id ORDER BY _line) AS rn
            FROM {t}
            WHERE _reason IS NULL AND hash(event_id) IN (
                SELECT h FROM (SELECT hash(event_id) AS h FROM {t} WHERE _reason IS NULL)
                GROUP BY h HAVING count(*) > 1)
        ) WHERE rn > 1"""
    )
    if not events_empty:
        con.execute(
            f"""INSERT INTO _dropped
            SELECT s._line FROM {t} s
            WHERE s._reason IS NULL AND s.event_id IN (SELECT event_id FROM events)
              AND s._line NOT IN (SELECT _line FROM _dropped)"""
        )
    return con.execute("SELECT count(*) FROM _dropped").fetchone()[0]


def _commit_stage(con: duckdb.DuckDBPyConnection, ingest_id: int, staged: _Staged) -> FileReport:
    """Move one staged source into quarantine and events (inside the caller's transaction)."""
    t, src = staged.table, staged.source
    rows, bad = con.execute(f"SELECT count(*), count(_reason) FROM {t}").fetchone()
    if bad:
        con.execute(
            f"""INSERT INTO quarantine
            SELECT ?, ?, _line, _reason, _raw, now() FROM {t} s WHERE _reason IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.source_file = ?
                              AND q.source_line = s._line AND q.raw IS NOT DISTINCT FROM s._raw)""",
            [ingest_id, src, src],
        )
    pairs = con.execute(f"SELECT DISTINCT provider, model FROM {t} WHERE _reason IS NULL").fetchall()
    ensure_prices(con, pairs)
    events_empty = con.execute("SELECT count(*) = 0 FROM (SELECT 1 FROM events LIMIT 1)").fetchone()[0]
    dropped = _dropped_lines(con, t, events_empty)
    keep = " AND s._line NOT IN (SELECT _line FROM _dropped)" if dropped else ""
    canon = ", ".join(f'e."{c}"' for c, _ in CANONICAL_COLUMNS)
    accepted = con.execute(
        f"""INSERT INTO events
        SELECT {canon}, e.event_id, {EVENT_COST_SQL} AS cost_est_usd, p.price_id,
               ? AS source_file, e._line AS source_line, ? AS ingest_id
        FROM (SELECT s.*, {canonical_price_keys()} FROM {t} s WHERE s._reason IS NULL{keep}) e
        LEFT JOIN price_table p ON {PRICE_JOIN_SQL}""",
        [src, ingest_id],
    ).fetchone()[0]
    con.execute("DROP TABLE IF EXISTS _dropped")
    return FileReport(src, staged.format, rows, accepted, rows - bad - accepted, bad)


def canonical_price_keys() -> str:
    """Price-join key columns computed over a staged relation's `timestamp`, tokens and requests."""
    return PRICE_KEY_COLUMNS_SQL


def _run(
    store: Store,
    staged: list[_Staged],
    failed: list[FileReport],
    progress: Progress | None,
) -> IngestReport:
    con = store.con
    reports: list[FileReport] = []
    hours = 0
    ingest_id = None
    if staged:
        with store.transaction():
            ingest_id = con.execute("SELECT coalesce(max(ingest_id), 0) + 1 FROM ingests").fetchone()[0]
            for i, s in enumerate(staged):
                if progress:
                    progress(f"storing {Path(s.source).name}", i, len(staged))
                reports.append(_commit_stage(con, ingest_id, s))
            if progress:
                progress("updating rollups", len(staged), len(staged))
            hours = rebuild_touched(con, ingest_id)
            con.execute(
                "INSERT INTO ingests VALUES (?, now(), ?, ?, ?, ?)",
                [
                    ingest_id,
                    [s.source for s in staged],
                    sum(r.accepted for r in reports),
                    sum(r.duplicates for r in reports),
                    sum(r.quarantined for r in reports),
                ],
            )
        for s in staged:
            con.execute(f"DROP TABLE IF EXISTS {s.table}")
    files = tuple(reports) + tuple(failed)
    report = IngestReport(
        ingest_id,
        sum(r.accepted for r in reports),
        sum(r.duplicates for r in reports),
        sum(r.quarantined for r in reports),
        files,
        hours,
    )
    log.info("ingest %s: %s", ingest_id, report.to_dict())
    return report


def ingest_files(
    store: Store,
    paths: Sequence[str | Path],
    format: str | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """Ingest canonical JSONL/CSV/Parquet files (`-` = JSONL on stdin) in one transaction."""
    with _ingest_settings(store.con):
        return _ingest_files(store, paths, format, progress)


def _ingest_files(
    store: Store, paths: Sequence[str | Path], format: str | None, progress: Progress | None
) -> IngestReport:
    con = store.con
    staged: list[_Staged] = []
    failed: list[FileReport] = []
    tmpdir = None
    try:
        for n, p in enumerate(paths):
            path = str(p)
            source = "<stdin>" if path == "-" else str(Path(path).resolve())
            try:
                fmt = canonical.detect_format(path, format)
                if path == "-":
                    tmpdir = tmpdir or tempfile.mkdtemp(prefix="brain-stdin-")
                    path = str(Path(tmpdir) / "stdin.jsonl")
                    with open(path, "wb") as fh:
                        shutil.copyfileobj(sys.stdin.buffer, fh)
                elif not Path(path).exists():
                    raise IngestError(f"no such file: {path}")
                if progress:
                    progress(f"reading {Path(source).name}", n, len(paths))
                staged.append(_Staged(source, fmt, _stage_file(con, n, path, fmt)))
            except IngestError as exc:
                log.warning("%s", exc)
                failed.append(FileReport(source, format or "?", error=str(exc)))
        return _run(store, staged, failed, progress)
    finally:
        for s in staged:
            con.execute(f"DROP TABLE IF EXISTS {s.table}")
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)


def ingest_table(store: Store, table: pa.Table, source: str) -> IngestReport:
    """Ingest a pyarrow table in canonical columns (optional ones may be missing)."""
    con = store.con
    missing = [c for c in canonical.CANONICAL_NAMES if c not in table.column_names]
    if "timestamp" in missing:
        raise IngestError(f"{source}: the table has no 'timestamp' column")
    for c in missing:
        table = table.append_column(c, pa.nulls(len(table), pa.string()))
    view = "_arrow_src"
    con.register(view, table)
    try:
        with _ingest_settings(con):
            return _arrow(store, view, source)
    finally:
        con.unregister(view)


def _arrow(store: Store, view: str, source: str) -> IngestReport:
    con = store.con
    picks = ", ".join(f'"{c}"' for c in canonical.CANONICAL_NAMES)
    raw = f"(SELECT {picks}, row_number() OVER () AS _line FROM {view})"
    try:
        name = _stage(con, 0, raw)
    except duckdb.Error as exc:
        raise IngestError(f"{source}: {canonical._first_line(exc)}") from exc
    try:
        return _run(store, [_Staged(source, "arrow", name)], [], None)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {name}")
