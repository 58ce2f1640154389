"""Hourly and daily rollups, kept current at ingest for the days an ingest touched.

Every ingest pays for this, so:

- A touched hour (day) that already had rollup rows is *stale*: its rows are deleted and
  recomputed from all of its events, so rollups never depend on how usage was split into
  ingests. Other touched buckets are new and come from this ingest's events alone (the append
  case); a live collector's small ingests recompute their current hour and day only.
- Rows are grouped by integers: the epoch hour or day, and a UBIGINT hash of the five attribution
  columns, checked to be collision-free for the combinations at hand (re-seeded otherwise); the
  labels are joined back to the (few) result rows.
- Runs are exact: `count(DISTINCT run_id)` per bucket plus the requests that carry no run id (a
  run crossing the hour or midnight is one run in each of its buckets). Two counts: `runs` per
  row, i.e. per (provider, model) too (a run that used two models is in both rows: right when
  grouping by model or provider), and `agent_runs` per bucket and (agent, api_key_id,
  service_name), the columns usage is attributed by, stored on that group's row with the smallest
  (provider, model), NULLs first, and 0 on its other rows: summed over whole triples (an agent, an
  owner, a team, a key) it counts a run once per bucket. A run whose calls carry two keys or
  service names still counts once per triple (attribution to agents lives in the vault, not
  here). Only triples with several combinations need counting (a one-combination triple's row
  copies `runs`): their events are grouped once, by (hour, triple, run), from the daily source
  (which covers the hourly one); the hourly count is a count of that set, the daily one its
  distinct runs per day, each put on the (bucket, first combination) row by a join.
- The hourly token p95s are `quantile_cont`'s, without its per-group sort state: for n <= 20
  values its interpolation only reads the two largest (`max(x, 2)`); the hours with more events
  get `quantile_cont` itself in one extra pass over those hours only. Daily rollups carry no p95s
  (migration 0007): nothing read them and they cost a second exact-quantile pass.

Sums, runs, agent runs and p95s equal a direct aggregate of the events
(`tests/ingest/test_pipeline.py::test_rollups_equal_a_direct_aggregate_of_the_events`).

Measured on the 10M-event benchmark (DuckDB 2.0.1, 1 GB cap, 2 CPUs, ~2M hourly groups): the
hourly insert 4.2-4.8 s, the daily 1.2-1.5 s (exact per-hour `quantile_cont` took 7-9 s for the
hourly alone). Of the hourly time, grouping 10M rows into 2M groups is ~1 s, the cost parts
(price join) ~0.8 s, the top-two values ~0.7 s and the distinct runs ~1.2 s: DuckDB materialises
the aggregate input for `count(DISTINCT)`. Tried and rejected: `approx_quantile` (out of memory
at 2M groups, a digest each), `max(x, k)` for k >= 6 (out of memory), pre-grouping by (hour,
combination, run) and adding up from there (4.3M groups, as runs cross hours and models:
slower), distinct runs as a joined two-level aggregate (0.25 s faster: not worth a second plan),
one GROUPING SETS pass for hourly and daily (~0.6 s faster, but its result must be copied to be
split into the two tables), the store's joins forced in written order (slower here), and a
larger memory cap (1.3 GB: ~0.5 s faster, peak RSS 1.46 GB, too close to the 1.5 GB target).
Also measured: the hourly aggregate costs as much when its rows are not written (4.5 s), so the
time is the aggregation; a perfect-hash aggregate on dense (hour, combination index) integers
was slower than the hash aggregate (1.8 s vs 1.5 s for the same sums); `count(DISTINCT
hash(run_id))` gained nothing (DuckDB already compresses the strings it counts); the daily
rollup from the hourly rows plus a separate distinct-runs pass saves ~0.2 s (not worth the
second way of computing a rollup).

`agent_runs` (the same benchmark, where each agent's runs use two models, so every triple is
counted; the rollup step timed alone, 3 alternating rounds on a busy machine): 6.2-7.3 s before,
7.8-8.2 s after, of which the (hour, triple, run) grouping 0.74-0.82 s, the two counts 0.2 s each,
the joins ~0.2 s. Tried: a `count(DISTINCT run_id)` per (bucket, triple) over the events for each
bucket (+1.6-1.7 s: a second distinct pass for the daily); designating the row with a window
`min(rank) OVER (PARTITION BY bucket, triple)` in the insert (1.7 s at 1M rows, and the optimiser
turned its three-way join into a 227M-row product on the bucket alone); `arg_min` over a (provider,
model) struct per event instead of the labels' rank (no faster than the join to the labels).
"""

