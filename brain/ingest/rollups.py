"""Hourly and daily rollups, kept current at ingest for the buckets an ingest touched.

Speed matters here (every ingest pays it; it was half the ingest time), so:

- buckets are integer epoch hours/days (`epoch_us // bucket_us`), not ICU `date_trunc` on
  TIMESTAMPTZ, and rows are grouped by one UBIGINT hash of the five attribution columns rather
  than by five strings; the hash is checked to be collision-free on the rows at hand (else we
  fall back to grouping by the strings), so results stay exact;
- a touched bucket that held no events before this ingest (the append case) is aggregated from
  this ingest's events only; a bucket that already had events is deleted and recomputed from all
  of its events, so rollups never depend on how usage was split into ingests.

Runs are exact (`count(DISTINCT run_id)` per bucket, plus pre-aggregated requests without a run
id), and so are the token p95s (`quantile_cont`).

What it costs, and what did not help (10M benchmark events: ~2M hourly groups of ~5 events;
DuckDB 2.0.1, the ingest's 1 GB cap, 2 CPUs). The hourly insert takes 6.5-8.5 s and spills
~1.1 GB to `<store>.tmp/`: next to other aggregates DuckDB plans `count(DISTINCT)` by
materialising the aggregate input and pre-grouping it by run. That plan is also what keeps it
inside the cap; each of these was measured and rejected:

- `approx_quantile` (t-digest) for the p95s: out of memory at 2M groups (a digest per group);
- runs as `len(list_distinct(list(run_id)))`, grouping by the hash without `any_value()` of the
  five strings (labels joined back afterwards), or the same plan with `SET threads = 1`: out of
  memory (per-group holistic state, no longer behind the spillable pre-grouping);
- runs and p95s each in a pass of their own joined to the sums, with the daily sums added up from
  the hourly rows: hourly 8.2 s, daily 2.5 s, no faster;
- pre-grouping by (hour, combination, run_id) ourselves: the benchmark's runs span agents, so it
  does not shrink the input (1.7 s for runs alone, like `count(DISTINCT)` alone);
- a 1.4 GB cap: no faster, peak RSS 1.57 GB.

So the hourly rollup sits near the cap at this size: a change to its aggregates needs the 10M
benchmark run, not only the tests.
"""

from __future__ import annotations

import duckdb

from brain.pricing import COST_PART_SQL
from brain.store import one_row

# (table, bucket column, microseconds per bucket)
ROLLUPS = (("rollup_hourly", "hour", 3_600_000_000), ("rollup_daily", "day", 86_400_000_000))
_ATTR = ("agent", "api_key_id", "service_name", "provider", "model")
_COMBO = "hash(e.agent, e.api_key_id, e.service_name, e.provider, e.model)"


def _aggregates() -> str:
    parts = ",\n".join(
        f"coalesce(sum({sql}), 0) AS cost_{name}_usd" for name, sql in COST_PART_SQL.items()
    )
    return f"""
        sum(e.requests) AS requests,
        coalesce(sum(e.requests) FILTER (WHERE e.status = 'error'), 0) AS error_requests,
        count(DISTINCT e.run_id) + coalesce(sum(e.requests) FILTER (WHERE e.run_id IS NULL), 0) AS runs,
        count(*) AS events,
        sum(e.input_tokens) AS input_tokens, sum(e.output_tokens) AS output_tokens,
        sum(e.cache_read_tokens) AS cache_read_tokens,
        sum(e.cache_write_tokens) AS cache_write_tokens,
        sum(e.reasoning_tokens) AS reasoning_tokens,
        {parts},
        coalesce(sum(e.cost_est_usd), 0) AS cost_usd,
        coalesce(sum(e.requests) FILTER (WHERE e.cost_est_usd IS NULL), 0) AS unpriced_requests,
        coalesce(sum(e.input_tokens + e.output_tokens) FILTER (WHERE e.cost_est_usd IS NULL), 0)
            AS unpriced_tokens,
        sum(e.cost_usd) AS reported_cost_usd,
        quantile_cont(e.input_tokens::DOUBLE / e.requests, 0.95) AS input_tokens_p95,
        quantile_cont(e.output_tokens::DOUBLE / e.requests, 0.95) AS output_tokens_p95"""


def _combo_hash_is_exact(con: duckdb.DuckDBPyConnection, ingest_id: int) -> bool:
    """True when the attribution hash has no collision among the combinations a rebuild can meet.

    Those are this ingest's combinations plus every combination already in `rollup_daily` (a
    stale bucket holds nothing else); both sets are small (hundreds to thousands of rows).
    """
    attrs = ", ".join(f"e.{a}" for a in _ATTR)
    combos, hashes = one_row(con.execute(
        f"""SELECT count(*), count(DISTINCT c) FROM (
            SELECT DISTINCT {attrs}, {_COMBO} AS c FROM events e WHERE e.ingest_id = ?
            UNION
            SELECT DISTINCT {attrs}, {_COMBO} AS c FROM rollup_daily e)""",
        [ingest_id],
    ))
    return combos == hashes


