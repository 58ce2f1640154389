"""OpenAI organization usage (completions) and costs API pages -> canonical events / cost rows.

Usage buckets (`/v1/organization/usage/completions`, any `group_by`) become one event per result
with `requests = num_model_requests`; `input_tokens` already includes `input_cached_tokens`.
When a result has no `api_key_id` its `project_id` stands in, so agent notes may claim either.
Cost buckets (`/v1/organization/costs`) become provider cost rows for reconciliation.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from brain.errors import IngestError
from brain.ingest.detect import json_doc_sql, select_canonical

COST_SCHEMA = pa.schema(
    [
        ("day", pa.date32()),
        ("provider", pa.string()),
        ("model", pa.string()),
        ("line_item", pa.string()),
        ("account_id", pa.string()),
        ("amount_usd", pa.float64()),
        ("currency", pa.string()),
        ("row_key", pa.string()),
    ]
)


def _results_cte(path: Path) -> str:
    """CTE `results(b, r)`: every bucket b and result r in a file of pages, buckets or a list of them."""
    return f"""
    WITH doc AS (SELECT json AS j FROM {json_doc_sql(path)}),
    items AS (SELECT unnest(CASE WHEN json_type(j) = 'ARRAY' THEN CAST(j AS JSON[]) ELSE [j] END) AS p
              FROM doc),
    buckets AS (SELECT unnest(CASE WHEN json_type(p -> 'data') = 'ARRAY' THEN CAST(p -> 'data' AS JSON[])
                                   ELSE [p] END) AS b FROM items),
    results AS (SELECT b, unnest(CASE WHEN json_type(b -> 'results') = 'ARRAY'
                                      THEN CAST(b -> 'results' AS JSON[]) ELSE [] END) AS r
                FROM buckets)
    """


def _connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con


def _run(path: Path, fn):
    """Run an adapter query, turning DuckDB's errors into one IngestError naming the file."""
    con = _connect()
    try:
        return fn(con)
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0]
        raise IngestError(f"{path}: not a readable JSON export ({first})") from exc
    finally:
        con.close()


def _check_required(con, path: Path, cte: str, checks: dict[str, str], what: str) -> None:
    """Raise IngestError naming the first result that lacks a required field."""
    conds = " OR ".join(f"({c})" for c in checks.values())
    rows = con.sql(
        cte + f"SELECT n, {', '.join(f'({c}) AS m{i}' for i, c in enumerate(checks.values()))} "
        f"FROM (SELECT row_number() OVER () AS n, b, r FROM results) WHERE {conds} LIMIT 1"
    ).fetchall()
    if rows:
        row = rows[0]
        missing = [name for name, flag in zip(checks, row[1:], strict=True) if flag]
        raise IngestError(f"{path}: {what} result #{row[0]} has no {', '.join(missing)}")


def _preflight(con, path: Path, cte: str, kind: str, expected: str, required: dict[str, str]) -> None:
    """Refuse a file with no buckets, or with a result that lacks a required field."""
    if con.sql(cte + "SELECT count(*) FROM buckets").fetchall()[0][0] == 0:
        raise IngestError(f"{path}: no {kind} buckets found (expected {expected})")
    _check_required(con, path, cte, required, kind)


def _require_usd(con, path: Path, cte: str, currency_sql: str) -> None:
    """Refuse cost rows in any currency but USD (we do not convert)."""
    bad = con.sql(
        cte + f"SELECT DISTINCT upper({currency_sql}) FROM results WHERE upper(coalesce({currency_sql}, 'USD')) <> 'USD'"
    ).fetchall()
    if bad:
        raise IngestError(f"{path}: only USD costs are supported, found {', '.join(b[0] for b in bad)}")


def read_openai_usage(path: str | Path) -> pa.Table:
    """Read saved OpenAI completions-usage pages into canonical events (one per bucket result)."""
    path = Path(path)
    cte = _results_cte(path)

    def query(con):
        _preflight(
            con,
            path,
            cte,
            "usage",
            "OpenAI usage API pages",
            {
                "start_time": "b ->> 'start_time' IS NULL",
                "input_tokens": "r ->> 'input_tokens' IS NULL",
                "output_tokens": "r ->> 'output_tokens' IS NULL",
                "num_model_requests": "r ->> 'num_model_requests' IS NULL",
            },
        )
        return select_canonical(
            con,
            cte
            + """
            SELECT to_timestamp(CAST(b ->> 'start_time' AS BIGINT)) AS timestamp,
                   NULL AS agent,
                   coalesce(r ->> 'api_key_id', r ->> 'project_id') AS api_key_id,
                   'openai' AS provider,
                   r ->> 'model' AS model,
                   CAST(r ->> 'input_tokens' AS BIGINT) AS input_tokens,
                   CAST(r ->> 'output_tokens' AS BIGINT) AS output_tokens,
                   coalesce(CAST(r ->> 'input_cached_tokens' AS BIGINT), 0) AS cache_read_tokens,
                   0 AS cache_write_tokens,
                   0 AS reasoning_tokens,
                   CAST(r ->> 'num_model_requests' AS BIGINT) AS requests,
                   concat_ws(':', 'openai-usage', b ->> 'start_time', b ->> 'end_time',
                             coalesce(r ->> 'api_key_id', ''), coalesce(r ->> 'project_id', ''),
                             coalesce(r ->> 'model', ''), coalesce(r ->> 'user_id', ''),
                             coalesce(r ->> 'batch', ''), coalesce(r ->> 'service_tier', ''))
                       AS request_id,
                   'ok' AS status
            FROM results
            WHERE CAST(r ->> 'num_model_requests' AS BIGINT) > 0
               OR CAST(r ->> 'input_tokens' AS BIGINT) > 0
               OR CAST(r ->> 'output_tokens' AS BIGINT) > 0
            ORDER BY timestamp
            """,
        )

    return _run(path, query)


def read_openai_costs(path: str | Path) -> pa.Table:
    """Read saved OpenAI costs-API pages into provider cost rows (COST_SCHEMA, USD)."""
    path = Path(path)
    cte = _results_cte(path)

    def query(con):
        _preflight(
            con,
            path,
            cte,
            "cost",
            "OpenAI costs API pages",
            {"start_time": "b ->> 'start_time' IS NULL", "amount.value": "r -> 'amount' ->> 'value' IS NULL"},
        )
        _require_usd(con, path, cte, "r -> 'amount' ->> 'currency'")
        table = con.sql(
            cte
            + """
            SELECT CAST(to_timestamp(CAST(b ->> 'start_time' AS BIGINT)) AS DATE) AS day,
                   'openai' AS provider,
                   nullif(trim(split_part(r ->> 'line_item', ',', 1)), '') AS model,
                   r ->> 'line_item' AS line_item,
                   r ->> 'project_id' AS account_id,
                   CAST(r -> 'amount' ->> 'value' AS DOUBLE) AS amount_usd,
                   'USD' AS currency,
                   concat_ws(':', 'openai-costs', b ->> 'start_time', coalesce(r ->> 'project_id', ''),
                             coalesce(r ->> 'line_item', ''), coalesce(r ->> 'organization_id', ''))
                       AS row_key
            FROM results
            """
        ).to_arrow_table()
        return table.cast(COST_SCHEMA)

    return _run(path, query)