from __future__ import annotations

import duckdb

from brain.errors import StoreError
from brain.pricing.prices import COST_PART_SQL
from brain.store.database import (
    ATTRIBUTION_COLUMNS,
    GROUP_COLUMNS,
    KEPT_EVENT_SQL,
    TOKEN_COLUMNS,
    one_row,
)

HOUR_US = 3_600_000_000
DAY_US = 86_400_000_000
# Largest group whose p95 the two largest values determine (quantile_cont's lower index is n - 2).
P95_FROM_TOP_TWO = 20
# Runs among events `e`: distinct run ids plus the requests that carry none.
RUNS_SQL = "count(DISTINCT e.run_id) + coalesce(sum(e.requests) FILTER (WHERE e.run_id IS NULL), 0)"
_TEMP = ("_hours", "_stale_hour", "_stale_day", "_combos", "_labels", "_triple_runs", "_agent_runs_hour", "_agent_runs_day", "_big", "_bigq")
# Per-request token values whose hourly p95 the rollups keep: (rollup column, SQL over event `e`).
_P95 = (("input_tokens_p95", "e.input_tokens::DOUBLE / e.requests"),
        ("output_tokens_p95", "e.output_tokens::DOUBLE / e.requests"))


def _combo(alias: str, seed: int, columns: tuple[str, ...] = GROUP_COLUMNS) -> str:
    return "hash(" + ", ".join(f"{alias}.{a}" for a in columns) + f", {int(seed)})"


def _triple(alias: str, seed: int) -> str:
    """The hash of an (agent, api_key_id, service_name) attribution triple."""
    return _combo(alias, seed, ATTRIBUTION_COLUMNS)


def _seed(con: duckdb.DuckDBPyConnection) -> int:
    """A hash seed under which the combinations in `_combos`, and their triples, get distinct hashes."""
    attrs = ", ".join(f"c.{a}" for a in ATTRIBUTION_COLUMNS)
    for seed in range(8):
        n, distinct, triples, distinct_triples = one_row(con.execute(
            f"SELECT count(*), count(DISTINCT {_combo('c', seed)}), count(DISTINCT ({attrs})), "
            f"count(DISTINCT {_triple('c', seed)}) FROM _combos c"))
        if n == distinct and triples == distinct_triples:
            return seed
    raise StoreError("cannot find a collision-free hash for the attribution columns")


def _aggregates() -> str:
    parts = ",\n".join(f"coalesce(sum({sql}), 0) AS cost_{name}_usd" for name, sql in COST_PART_SQL.items())
    tokens = ", ".join(f"sum(e.{c}) AS {c}" for c in TOKEN_COLUMNS)
    return f"""
        sum(e.requests) AS requests,
        coalesce(sum(e.requests) FILTER (WHERE e.status = 'error'), 0) AS error_requests,
        {RUNS_SQL} AS runs,
        count(*) AS events, {tokens},
        {parts},
        coalesce(sum(e.cost_est_usd), 0) AS cost_usd,
        coalesce(sum(e.requests) FILTER (WHERE e.cost_est_usd IS NULL), 0) AS unpriced_requests,
        coalesce(sum(e.input_tokens + e.output_tokens) FILTER (WHERE e.cost_est_usd IS NULL), 0)
            AS unpriced_tokens,
        sum(e.cost_usd) AS reported_cost_usd"""


def _p95_from_top_two(top: str) -> str:
    """quantile_cont(x, 0.95) of n <= P95_FROM_TOP_TWO values from `top` = max(x, 2), else NULL.

    Sorted ascending, quantile_cont reads x[floor(rn)] and x[ceil(rn)] with rn = (n - 1) * 0.95
    and interpolates lo + (hi - lo) * (rn - floor(rn)); for 2 <= n <= 20 those are the second
    largest and the largest value.
    """
    rn = "((events - 1)::DOUBLE * 0.95::DOUBLE)"
    return (f"CASE WHEN events = 1 THEN {top}[1] WHEN events <= {P95_FROM_TOP_TWO} "
            f"THEN {top}[2] + ({top}[1] - {top}[2]) * ({rn} - floor({rn})) END")


