"""Usage ingest: canonical files and Arrow tables into the store, bulk, idempotent and atomic.

Dedupe. Every event has an `event_id` (its `request_id`, else a content hash). Per-request
sources (canonical files, OTLP spans, LiteLLM logs) are insert-only: the first row of an id wins
and later rows with that id are counted as duplicates. Bucketed sources (OpenAI usage API and
Anthropic usage report exports, flagged by their adapters: `ingest_table(..., bucketed=True)`,
stored as `events.bucketed`) are snapshots: the bucket's key is its `request_id`, and a re-import
of a LARGER bucket replaces the stored one (today's partial bucket grows between downloads; the
order is `dedupe.BUCKET_SIZE_SQL`), while an equal or smaller one (an older download) is a duplicate. Replacement is part of the ingest's one transaction and
the rollup buckets of both the old and the new row are recomputed. A bucketed row never replaces
a per-request event that happens to share its id.

Double counting. The same model calls must come in through ONE source: either per-request
telemetry (OTLP, LiteLLM, canonical logs) or a provider usage export, never both for the same api
keys — the store cannot tell that a bucket of 40 requests and 40 spans are the same calls, and
would count them twice. `overlapping_sources(store)` lists the (api key, day) pairs where both
kinds of source carry usage, for `brain check` to flag.

Over 400 lines on purpose: the steps of one atomic ingest transaction (insert, quarantine,
late prices, dedupe, rollups, cleanup) and its retry of a failed source, in their order.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from brain.errors import IngestError, StoreError
from brain.ingest import batches, canonical, quarantine
from brain.ingest.dedupe import dedupe
from brain.ingest.overlap import overlapping_sources
from brain.ingest.rollups import rebuild_touched
from brain.pricing.prices import (
    EVENT_COST_SQL,
    PRICE_JOIN_SQL,
    PRICE_KEY_COLUMNS_SQL,
    ensure_prices,
)
from brain.store.database import (
    CANONICAL_COLUMNS,
    FIXED_JOIN_ORDER,
    KEPT_EVENT_SQL,
    Store,
    one_row,
    settings,
)

log = logging.getLogger(__name__)

__all__ = ["FileReport", "IngestReport", "ingest_files", "ingest_table", "overlapping_sources"]

# progress(phase, done, total): phase is a short label ("reading x.jsonl", "rollups", ...).
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class FileReport:
    """What happened to one source: rows accepted, duplicates skipped, quarantined, or its error.

    `rows` = accepted + replaced + duplicates + quarantined; `replaced` counts bucket rows that
    replaced a smaller stored bucket of the same key (`dedupe.BUCKET_SIZE_SQL`).
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


def _ingest_settings(con: duckdb.DuckDBPyConnection):
    """Cap DuckDB's memory and drop insertion-order preservation for one ingest, then restore."""
    return settings(con, {
        "memory_limit": os.environ.get("BRAIN_INGEST_MEMORY") or INGEST_MEMORY_LIMIT,
        "preserve_insertion_order": "false",
        # set per insert, inside the transaction: put back here too should an insert fail
        **{k: "" for k in FIXED_JOIN_ORDER},
    })


def _store_failed(exc: duckdb.Error, store: Store) -> bool:
    """Whether `exc` is the store failing (a disk full, a file too large, a corrupt block), not a
    source that cannot be read: sources are only read, and the store's file is named."""
    text = str(exc)
    return (str(store.path) in text or "Could not write" in text or "Corrupt database" in text
            or isinstance(exc, duckdb.TransactionException))


def _first_failure(exc: BaseException) -> BaseException:
    """The error that aborted the transaction, not a later statement's "transaction is aborted"
    (a cleanup in a `finally` that ran after it)."""
    while isinstance(exc, duckdb.TransactionException) and isinstance(exc.__context__, duckdb.Error):
        exc = exc.__context__
    return exc


class _SourceFailed(Exception):
    """A source could not be read inside the ingest transaction (which is then rolled back)."""

    def __init__(self, index: int, exc: duckdb.Error):
        super().__init__(str(exc))
        self.index = index
        self.exc = exc


# Rows an ingest stored but does not keep: untrusted rows (quarantined) and duplicates carry the
# negated ingest id. They are deleted right after the ingest commits, as deleting rows inserted in
# the same transaction makes DuckDB rewrite all of them at commit (10M rows: +7.5 s); every reader
# of raw events keeps to KEPT_EVENT_SQL, and the next ingest removes any an interrupted cleanup left.
_JUNK = "NOT (" + KEPT_EVENT_SQL.format(e="events") + ")"
# Rows whose models are priced before the insert; a model first seen later is priced after it.
PRICE_SAMPLE_ROWS = 100_000


