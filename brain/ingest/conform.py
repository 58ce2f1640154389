"""The canonical event columns as every source adapter hands them over (an Arrow schema), and the
small helpers adapters share to produce them."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

# The canonical event columns (DESIGN "The usage store") as every adapter hands them over.
CANONICAL_SCHEMA = pa.schema(
    [
        ("timestamp", pa.timestamp("us", tz="UTC")),
        ("agent", pa.string()),
        ("api_key_id", pa.string()),
        ("service_name", pa.string()),
        ("provider", pa.string()),
        ("model", pa.string()),
        ("input_tokens", pa.int64()),
        ("output_tokens", pa.int64()),
        ("cache_read_tokens", pa.int64()),
        ("cache_write_tokens", pa.int64()),
        ("reasoning_tokens", pa.int64()),
        ("requests", pa.int64()),
        ("run_id", pa.string()),
        ("request_id", pa.string()),
        ("status", pa.string()),
        ("cost_usd", pa.float64()),
    ]
)

def select_canonical(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pa.Table:
    """Run a query whose columns are named like the canonical schema; return it cast to that schema."""
    return conform(con.sql(sql, params=params or None).to_arrow_table())


def conform(table: pa.Table, unfit_as_text: bool = False) -> pa.Table:
    """Cast a table to CANONICAL_SCHEMA, adding missing columns as nulls. With `unfit_as_text` a
    column with a value that does not fit its type stays text (ingest's validation then names the rows)."""
    cols = []
    for f in CANONICAL_SCHEMA:
        if f.name not in table.column_names:
            cols.append(pa.nulls(table.num_rows, f.type))
            continue
        col = table.column(f.name)
        try:
            cols.append(col.cast(f.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            if not unfit_as_text:
                raise
            cols.append(col.cast(pa.string()))
    return pa.Table.from_arrays(cols, names=CANONICAL_SCHEMA.names)


def json_doc_sql(path: Path) -> str:
    """A FROM clause yielding one JSON value per top-level document (object, array item or line)."""
    return f"read_json_objects({sql_str(path)}, format='auto', maximum_object_size=1073741824)"


def sql_str(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"
