"""OpenAI organization usage (completions) and costs API pages -> canonical events / cost rows.

Usage buckets (`/v1/organization/usage/completions`, any `group_by`) become one event per result
with `requests = num_model_requests`; `input_tokens` already includes `input_cached_tokens`.
When a result has no `api_key_id` its `project_id` stands in, so agent notes may claim either.
Cost buckets (`/v1/organization/costs`) become provider cost rows for reconciliation.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from brain.ingest.sources.export_pages import read_cost_pages, read_usage_pages


def read_openai_usage(path: str | Path) -> pa.Table:
    """Read saved OpenAI completions-usage pages into canonical events (one per bucket result)."""
    return read_usage_pages(
        path,
        "OpenAI usage API pages",
        {
            "start_time": "b ->> 'start_time' IS NULL",
            "input_tokens": "r ->> 'input_tokens' IS NULL",
            "output_tokens": "r ->> 'output_tokens' IS NULL",
            "num_model_requests": "r ->> 'num_model_requests' IS NULL",
        },
        """
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


def read_openai_costs(path: str | Path) -> pa.Table:
    """Read saved OpenAI costs-API pages into provider cost rows (COST_SCHEMA, USD)."""
    return read_cost_pages(
        path,
        "OpenAI costs API pages",
        {"start_time": "b ->> 'start_time' IS NULL", "amount.value": "r -> 'amount' ->> 'value' IS NULL"},
        "r -> 'amount' ->> 'currency'",
        """
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
        """,
    )