@dataclass
class _Counts:
    rows: int = 0
    valid: int = 0


def _insert_source(
    con: duckdb.DuckDBPyConnection, ingest_id: int, s: canonical.Source
) -> dict[str, _Counts]:
    """Validate, price and append one source's rows to `events` in one streaming pass; the counts
    per file (a batch reads many).

    Nothing is read twice in the common case. Prices are made for the models in the first
    PRICE_SAMPLE_ROWS rows (and the store's), and after all sources for any other model the
    inserted rows name (`_price_late_models`). Untrusted rows are inserted too, marked with the
    negated ingest id, so that counting them costs nothing; when a file has some they are
    quarantined from a second, line-numbered read of that file. Duplicates are removed afterwards
    (`dedupe`), for the whole ingest at once.
    """
    text = "nullif(trim({}::VARCHAR), '')"
    sample = con.execute(
        f"SELECT DISTINCT p, m FROM (SELECT {text.format('provider')} AS p, {text.format('model')} AS m "
        f"FROM {s.raw} LIMIT {PRICE_SAMPLE_ROWS}) WHERE m IS NOT NULL"
    ).fetchall()
    ensure_prices(con, sample)
    canon = ", ".join(f'e."{c}"' for c, _ in CANONICAL_COLUMNS)
    picks = ", ".join(f's."{c}"' for c, _ in CANONICAL_COLUMNS)
    keep = ("_file",) if s.parts else ()
    valid_sql = canonical.validated_select(
        s.raw, malformed=s.malformed, types=canonical.relation_types(con, s.raw), keep=keep
    )
    with settings(con, FIXED_JOIN_ORDER):
        rows = one_row(con.execute(
            f"""INSERT INTO events
            SELECT {canon}, e.event_id, {EVENT_COST_SQL} AS cost_est_usd, p.price_id,
                   {"e._file" if s.parts else "$source"} AS source_file, e._line AS source_line,
                   CASE WHEN e._bad THEN -$ingest ELSE $ingest END AS ingest_id, $bucketed AS bucketed
            FROM (SELECT {picks}, s.event_id, s._line, s._bad, {"s._file, " if s.parts else ""}{PRICE_KEY_COLUMNS_SQL}
                  FROM ({valid_sql}) s) e
            LEFT JOIN price_table p ON {PRICE_JOIN_SQL}""",
            {"ingest": ingest_id, "bucketed": s.bucketed, **({} if s.parts else {"source": s.source})},
        ))[0]
    # untrusted rows stay until the ingest has committed (see `_JUNK`), then go with the duplicates
    rejected = 0  # rows a tolerant CSV read could not parse (quarantined here, never inserted)
    if s.parts:
        counts = {f: _Counts(n, n - bad) for f, n, bad in con.execute(
            """SELECT source_file, count(*), count(*) FILTER (WHERE ingest_id < 0) FROM events
            WHERE ingest_id IN ($ingest, -$ingest) AND list_contains($files, source_file) GROUP BY ALL""",
            {"ingest": ingest_id, "files": list(s.files)},
        ).fetchall()}
    else:
        bad = one_row(con.execute(
            "SELECT count(*) FROM events WHERE ingest_id = ? AND source_file = ?", [-ingest_id, s.source]
        ))[0]
        rejected = quarantine.record_rejected_csv(con, ingest_id, s.source, s.rejects) if s.rejects else 0
        counts = {s.source: _Counts(rows + rejected, rows - bad)}
    for part in s.singles:
        c = counts.get(part.source)
        bad = c.rows - c.valid - rejected if c else 0
        if bad:
            _quarantine(con, ingest_id, part, bad)
    return counts


def _quarantine(con: duckdb.DuckDBPyConnection, ingest_id: int, s: canonical.Source, bad: int) -> None:
    """Record the `bad` untrusted rows of one file (or stream) in the quarantine, with their lines."""
    if s.jsonl:
        quarantine.record_jsonl(con, ingest_id, s.source, s.jsonl, bad)
    else:  # rows read with their line numbers (Parquet, Arrow) name the lines to re-read
        lines = (f"SELECT source_line FROM events WHERE ingest_id = {-int(ingest_id)} "
                 f"AND source_file = {canonical._lit(s.source)}" if s.lines is None else None)
        quarantine.record(con, ingest_id, s.source, s.numbered(), lines, rejects=s.rejects)


