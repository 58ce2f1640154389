"""FinOps FOCUS export: one row per day, agent, key, service, provider and model from `rollup_daily`.

Costs are our estimate (after vault price notes): BilledCost = EffectiveCost = ContractedCost,
ListCost = the genai-prices list estimate. Quantities are tokens. The agent is the resource
(ResourceId = note path, ResourceName = note name), attributed by `brain spend`'s own mapping
(agent field -> api key -> service name -> unattributed), so the export's totals are spend's;
owner and team ride along as x_ columns and in Tags.
"""

from __future__ import annotations

import os
import sys
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from brain.errors import BrainError
from brain.store.database import session

FOCUS_VERSION = "1.2"
# FOCUS Decimal columns as exact decimals: money to 10 places (a token's unit price is ~1e-7 $),
# rounded from the stored doubles so no binary noise (0.8447197999999999) reaches a FinOps tool.
_DEC = pa.decimal128(38, 10)
_TS = pa.timestamp("us", tz="UTC")
_STR = pa.string()

# FOCUS 1.2 columns in spec order (Decimal -> decimal128(38, 10), DateTime -> UTC timestamp, JSON -> string).
FOCUS_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("AvailabilityZone", _STR), ("BilledCost", _DEC), ("BillingAccountId", _STR),
    ("BillingAccountName", _STR), ("BillingAccountType", _STR), ("BillingCurrency", _STR),
    ("BillingPeriodEnd", _TS), ("BillingPeriodStart", _TS), ("CapacityReservationId", _STR),
    ("CapacityReservationStatus", _STR), ("ChargeCategory", _STR), ("ChargeClass", _STR),
    ("ChargeDescription", _STR), ("ChargeFrequency", _STR), ("ChargePeriodEnd", _TS),
    ("ChargePeriodStart", _TS), ("CommitmentDiscountCategory", _STR), ("CommitmentDiscountId", _STR),
    ("CommitmentDiscountName", _STR), ("CommitmentDiscountQuantity", _DEC),
    ("CommitmentDiscountStatus", _STR), ("CommitmentDiscountType", _STR),
    ("CommitmentDiscountUnit", _STR), ("ConsumedQuantity", _DEC), ("ConsumedUnit", _STR),
    ("ContractedCost", _DEC), ("ContractedUnitPrice", _DEC), ("EffectiveCost", _DEC),
    ("InvoiceId", _STR), ("InvoiceIssuerName", _STR), ("ListCost", _DEC), ("ListUnitPrice", _DEC),
    ("PricingCategory", _STR), ("PricingCurrency", _STR), ("PricingCurrencyContractedUnitPrice", _DEC),
    ("PricingCurrencyEffectiveCost", _DEC), ("PricingCurrencyListUnitPrice", _DEC),
    ("PricingQuantity", _DEC), ("PricingUnit", _STR), ("ProviderName", _STR), ("PublisherName", _STR),
    ("RegionId", _STR), ("RegionName", _STR), ("ResourceId", _STR), ("ResourceName", _STR),
    ("ResourceType", _STR), ("ServiceCategory", _STR), ("ServiceName", _STR),
    ("ServiceSubcategory", _STR), ("SkuId", _STR), ("SkuMeter", _STR), ("SkuPriceDetails", _STR),
    ("SkuPriceId", _STR), ("SubAccountId", _STR), ("SubAccountName", _STR), ("SubAccountType", _STR),
    ("Tags", _STR),
)  # fmt: skip
EXTRA_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("x_AgentId", _STR), ("x_Owner", _STR), ("x_Team", _STR), ("x_AttributedBy", _STR),
    ("x_ApiKeyId", _STR), ("x_ServiceName", _STR), ("x_Requests", pa.int64()),
    ("x_InputTokens", pa.int64()), ("x_OutputTokens", pa.int64()), ("x_CacheReadTokens", pa.int64()),
    ("x_CacheWriteTokens", pa.int64()), ("x_ReasoningTokens", pa.int64()),
    ("x_UnpricedRequests", pa.int64()), ("x_ProviderReportedCost", _DEC),
)  # fmt: skip
FOCUS_SCHEMA = pa.schema(list(FOCUS_COLUMNS) + list(EXTRA_COLUMNS))

_PROVIDER_NAMES = {
    "openai": "OpenAI", "anthropic": "Anthropic", "google": "Google", "gcp.gemini": "Google",
    "gcp.vertex_ai": "Google", "aws.bedrock": "Amazon Web Services", "azure.ai.openai": "Microsoft",
    "mistral": "Mistral AI", "mistral_ai": "Mistral AI", "cohere": "Cohere", "groq": "Groq",
    "deepseek": "DeepSeek", "x_ai": "xAI", "xai": "xAI",
}  # fmt: skip

def focus_table(
    store,
    identities,
    days: int = 30,
    since: date | None = None,
    until: date | None = None,
    price_notes: list[dict] | None = None,
    now: datetime | None = None,
    billing_account_id: str = "company-brain",
) -> pa.Table:
    """FOCUS rows (FOCUS_SCHEMA) for the last `days` days (or `since`..`until`) of `rollup_daily`, attributed to agents
    exactly as `brain spend` attributes them (its mapping: one agent per usage row)."""
    from brain.costs.attribution import COST_SUM_SQL, attributed_sql, registered
    from brain.costs.window import make_window

    window = make_window(days, since, until, now=now)  # whole UTC days, to today by default
    con = store.con.cursor()
    session(con)
    try:
        con.register(
            "_provider_names",
            pa.table({"id": list(_PROVIDER_NAMES), "display": list(_PROVIDER_NAMES.values())}),
        )
        with registered(store, identities, price_notes or [], con=con) as notes:
            rows = attributed_sql("rollup_daily", "day", "day >= $start AND day < $end", notes)
            sql = _FOCUS_SQL.format(rows=rows, billed=COST_SUM_SQL.replace("cost_", "a.cost_"))
            params = {"start": window.start, "end": window.end, "account": billing_account_id}
            table = con.sql(sql, params=params).to_arrow_table()
    finally:
        con.close()
    cols = [_column(table, f) for f in FOCUS_SCHEMA]
    return pa.Table.from_arrays(cols, schema=FOCUS_SCHEMA)


