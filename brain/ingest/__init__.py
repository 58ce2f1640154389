"""Usage ingest: canonical files and Arrow tables into the store, bulk, idempotent and atomic.

Dedupe. Every event has an `event_id` (its `request_id`, else a content hash). Per-request
sources (canonical files, OTLP spans, LiteLLM logs) are insert-only: the first row of an id wins
and later rows with that id are counted as duplicates. Bucketed sources (OpenAI usage API and
Anthropic usage report exports, flagged by their adapters: `ingest_table(..., bucketed=True)`,
stored as `events.bucketed`) are snapshots: the bucket's key is its `request_id`, and a re-import
whose values differ REPLACES the stored bucket (today's partial bucket grows between downloads),
while an identical re-import is a no-op. Replacement is part of the ingest's one transaction and
the rollup buckets of both the old and the new row are recomputed. A bucketed row never replaces
a per-request event that happens to share its id.

Double counting. The same model calls must come in through ONE source: either per-request
telemetry (OTLP, LiteLLM, canonical logs) or a provider usage export, never both for the same api
keys — the store cannot tell that a bucket of 40 requests and 40 spans are the same calls, and
would count them twice. `overlapping_sources(store)` lists the (api key, day) pairs where both
kinds of source carry usage, for `brain check` to flag.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

from brain.errors import IngestError
from brain.ingest import canonical
from brain.ingest.rollups import rebuild_touched
from brain.pricing import EVENT_COST_SQL, PRICE_JOIN_SQL, PRICE_KEY_COLUMNS_SQL, ensure_prices
from brain.store import CANONICAL_COLUMNS, Store

log = logging.getLogger(__name__)

__all__ = ["FileReport", "IngestReport", "ingest_files", "ingest_table", "overlapping_sources"]

# progress(phase, done, total): phase is a short label ("reading x.jsonl", "rollups", ...).
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class FileReport:
    """What happened to one source: rows accepted, duplicates skipped, quarantined, or its error.

    `rows` = accepted + replaced + duplicates + quarantined; `replaced` counts bucket rows that
    replaced a stored bucket of the same key with different values.
    """

    source: str
    format: str
    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    error: str | None = None
    replaced: int = 0


@dataclass(frozen=True)
class IngestReport:
    """Totals of one ingest (one transaction) and the detail per source."""

    ingest_id: int | None
    accepted: int
    duplicates: int
    quarantined: int
    files: tuple[FileReport, ...] = field(default_factory=tuple)
    hours_touched: int = 0
    replaced: int = 0

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
            "replaced": self.replaced,
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
    bucketed: bool = False


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


def _dropped_lines(con: duckdb.DuckDBPyConnection, t: str, events_empty: bool, bucketed: bool) -> tuple[int, int]:
    """Fill `_dropped` with the staged lines that are duplicates; returns (dropped, replaced).

    Within the source the first line of an event id wins. Candidates are found by grouping on a
    64-bit hash of the id (integers group much faster than long strings); only those rows are
    then compared by the id itself, so a hash collision never drops an event. A line whose id is
    already stored is dropped, except in a bucketed source when the stored event is a bucket with
    different values: that event is deleted here (its hour noted in `_replaced_hours` for the
    rollups) and the line goes in as its replacement.
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
    replaced = 0
    if events_empty:
        pass
    elif not bucketed:
        con.execute(
            f"""INSERT INTO _dropped
            SELECT s._line FROM {t} s
            WHERE s._reason IS NULL AND s.event_id IN (SELECT event_id FROM events)
              AND s._line NOT IN (SELECT _line FROM _dropped)"""
        )
    else:
        differs = " OR ".join(f's."{c}" IS DISTINCT FROM e."{c}"' for c, _ in CANONICAL_COLUMNS)
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _stored AS
            SELECT s._line, s.event_id, e."timestamp" AS old_ts, e.bucketed AND ({differs}) AS replace
            FROM {t} s JOIN events e ON e.event_id = s.event_id
            WHERE s._reason IS NULL AND s._line NOT IN (SELECT _line FROM _dropped)"""
        )
        con.execute("INSERT INTO _dropped SELECT _line FROM _stored WHERE NOT replace")
        replaced = con.execute("SELECT count(*) FROM _stored WHERE replace").fetchone()[0]
        if replaced:
            con.execute(
                "INSERT INTO _replaced_hours SELECT DISTINCT epoch_us(old_ts) // 3600000000 FROM _stored WHERE replace"
            )
            con.execute(
                "DELETE FROM events WHERE bucketed AND event_id IN (SELECT event_id FROM _stored WHERE replace)"
            )
        con.execute("DROP TABLE _stored")
    return con.execute("SELECT count(*) FROM _dropped").fetchone()[0], replaced


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
    dropped, replaced = _dropped_lines(con, t, events_empty, staged.bucketed)
    keep = " AND s._line NOT IN (SELECT _line FROM _dropped)" if dropped else ""
    canon = ", ".join(f'e."{c}"' for c, _ in CANONICAL_COLUMNS)
    inserted = con.execute(
        f"""INSERT INTO events
        SELECT {canon}, e.event_id, {EVENT_COST_SQL} AS cost_est_usd, p.price_id,
               ? AS source_file, e._line AS source_line, ? AS ingest_id, ? AS bucketed
        FROM (SELECT s.*, {canonical_price_keys()} FROM {t} s WHERE s._reason IS NULL{keep}) e
        LEFT JOIN price_table p ON {PRICE_JOIN_SQL}""",
        [src, ingest_id, staged.bucketed],
    ).fetchone()[0]
    con.execute("DROP TABLE IF EXISTS _dropped")
    accepted = inserted - replaced
    return FileReport(src, staged.format, rows, accepted, rows - bad - inserted, bad, replaced=replaced)


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
            con.execute("CREATE OR REPLACE TEMP TABLE _replaced_hours (h BIGINT)")
            for i, s in enumerate(staged):
                if progress:
                    progress(f"storing {Path(s.source).name}", i, len(staged))
                reports.append(_commit_stage(con, ingest_id, s))
            if progress:
                progress("updating rollups", len(staged), len(staged))
            hours = rebuild_touched(con, ingest_id, replaced_hours="_replaced_hours")
            con.execute("DROP TABLE _replaced_hours")
            con.execute(
                "INSERT INTO ingests (ingest_id, started_at, sources, accepted, duplicates, quarantined, replaced) "
                "VALUES (?, now(), ?, ?, ?, ?, ?)",
                [
                    ingest_id,
                    [s.source for s in staged],
                    sum(r.accepted for r in reports),
                    sum(r.duplicates for r in reports),
                    sum(r.quarantined for r in reports),
                    sum(r.replaced for r in reports),
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
        sum(r.replaced for r in reports),
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


def ingest_table(
    store: Store,
    table: pa.Table,
    source: str,
    *,
    bucketed: bool = False,
    progress: Progress | None = None,
) -> IngestReport:
    """Ingest a pyarrow table in canonical columns (optional ones may be missing).

    `bucketed=True` marks every row a provider usage-export bucket keyed by its `request_id`: a
    re-import with different values replaces the stored bucket (see the module docstring).
    """
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
            return _arrow(store, view, source, bucketed, progress)
    finally:
        con.unregister(view)


def _arrow(store: Store, view: str, source: str, bucketed: bool, progress: Progress | None) -> IngestReport:
    con = store.con
    picks = ", ".join(f'"{c}"' for c in canonical.CANONICAL_NAMES)
    raw = f"(SELECT {picks}, row_number() OVER () AS _line FROM {view})"
    try:
        name = _stage(con, 0, raw)
    except duckdb.Error as exc:
        raise IngestError(f"{source}: {canonical._first_line(exc)}") from exc
    try:
        return _run(store, [_Staged(source, "arrow", name, bucketed)], [], progress)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {name}")


def overlapping_sources(store: Store, days: int = 30, now: datetime | None = None) -> list[dict]:
    """(api key, day) pairs with usage from both a bucketed export and a per-request source: likely double counted.

    Only events carrying an `api_key_id` can be matched (an export falls back to the project or
    workspace id when it is not grouped by key). Days are UTC; the window is the `days` days
    up to `now`. Each dict: `api_key_id`, `day` (ISO date), `bucketed_sources`,
    `request_sources` (source files), `bucketed_requests`, `request_requests`.
    """
    since = (now or datetime.now(UTC)) - timedelta(days=days)
    rows = store.con.execute(
        """WITH keys AS (
            SELECT DISTINCT api_key_id FROM events
            WHERE bucketed AND api_key_id IS NOT NULL AND "timestamp" >= ?)
        SELECT api_key_id, CAST("timestamp" AS DATE) AS day,
               list_sort(list(DISTINCT source_file) FILTER (WHERE bucketed)),
               list_sort(list(DISTINCT source_file) FILTER (WHERE NOT bucketed)),
               sum(requests) FILTER (WHERE bucketed), sum(requests) FILTER (WHERE NOT bucketed)
        FROM events
        WHERE "timestamp" >= ? AND api_key_id IN (SELECT api_key_id FROM keys)
        GROUP BY ALL
        HAVING bool_or(bucketed) AND bool_or(NOT bucketed)
        ORDER BY day, api_key_id""",
        [since, since],
    ).fetchall()
    return [
        {
            "api_key_id": key,
            "day": day.isoformat(),
            "bucketed_sources": bucketed_sources,
            "request_sources": request_sources,
            "bucketed_requests": int(bucketed_requests),
            "request_requests": int(request_requests),
        }
        for key, day, bucketed_sources, request_sources, bucketed_requests, request_requests in rows
    ]