def _price_late_models(con: duckdb.DuckDBPyConnection, ingest_id: int) -> None:
    """Price this ingest's unpriced events whose model has prices by now: models first seen after
    the samples the inserts priced for, and models a later source's sample priced after an earlier
    source's rows were inserted."""
    pending = [tuple(r) for r in con.execute(
        "SELECT DISTINCT provider, model FROM events WHERE ingest_id = ? AND price_id IS NULL", [ingest_id]
    ).fetchall()]
    if not pending:
        return
    if ensure_prices(con, pending):
        log.info("priced model(s) first seen after the first %d rows of a source", PRICE_SAMPLE_ROWS)
    priced = {tuple(r) for r in con.execute("SELECT DISTINCT provider, model FROM price_table").fetchall()}
    if priced.isdisjoint(pending):  # none of them has prices (unknown models): nothing to update
        return
    con.execute(
        f"""UPDATE events SET price_id = q.price_id, cost_est_usd = q.cost FROM (
            SELECT e.rid, p.price_id, {EVENT_COST_SQL} AS cost FROM (
                SELECT ev.rowid AS rid, ev.*, {PRICE_KEY_COLUMNS_SQL} FROM events ev
                WHERE ev.ingest_id = ? AND ev.price_id IS NULL
            ) e JOIN price_table p ON {PRICE_JOIN_SQL}
        ) q WHERE events.rowid = q.rid""",
        [ingest_id],
    )


def _forget_unused_prices(con: duckdb.DuckDBPyConnection, known: set, ingest_id: int) -> None:
    """Drop price rows this ingest added for pairs none of its kept events uses (quarantined rows)."""
    added = {tuple(r) for r in con.execute("SELECT provider, model FROM price_models").fetchall()} - known
    if not added:
        return
    used = {tuple(r) for r in con.execute(
        "SELECT DISTINCT provider, model FROM events WHERE ingest_id = ?", [ingest_id]
    ).fetchall()}
    for provider, model in added - used:
        for table in ("price_models", "price_table"):
            con.execute(f"DELETE FROM {table} WHERE provider IS NOT DISTINCT FROM ? AND model = ?", [provider, model])


def _attempt(
    store: Store, sources: list[canonical.Source], order: list[str], progress: Progress | None
) -> tuple[int, list[FileReport], int]:
    """One ingest transaction; `order` names the files in the order given (the first copy of an id wins)."""
    con = store.con
    with store.transaction():
        con.execute(f"DELETE FROM events WHERE {_JUNK}")  # left by an ingest that stopped before its cleanup
        ingest_id = con.execute("SELECT coalesce(max(ingest_id), 0) + 1 FROM ingests").fetchall()[0][0]
        events_empty = con.execute("SELECT count(*) = 0 FROM (SELECT 1 FROM events LIMIT 1)").fetchall()[0][0]
        known = {tuple(r) for r in con.execute("SELECT provider, model FROM price_models").fetchall()}
        con.execute("CREATE OR REPLACE TEMP TABLE _replaced_hours (h BIGINT)")
        counts: dict[str, _Counts] = {}
        for i, s in enumerate(sources):
            if progress:
                progress(f"storing {s.source if s.parts else Path(s.source).name}", i, len(sources))
            try:
                counts.update(_insert_source(con, ingest_id, s))
            except duckdb.Error as exc:
                if _store_failed(exc, store):
                    raise
                raise _SourceFailed(i, exc) from exc
        _price_late_models(con, ingest_id)
        dedupe(con, ingest_id, sources, events_empty, order)
        for s in sources:
            if s.rejects:
                quarantine.drop_rejects(con, s.rejects)
        removed = dict(
            ((src, kind), n)
            for src, kind, n in con.execute("SELECT source_file, kind, count(*) FROM _drop GROUP BY ALL").fetchall()
        )
        con.execute("DROP TABLE _drop")
        _forget_unused_prices(con, known, ingest_id)
        files = {p.source: p for s in sources for p in s.singles}
        reports = []
        rank = {f: i for i, f in enumerate(order)}
        for f in sorted(files, key=rank.__getitem__):
            c = counts.get(f) or _Counts()
            dup, rep = removed.get((f, "duplicate"), 0), removed.get((f, "replaced"), 0)
            reports.append(FileReport(f, files[f].format, c.rows, c.valid - dup - rep, dup, c.rows - c.valid, replaced=rep))
        if progress:
            progress("updating rollups", len(sources), len(sources))
        hours = rebuild_touched(con, ingest_id, replaced_hours="_replaced_hours")
        con.execute("DROP TABLE _replaced_hours")
        con.execute(
            "INSERT INTO ingests (ingest_id, started_at, sources, accepted, duplicates, quarantined, replaced) "
            "VALUES (?, now(), ?, ?, ?, ?, ?)",
            [
                ingest_id,
                [r.source for r in reports],
                sum(r.accepted for r in reports),
                sum(r.duplicates for r in reports),
                sum(r.quarantined for r in reports),
                sum(r.replaced for r in reports),
            ],
        )
    return ingest_id, reports, hours