def _column(table: pa.Table, f: pa.Field) -> pa.Array | pa.ChunkedArray:
    """A FOCUS column from the query's result: decimals rounded to their scale, then cast."""
    if f.name not in table.column_names:
        return pa.nulls(table.num_rows, f.type)
    col = table.column(f.name)
    if pa.types.is_decimal(f.type) and pa.types.is_floating(col.type):
        col = pc.round(col, f.type.scale)
    return col.cast(f.type)


# `{rows}`: `brain.costs.attribution.attributed_sql` rows (costs after price notes, `cost_usd` the list estimate).
_FOCUS_SQL = """
WITH joined AS (
    SELECT a.*, {billed} AS billed_usd, a.cost_usd AS list_usd, i.agent_id, i.name AS agent_name,
           i.owner, i.team
    FROM ({rows}) a LEFT JOIN _ident i ON i.node_id = a.node_id
)
SELECT
    billed_usd AS BilledCost, $account AS BillingAccountId, 'Company Brain' AS BillingAccountName,
    'Organization' AS BillingAccountType, 'USD' AS BillingCurrency,
    date_trunc('month', day) + INTERVAL 1 MONTH AS BillingPeriodEnd,
    date_trunc('month', day) AS BillingPeriodStart,
    'Usage' AS ChargeCategory,
    coalesce(model, 'unknown model') || ' tokens for '
        || coalesce(agent_name, 'unattributed usage') || ' (' || requests || ' requests)'
        AS ChargeDescription,
    'Usage-Based' AS ChargeFrequency,
    day + INTERVAL 1 DAY AS ChargePeriodEnd, day AS ChargePeriodStart,
    CAST(input_tokens + output_tokens AS DOUBLE) AS ConsumedQuantity, 'Tokens' AS ConsumedUnit,
    billed_usd AS ContractedCost, billed_usd AS EffectiveCost,
    provider_name AS InvoiceIssuerName, list_usd AS ListCost,
    'Standard' AS PricingCategory, 'USD' AS PricingCurrency,
    billed_usd AS PricingCurrencyEffectiveCost,
    CAST(input_tokens + output_tokens AS DOUBLE) AS PricingQuantity, 'Tokens' AS PricingUnit,
    provider_name AS ProviderName, provider_name AS PublisherName,
    coalesce(node_id, 'unattributed/' || coalesce(api_key_id, service_name, agent, 'unknown'))
        AS ResourceId,
    coalesce(agent_name, agent, 'unattributed') AS ResourceName, 'AI Agent' AS ResourceType,
    'AI and Machine Learning' AS ServiceCategory, provider_name || ' API' AS ServiceName,
    'Generative AI' AS ServiceSubcategory, model AS SkuId, 'Tokens' AS SkuMeter,
    coalesce(provider, '') || '/' || coalesce(model, '') AS SkuPriceId,
    api_key_id AS SubAccountId, 'API Key' AS SubAccountType,
    to_json({{agent_id: agent_id, owner: owner, team: team, api_key_id: api_key_id,
             service_name: service_name, attributed_by: attributed_by}})::VARCHAR AS Tags,
    agent_id AS x_AgentId, owner AS x_Owner, team AS x_Team, attributed_by AS x_AttributedBy,
    api_key_id AS x_ApiKeyId, service_name AS x_ServiceName, requests AS x_Requests,
    input_tokens AS x_InputTokens, output_tokens AS x_OutputTokens,
    cache_read_tokens AS x_CacheReadTokens, cache_write_tokens AS x_CacheWriteTokens,
    reasoning_tokens AS x_ReasoningTokens, unpriced_requests AS x_UnpricedRequests,
    reported_cost_usd AS x_ProviderReportedCost
FROM (SELECT *, coalesce(_pn.display, provider, 'Unknown') AS provider_name
      FROM joined LEFT JOIN _provider_names _pn ON lower(joined.provider) = _pn.id)
ORDER BY ChargePeriodStart, ResourceId, SkuId
"""


def write_focus(table: pa.Table, out: str | Path | None) -> None:
    """Write FOCUS rows as Parquet (.parquet) or CSV (.csv, or stdout when out is None)."""
    if out is not None and Path(out).suffix.lower() not in (".csv", ".parquet"):
        raise BrainError(f"cannot tell the export format of {out}: use a .csv or .parquet file name")
    try:
        _write_focus(table, out)
    except OSError as exc:  # pyarrow's message repeats itself; the path and the system's reason suffice
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise BrainError(f"cannot write {out or 'standard output'}: {reason}") from exc


def _write_focus(table: pa.Table, out: str | Path | None) -> None:
    if out is not None and Path(out).suffix.lower() == ".parquet":
        pq.write_table(table, out)
        return
    csv_table = table
    for i, f in enumerate(table.schema):
        if pa.types.is_timestamp(f.type):  # ISO 8601 in UTC, as FOCUS DateTime requires
            iso = pc.strftime(table.column(i).cast(pa.timestamp("s", tz="UTC")), format="%Y-%m-%dT%H:%M:%SZ")
            csv_table = csv_table.set_column(i, f.name, iso)
    if out is None:
        pacsv.write_csv(csv_table, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    else:
        pacsv.write_csv(csv_table, out)

