"""Saved pages of a provider's usage or cost API (OpenAI, Anthropic): the machinery both share.

A file holds pages, buckets or a list of either; each bucket `b` has `results` `r`. A reader gives
the fields a result must have and one SELECT over `results(b, r)`; this module finds the results,
refuses files without buckets or with incomplete results, and turns DuckDB's errors into one
IngestError naming the file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa

from brain.errors import IngestError
from brain.ingest.conform import json_doc_sql, select_canonical
from brain.store.database import session

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
# An extra check of a cost file: (connection, path, results CTE) -> raise IngestError or return.
Check = Callable[[duckdb.DuckDBPyConnection, Path, str], None]


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection in UTC for reading an export."""
    con = duckdb.connect()
    session(con)
    return con


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


def _read(path: str | Path, kind: str, expected: str, required: dict[str, str], fn) -> pa.Table:
    """Refuse a file with no buckets or an incomplete result, then `fn(con, cte)`; errors name the file."""
    path = Path(path)
    cte = _results_cte(path)
    con = connect()
    try:
        if con.sql(cte + "SELECT count(*) FROM buckets").fetchall()[0][0] == 0:
            raise IngestError(f"{path}: no {kind} buckets found (expected {expected})")
        _check_required(con, path, cte, required, kind)
        return fn(con, cte)
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0]
        raise IngestError(f"{path}: not a readable JSON export ({first})") from exc
    finally:
        con.close()


def read_usage_pages(path: str | Path, expected: str, required: dict[str, str], select: str) -> pa.Table:
    """Canonical events from usage pages: `select` reads `results` in canonical columns.

    `required` maps a field name to SQL that is true when a result lacks it; `expected` says what
    the file should have been, for the error when it holds no buckets.
    """
    return _read(path, "usage", expected, required, lambda con, cte: select_canonical(con, cte + select))


def read_cost_pages(
    path: str | Path, expected: str, required: dict[str, str], currency_sql: str, select: str,
    check: Check | None = None,
) -> pa.Table:
    """Provider cost rows (COST_SCHEMA, USD) from cost pages: `select` reads `results` in its columns.

    Any currency but USD is refused (we do not convert); `check` may refuse more.
    """
    def fn(con, cte):
        if check:
            check(con, Path(path), cte)
        bad = con.sql(
            cte + f"SELECT DISTINCT upper({currency_sql}) FROM results "
            f"WHERE upper(coalesce({currency_sql}, 'USD')) <> 'USD'"
        ).fetchall()
        if bad:
            raise IngestError(f"{path}: only USD costs are supported, found {', '.join(b[0] for b in bad)}")
        return con.sql(cte + select).to_arrow_table().cast(COST_SCHEMA)

    return _read(path, "cost", expected, required, fn)