def _run(
    store: Store,
    sources: list[canonical.Source],
    failed: list[FileReport],
    progress: Progress | None,
) -> IngestReport:
    """One ingest transaction over `sources`; a source that fails to read is retried line by line
    (JSONL) or reported as failed, and the transaction is run again without it. A batch that fails
    is split (`batches.split`) and run again."""
    order = [f for s in sources for f in s.files]
    sources = batches.batched(store.con, list(sources))
    failed = list(failed)
    reports: list[FileReport] = []
    hours = 0
    ingest_id = None
    while sources:
        try:
            ingest_id, reports, hours = _attempt(store, sources, order, progress)
        except duckdb.Error as exc:  # the store itself failed: a source's failure is _SourceFailed
            cause = _first_failure(exc)
            raise StoreError(f"usage store {store.path}: {canonical._first_line(cause)}; nothing was stored") from exc
        except _SourceFailed as f:
            s = sources[f.index]
            if s.parts:
                log.info("%s could not be read together (%s); splitting", s.source, canonical._first_line(f.exc))
                sources[f.index:f.index + 1] = batches.split(store.con, s, f.exc)
                continue
            retry = s.tolerant(store.con)
            if retry:
                log.info("%s has rows its reader cannot parse; reading it again past them", s.source)
                sources[f.index] = retry
                continue
            error = f"cannot read {s.source} as {s.format}: {canonical._first_line(f.exc)}"
            log.info("%s", error)  # the report carries it: printed once, by whoever shows the report
            failed.append(FileReport(s.source, s.format, error=error))
            del sources[f.index]
            continue
        try:
            store.con.execute(f"DELETE FROM events WHERE {_JUNK}")
        except duckdb.Error as exc:  # committed already; the next ingest clears them
            log.warning("ingest %s: rows not kept stay marked until the next ingest: %s", ingest_id, exc)
        break
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
    sources: list[canonical.Source] = []
    seen: set[str] = set()
    failed: list[FileReport] = []
    tmpdir = None
    try:
        for n, p in enumerate(paths):
            path = str(p)
            source = "<stdin>" if path == "-" else str(Path(path).resolve())
            if source in seen:
                log.info("%s was given twice; reading it once", source)
                continue
            fmt = None
            try:
                if path != "-":
                    canonical.check_file(path)
                fmt = canonical.detect_format(path, format)
                if path == "-":
                    tmpdir = tmpdir or tempfile.mkdtemp(prefix="brain-stdin-")
                    path = str(Path(tmpdir) / "stdin.jsonl")
                    with open(path, "wb") as fh:
                        shutil.copyfileobj(sys.stdin.buffer, fh)
                canonical.check_text(path, fmt)
                if progress:
                    progress(f"reading {Path(source).name}", n, len(paths))
                src = canonical.file_source(con, path, source, fmt)
                sources.append(src.line_by_line() or src if src.jsonl and canonical.ends_in_a_partial_line(path) else src)
                seen.add(source)
            except IngestError as exc:
                log.info("%s", exc)  # in the report
                failed.append(FileReport(source, fmt or format or "?", error=str(exc)))
        return _run(store, sources, failed, progress)
    finally:
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
            picks = ", ".join(f'"{c}"' for c in canonical.CANONICAL_NAMES)
            raw = f"(SELECT {picks}, row_number() OVER () AS _line FROM {view})"
            report = _run(store, [canonical.Source(source, "arrow", raw, bucketed=bucketed)], [], progress)
    finally:
        con.unregister(view)
    error = next((f.error for f in report.files if f.error), None)
    if error:
        raise IngestError(f"{source}: {error}")
    return report