def _agent_runs(con: duckdb.DuckDBPyConnection, source: str, seed: int) -> None:
    """`_agent_runs_hour` / `_agent_runs_day`: the runs of each (bucket, triple) that several
    combinations share, keyed by the bucket and the triple's first combination in it (smallest
    rank); both from one grouping of `source` (the daily source, which covers the hourly one) by
    (hour, triple, run)."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _triple_runs AS
        SELECT epoch_us(e."timestamp") // {HOUR_US} AS h, l.t, e.run_id, min(l.rank) AS rank,
            sum(e.requests) AS requests
        FROM ({source}) e JOIN (SELECT c, t, rank FROM _labels WHERE shared) l ON l.c = {_combo("e", seed)}
        GROUP BY h, l.t, e.run_id"""
    )
    for bucket, runs in (("hour", "count(x.run_id)"), ("day", "count(DISTINCT x.run_id)")):
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _agent_runs_{bucket} AS
            SELECT x._b, l.c AS _c, x.agent_runs FROM (
                SELECT h // {DAY_US // HOUR_US if bucket == "day" else 1} AS _b, t, min(rank) AS rank,
                    {runs} + coalesce(sum(requests) FILTER (WHERE run_id IS NULL), 0) AS agent_runs
                FROM _triple_runs x GROUP BY _b, t
            ) x JOIN _labels l ON l.t = x.t AND l.rank = x.rank"""
        )


def _insert(con: duckdb.DuckDBPyConnection, source: str, seed: int, table: str, bucket: str, unit_us: int) -> None:
    """Aggregate `source` into `table` by (bucket, combination), with each triple's runs on its first row."""
    tops, p95 = "", ""
    if table == "rollup_hourly":
        tops = ", " + ", ".join(f"max({sql}, 2) AS _top{i}" for i, (_, sql) in enumerate(_P95))
        p95 = ", " + ", ".join(f"{_p95_from_top_two(f'_top{i}')} AS {col}" for i, (col, _) in enumerate(_P95))
    labels = ", ".join(f"l.{a}" for a in GROUP_COLUMNS)
    drop = ", ".join(["_b", "_c", *(f"_top{i}" for i in range(len(_P95)) if tops)])
    # a triple with one combination has its runs on its one row in every bucket
    con.execute(
        f"""INSERT INTO {table} BY NAME
        SELECT make_timestamptz(a._b * {unit_us}) AS {bucket}, {labels}, a.* EXCLUDE ({drop}),
            CASE WHEN l.shared THEN coalesce(r.agent_runs, 0) ELSE a.runs END AS agent_runs
        FROM (
            SELECT *{p95} FROM (
                SELECT epoch_us(e."timestamp") // {unit_us} AS _b, {_combo("e", seed)} AS _c,
                    {_aggregates()}{tops}
                FROM ({source}) e LEFT JOIN price_table p ON p.price_id = e.price_id
                GROUP BY _b, _c
            )
        ) a JOIN _labels l ON l.c = a._c
        LEFT JOIN _agent_runs_{bucket} r ON r._b = a._b AND r._c = a._c"""
    )


def _fill_large_p95s(con: duckdb.DuckDBPyConnection, source: str, seed: int) -> None:
    """Exact p95s for the hours this ingest rolled up that have more events than the shortcut covers."""
    combo = _combo("r", seed)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _big AS
        SELECT DISTINCT epoch_us(r.hour) // {HOUR_US} AS h, {combo} AS c FROM rollup_hourly r
        WHERE r.hour >= make_timestamptz((SELECT min(h) FROM _hours) * {HOUR_US})
          AND r.hour <= make_timestamptz((SELECT max(h) FROM _hours) * {HOUR_US})
          AND r.events > {P95_FROM_TOP_TWO} AND epoch_us(r.hour) // {HOUR_US} IN (SELECT h FROM _hours)"""
    )
    lo, hi = one_row(con.execute("SELECT min(h), max(h) FROM _big"))
    if lo is None:
        return
    quantiles = ", ".join(f"quantile_cont(x{i}, 0.95) AS {col}" for i, (col, _) in enumerate(_P95))
    labels = ", ".join(f"l.{a}" for a in GROUP_COLUMNS)
    values = ", ".join(f"{sql} AS x{i}" for i, (_, sql) in enumerate(_P95))
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _bigq AS
        SELECT make_timestamptz(h * {HOUR_US}) AS hour, {labels}, {quantiles} FROM (
            SELECT epoch_us(e."timestamp") // {HOUR_US} AS h, {_combo("e", seed)} AS c, {values}
            FROM ({source}) e
            WHERE e."timestamp" >= make_timestamptz({int(lo)} * {HOUR_US})
              AND e."timestamp" < make_timestamptz({int(hi) + 1} * {HOUR_US})
        ) JOIN _big USING (h, c) JOIN _labels l USING (c)
        GROUP BY ALL"""
    )
    same = " AND ".join(f"r.{a} IS NOT DISTINCT FROM q.{a}" for a in GROUP_COLUMNS)
    sets = ", ".join(f"{col} = q.{col}" for col, _ in _P95)
    con.execute(f"UPDATE rollup_hourly r SET {sets} FROM _bigq q WHERE r.hour = q.hour AND {same}")


def rebuild_touched(con: duckdb.DuckDBPyConnection, ingest_id: int, replaced_hours: str | None = None) -> int:
    """Bring the hourly and daily rollups up to date with this ingest's events; returns hours touched.

    `replaced_hours`: a table of epoch hours (`h`) of events this ingest deleted, recomputed too.
    """
    also = f" UNION SELECT h FROM {replaced_hours}" if replaced_hours else ""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _hours AS
        SELECT DISTINCT epoch_us("timestamp") // {HOUR_US} AS h FROM events WHERE ingest_id = ?{also}""",
        [ingest_id],
    )
    hours = one_row(con.execute("SELECT count(*) FROM _hours"))[0]
    try:
        if hours:
            _rebuild(con, ingest_id)
    finally:
        for t in _TEMP:
            con.execute(f"DROP TABLE IF EXISTS {t}")
    return int(hours)


