"""The price table of a rollups folder: genai-prices materialised for the (provider, model) pairs
of the lake, kept beside the rollups (`ROLLUPS/_prices/`) and extended, never re-priced, as new
pairs arrive: the store's rule (`brain.pricing.prices.ensure_prices`), so a day rolled up today
and again next month gets the same costs. Both engines use it: DuckDB joins it, Spark broadcasts
it. Vault price notes are not in it: the brain applies them when it reads the rollups, as it does
for the store's."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from brain.lake.layout import PRICE_TABLES, rollup_columns
from brain.pricing.prices import ensure_prices


def extend_prices(
    existing: dict[str, pa.Table | None], pairs: list[tuple[str | None, str]]
) -> tuple[dict[str, pa.Table], int]:
    """The price tables (`price_table`, `price_models`) with rows for every pair in `pairs` they
    lack, and how many pairs were new. Existing rows keep their ids; new ones get the next."""
    con = duckdb.connect()
    try:
        for table in PRICE_TABLES:
            cols = ", ".join(f'"{c}" {t}' for c, t in rollup_columns(table))
            con.execute(f"CREATE TABLE {table} ({cols})")
            if existing.get(table) is not None:
                con.register("_old", existing[table])
                try:
                    con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _old")
                finally:
                    con.unregister("_old")
        new = ensure_prices(con, pairs)
        return {t: con.sql(f"SELECT * FROM {t} ORDER BY ALL").to_arrow_table() for t in PRICE_TABLES}, new
    finally:
        con.close()
