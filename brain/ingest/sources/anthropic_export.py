"""Anthropic Admin API usage report (messages) and cost report -> canonical events / cost rows.

Anthropic reports input parts disjoint: `uncached_input_tokens`, `cache_read_input_tokens` and
`cache_creation.ephemeral_5m_input_tokens` / `ephemeral_1h_input_tokens` are added into the
canonical (inclusive) `input_tokens`. Cost report amounts are decimal strings in cents.

The usage report carries no request counts, but pricing picks a model's long-context tier from
the average input per request, so `requests` is the fewest requests the result's
`context_window` allows (`_REQUESTS`): a "0-200k" result (or one not grouped by window) holds at
least one request per 200k input tokens and is priced at the base tier; a longer window (">200k",
"200k-1M") counts as one request, priced at the long-context tier. It is a lower bound, not a count.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from brain.errors import IngestError
from brain.ingest.sources.export_pages import read_cost_pages, read_usage_pages

_CACHE_5M = (
    "coalesce(CAST(r -> 'cache_creation' ->> 'ephemeral_5m_input_tokens' AS BIGINT), "
    "CAST(r ->> 'cache_creation_5m_input_tokens' AS BIGINT), 0)"
)
_CACHE_1H = (
    "coalesce(CAST(r -> 'cache_creation' ->> 'ephemeral_1h_input_tokens' AS BIGINT), "
    "CAST(r ->> 'cache_creation_1h_input_tokens' AS BIGINT), 0)"
)
_UNCACHED = "coalesce(CAST(r ->> 'uncached_input_tokens' AS BIGINT), 0)"
_CACHE_READ = "coalesce(CAST(r ->> 'cache_read_input_tokens' AS BIGINT), 0)"
_OUTPUT = "coalesce(CAST(r ->> 'output_tokens' AS BIGINT), 0)"
_INPUT = f"({_UNCACHED} + {_CACHE_READ} + {_CACHE_5M} + {_CACHE_1H})"
# The upper bound in tokens of a window "0-<n>k" (200k when the result is not grouped by window,
# the standard window: longer ones need the 1M-context beta); NULL for a window beyond it.
_WINDOW_MAX = (
    "CASE WHEN r ->> 'context_window' IS NULL THEN 200000 "
    "ELSE 1000 * TRY_CAST(regexp_extract(r ->> 'context_window', '^0-([0-9]+)k$', 1) AS BIGINT) END"
)
# The fewest requests that keep the average input within the window (see the module docstring).
_REQUESTS = f"CAST(greatest(1, coalesce(ceil({_INPUT} / ({_WINDOW_MAX})), 1)) AS BIGINT)"


def read_anthropic_usage(path: str | Path) -> pa.Table:
    """Read saved Anthropic messages usage-report pages into canonical events (one per result)."""
    return read_usage_pages(
        path,
        "Anthropic usage report pages",
        {
            "starting_at": "b ->> 'starting_at' IS NULL",
            "uncached_input_tokens": "r ->> 'uncached_input_tokens' IS NULL",
            "output_tokens": "r ->> 'output_tokens' IS NULL",
        },
        f"""
        SELECT CAST(b ->> 'starting_at' AS TIMESTAMPTZ) AS timestamp,
               NULL AS agent,
               coalesce(r ->> 'api_key_id', r ->> 'workspace_id') AS api_key_id,
               'anthropic' AS provider,
               r ->> 'model' AS model,
               {_INPUT} AS input_tokens,
               {_OUTPUT} AS output_tokens,
               {_CACHE_READ} AS cache_read_tokens,
               {_CACHE_5M} + {_CACHE_1H} AS cache_write_tokens,
               0 AS reasoning_tokens,
               {_REQUESTS} AS requests,
               concat_ws(':', 'anthropic-usage', b ->> 'starting_at', b ->> 'ending_at',
                         coalesce(r ->> 'api_key_id', ''), coalesce(r ->> 'workspace_id', ''),
                         coalesce(r ->> 'model', ''), coalesce(r ->> 'service_tier', ''),
                         coalesce(r ->> 'context_window', ''), coalesce(r ->> 'account_id', ''),
                         coalesce(r ->> 'inference_geo', ''))
                   AS request_id,
               'ok' AS status
        FROM results
        WHERE {_UNCACHED} + {_CACHE_READ} + {_CACHE_5M} + {_CACHE_1H} + {_OUTPUT} > 0
        ORDER BY timestamp
        """,
    )


def _amounts_are_decimal(con, path: Path, cte: str) -> None:
    """Refuse a cost amount that is not a decimal number (Anthropic sends cents as strings)."""
    bad = con.sql(
        cte + "SELECT r ->> 'amount' FROM results WHERE TRY_CAST(r ->> 'amount' AS DECIMAL(38, 9)) IS NULL LIMIT 1"
    ).fetchall()
    if bad:
        raise IngestError(f"{path}: cost amount {bad[0][0]!r} is not a decimal number of cents")


def read_anthropic_costs(path: str | Path) -> pa.Table:
    """Read saved Anthropic cost-report pages into provider cost rows (COST_SCHEMA, USD)."""
    return read_cost_pages(
        path,
        "Anthropic cost report pages",
        {"starting_at": "b ->> 'starting_at' IS NULL", "amount": "r ->> 'amount' IS NULL"},
        "r ->> 'currency'",
        """
        SELECT CAST(CAST(b ->> 'starting_at' AS TIMESTAMPTZ) AS DATE) AS day,
               'anthropic' AS provider,
               r ->> 'model' AS model,
               coalesce(r ->> 'description', r ->> 'cost_type') AS line_item,
               r ->> 'workspace_id' AS account_id,
               CAST(CAST(r ->> 'amount' AS DECIMAL(38, 9)) / 100 AS DOUBLE) AS amount_usd,
               'USD' AS currency,
               concat_ws(':', 'anthropic-costs', b ->> 'starting_at',
                         coalesce(r ->> 'workspace_id', ''), coalesce(r ->> 'description', ''),
                         coalesce(r ->> 'cost_type', ''), coalesce(r ->> 'model', ''),
                         coalesce(r ->> 'token_type', ''), coalesce(r ->> 'service_tier', ''),
                         coalesce(r ->> 'context_window', ''), coalesce(r ->> 'inference_geo', ''))
                   AS row_key
        FROM results
        """,
        check=_amounts_are_decimal,
    )
