"""Hourly and daily rollups, recomputed from events for the buckets an ingest touched."""

from __future__ import annotations

import duckdb

from brain.pricing import COST_PART_SQL

ROLLUPS = (("rollup_hourly", "hour"), ("rollup_daily", "day"))


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


def rebuild_touched(con: duckdb.DuckDBPyConnection, ingest_id: int) -> int:
    """Recompute every hourly and daily bucket holding events of this ingest; returns hours touched."""
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _touched AS
        SELECT DISTINCT date_trunc('hour', "timestamp") AS hour FROM events WHERE ingest_id = ?""",
        [ingest_id],
    )
    lo_hi = con.execute("SELECT min(hour), max(hour), count(*) FROM _touched").fetchone()
    if not lo_hi[2]:
        return 0
    lo, hi, n_hours = lo_hi
    for table, bucket in ROLLUPS:
        keys = f"(SELECT DISTINCT date_trunc('{bucket}', hour) FROM _touched)"
        con.execute(f"DELETE FROM {table} WHERE {bucket} IN {keys}")
        con.execute(
            f"""INSERT INTO {table} BY NAME
            SELECT date_trunc('{bucket}', e."timestamp") AS {bucket},
                   e.agent, e.api_key_id, e.service_name, e.provider, e.model,
                   {_aggregates()}
            FROM events e LEFT JOIN price_table p ON p.price_id = e.price_id
            WHERE e."timestamp" >= date_trunc('{bucket}', ?::TIMESTAMPTZ)
              AND e."timestamp" < date_trunc('{bucket}', ?::TIMESTAMPTZ) + INTERVAL 1 {bucket}
              AND date_trunc('{bucket}', e."timestamp") IN {keys}
            GROUP BY ALL""",
            [lo, hi],
        )
    return n_hours