def _source(con: duckdb.DuckDBPyConnection, ingest_id: int, table: str, bucket: str, unit_us: int) -> str:
    """SQL for the events `table` must be (re)built from; deletes the rows of its stale buckets.

    A stale bucket is one this ingest touched that already has rows: it is recomputed from all of
    its events. The other touched buckets are new and take this ingest's events alone.
    """
    per_hour, stale_table = unit_us // HOUR_US, f"_stale_{bucket}"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {stale_table} AS
        SELECT DISTINCT epoch_us(r.{bucket}) // {unit_us} AS b FROM {table} r
        WHERE r.{bucket} >= make_timestamptz((SELECT min(h) FROM _hours) // {per_hour} * {unit_us})
          AND r.{bucket} <= make_timestamptz((SELECT max(h) FROM _hours) // {per_hour} * {unit_us})
          AND epoch_us(r.{bucket}) // {unit_us} IN (SELECT h // {per_hour} FROM _hours)"""
    )
    stale, lo, hi = one_row(con.execute(f"SELECT count(*), min(b), max(b) FROM {stale_table}"))
    source = f"SELECT * FROM events e WHERE e.ingest_id = {int(ingest_id)}"
    if not stale:
        return source
    con.execute(
        f"DELETE FROM {table} WHERE {bucket} >= make_timestamptz({int(lo)} * {unit_us}) "
        f"AND epoch_us({bucket}) // {unit_us} IN (SELECT b FROM {stale_table})"
    )
    b = f'epoch_us(e."timestamp") // {unit_us}'
    return f"""{source} AND {b} NOT IN (SELECT b FROM {stale_table})
        UNION ALL
        SELECT * FROM events e
        WHERE {KEPT_EVENT_SQL.format(e="e")} AND e."timestamp" >= make_timestamptz({int(lo)} * {unit_us})
          AND e."timestamp" < make_timestamptz({int(hi) + 1} * {unit_us})
          AND {b} IN (SELECT b FROM {stale_table})"""


def _rebuild(con: duckdb.DuckDBPyConnection, ingest_id: int) -> None:
    hourly = _source(con, ingest_id, "rollup_hourly", "hour", HOUR_US)
    daily = _source(con, ingest_id, "rollup_daily", "day", DAY_US)
    # The daily source covers the hourly one (a stale hour lies in a stale day): label from it.
    attrs = ", ".join(f"e.{a}" for a in GROUP_COLUMNS)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _combos AS SELECT DISTINCT {attrs} FROM ({daily}) e")
    seed = _seed(con)
    # `t` names the combination's triple, `rank` its (provider, model) order within the triple,
    # `shared` whether the triple has other combinations.
    triple = ", ".join(f"c.{a}" for a in ATTRIBUTION_COLUMNS)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _labels AS
        SELECT *, {_combo('c', seed)} AS c, {_triple('c', seed)} AS t,
            row_number() OVER (PARTITION BY {triple} ORDER BY c.provider NULLS FIRST, c.model NULLS FIRST) AS rank,
            count(*) OVER (PARTITION BY {triple}) > 1 AS shared
        FROM _combos c"""
    )
    _agent_runs(con, daily, seed)
    _insert(con, hourly, seed, "rollup_hourly", "hour", HOUR_US)
    _fill_large_p95s(con, hourly, seed)
    _insert(con, daily, seed, "rollup_daily", "day", DAY_US)