def _rebuild(
    con: duckdb.DuckDBPyConnection,
    ingest_id: int,
    table: str,
    bucket: str,
    unit_us: int,
    by_hash: bool,
    touched_lo: int,
    touched_hi: int,
    replaced_hours: str | None = None,
) -> int:
    """Refresh `table` for the buckets this ingest touched; returns how many buckets.

    `replaced_hours` names a table of epoch hours (`h`) whose events this ingest deleted (replaced
    buckets): those buckets are recomputed too.
    """
    b = f'epoch_us(e."timestamp") // {unit_us}'
    also = f" UNION SELECT DISTINCT h * 3600000000 // {unit_us} FROM {replaced_hours}" if replaced_hours else ""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _touched AS
        SELECT DISTINCT {b} AS b FROM events e WHERE e.ingest_id = ?{also}""",
        [ingest_id],
    )
    n = one_row(con.execute("SELECT count(*) FROM _touched"))[0]
    # Buckets that already had events (their rollup rows exist): recompute them from all events.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _stale AS
        SELECT DISTINCT epoch_us(r.{bucket}) // {unit_us} AS b FROM {table} r
        WHERE r.{bucket} >= make_timestamptz(?::BIGINT * {unit_us})
          AND r.{bucket} <= make_timestamptz(?::BIGINT * {unit_us})
          AND epoch_us(r.{bucket}) // {unit_us} IN (SELECT b FROM _touched)""",
        [touched_lo * 3_600_000_000 // unit_us, touched_hi * 3_600_000_000 // unit_us],
    )
    stale = one_row(con.execute("SELECT count(*), min(b), max(b) FROM _stale"))
    source = f"SELECT * FROM events e WHERE e.ingest_id = {int(ingest_id)}"
    if stale[0]:
        con.execute(
            f"DELETE FROM {table} WHERE epoch_us({bucket}) // {unit_us} IN (SELECT b FROM _stale)"
        )
        source = f"""{source} AND {b} NOT IN (SELECT b FROM _stale)
        UNION ALL
        SELECT * FROM events e
        WHERE e."timestamp" >= make_timestamptz({int(stale[1])} * {unit_us})
          AND e."timestamp" < make_timestamptz({int(stale[2]) + 1} * {unit_us})
          AND {b} IN (SELECT b FROM _stale)"""
    if by_hash:
        keys, attrs = f"{b} AS _b, {_COMBO} AS _c", ", ".join(f"any_value(e.{a}) AS {a}" for a in _ATTR)
        group = "_b, _c"
    else:
        keys, attrs = f"{b} AS _b", ", ".join(f"e.{a}" for a in _ATTR)
        group = "_b, " + ", ".join(f"e.{a}" for a in _ATTR)
    con.execute(
        f"""INSERT INTO {table} BY NAME
        SELECT make_timestamptz(_b * {unit_us}) AS {bucket}, * EXCLUDE (_b{", _c" if by_hash else ""})
        FROM (
            SELECT {keys}, {attrs}, {_aggregates()}
            FROM ({source}) e LEFT JOIN price_table p ON p.price_id = e.price_id
            GROUP BY {group}
        )"""
    )
    return n


def rebuild_touched(con: duckdb.DuckDBPyConnection, ingest_id: int, replaced_hours: str | None = None) -> int:
    """Bring the hourly and daily rollups up to date with this ingest's events; returns hours touched.

    `replaced_hours`: a table of epoch hours (`h`) of events this ingest deleted, recomputed too.
    """
    also = f" UNION ALL SELECT h FROM {replaced_hours}" if replaced_hours else ""
    lo, hi = one_row(con.execute(
        "SELECT min(h), max(h) FROM ("
        'SELECT epoch_us("timestamp") // 3600000000 AS h FROM events WHERE ingest_id = ?' + also + ")",
        [ingest_id],
    ))
    if lo is None:
        return 0
    by_hash = _combo_hash_is_exact(con, ingest_id)
    hours = 0
    for table, bucket, unit_us in ROLLUPS:
        n = _rebuild(con, ingest_id, table, bucket, unit_us, by_hash, lo, hi, replaced_hours)
        hours = hours or n
    con.execute("DROP TABLE IF EXISTS _touched")
    con.execute("DROP TABLE IF EXISTS _stale")
    return hours
