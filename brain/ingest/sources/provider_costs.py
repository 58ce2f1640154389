"""Provider cost reports (OpenAI costs API, Anthropic cost report) into the store's `provider_costs`,
a table this module creates (`CREATE TABLE IF NOT EXISTS`) the first time a cost file is imported;
the store's own schema is untouched. Rows are keyed by a stable `row_key`, and a re-import replaces
amounts for the same key (providers revise the current day's figures). brain.costs.reconcile
reads them beside our estimate."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from brain.errors import IngestError

PROVIDER_COSTS_DDL = """
CREATE TABLE IF NOT EXISTS provider_costs (
    row_key VARCHAR PRIMARY KEY,
    day DATE NOT NULL,
    provider VARCHAR NOT NULL,
    model VARCHAR,
    line_item VARCHAR,
    account_id VARCHAR,
    amount_usd DOUBLE NOT NULL,
    currency VARCHAR NOT NULL,
    source_file VARCHAR,
    imported_at TIMESTAMPTZ NOT NULL
)"""


@dataclass(frozen=True)
class CostImportReport:
    """What one cost-report import did: rows read, new keys, keys whose amounts changed (replaced),
    keys already held with the same amounts (duplicates)."""

    source: str
    rows: int
    inserted: int
    replaced: int
    unchanged: int = 0

    # the same attribute names IngestReport has, so callers can print either
    @property
    def accepted(self) -> int:
        """New cost rows."""
        return self.inserted

    @property
    def duplicates(self) -> int:
        """Cost rows already held as they are."""
        return self.unchanged

    @property
    def quarantined(self) -> int:
        """Always 0: a cost report is refused whole when malformed."""
        return 0

    def to_dict(self) -> dict:
        """A JSON-able view of the report, with the counts an ingest report has."""
        return {"source": self.source, "rows": self.rows, "accepted": self.inserted, "replaced": self.replaced,
                "duplicates": self.unchanged, "quarantined": 0}


def import_provider_costs(store, table: pa.Table, source: str) -> CostImportReport:
    """Upsert provider cost rows (export_pages.COST_SCHEMA) into `provider_costs`, atomically."""
    needed = {"row_key", "day", "provider", "model", "line_item", "account_id", "amount_usd", "currency"}
    missing = needed - set(table.column_names)
    if missing:
        raise IngestError(f"{source}: cost rows lack {', '.join(sorted(missing))}")
    with store.transaction() as con:
        con.execute(PROVIDER_COSTS_DDL)
        con.register("_provider_costs_src", table)
        try:
            dup = con.execute(
                "SELECT count(*) - count(DISTINCT row_key) FROM _provider_costs_src"
            ).fetchall()[0][0]
            if dup:
                raise IngestError(f"{source}: {dup} cost row(s) repeat the same bucket and grouping")
            replaced, unchanged = con.execute(
                """SELECT count(*) FILTER (WHERE changed), count(*) FILTER (WHERE NOT changed) FROM (
                    SELECT s.amount_usd IS DISTINCT FROM p.amount_usd OR s.currency IS DISTINCT FROM p.currency
                        AS changed
                    FROM _provider_costs_src s JOIN provider_costs p USING (row_key))"""
            ).fetchall()[0]
            con.execute(
                """INSERT OR REPLACE INTO provider_costs
                SELECT row_key, day, lower(provider), model, line_item, account_id, amount_usd,
                       currency, ?, current_timestamp
                FROM _provider_costs_src""",
                [source],
            )
        finally:
            con.unregister("_provider_costs_src")
    return CostImportReport(source, table.num_rows, table.num_rows - replaced - unchanged, replaced, unchanged)
