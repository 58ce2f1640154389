"""LiteLLM proxy spend logs (`LiteLLM_SpendLogs` rows exported as CSV, JSON or JSONL) -> canonical events.

LiteLLM reports `prompt_tokens` OpenAI-style (cache reads included); cache and reasoning parts
come from `metadata.usage_object` when present. `spend` is kept as the reported `cost_usd`,
`api_key` (LiteLLM's hashed virtual key) as the attribution key id, `agent_id` as the agent.

Token counts and spend are handed over as written: a column with a value that does not fit its
canonical type (`abc`, `1000.7`, an overflowing count, `spend` = `n/a`) comes as text, so that
ingest's validation (`canonical.validated_select`) quarantines those rows with its reasons
(non-numeric, non-integer, implausible, invalid cost_usd) and keeps the rest.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from brain.errors import IngestError
from brain.ingest.conform import conform, json_doc_sql
from brain.ingest.sources.export_pages import connect

_COLUMNS = (
    "request_id", "api_key", "spend", "prompt_tokens", "completion_tokens", "total_tokens",
    "model", "model_group", "custom_llm_provider", "startTime", "endTime", "metadata",
    "request_tags", "status", "session_id", "agent_id", "team_id", "user", "end_user", "call_type",
)  # fmt: skip
_REQUIRED = ("request_id", "startTime", "model")


def _source_relation(con: duckdb.DuckDBPyConnection, path: Path) -> str:
    """Create view `logs` with every known column as VARCHAR (NULL when the export lacks it)."""
    quoted = "'" + str(path).replace("'", "''") + "'"
    if path.suffix.lower() == ".csv":
        con.execute(f"CREATE VIEW raw AS SELECT * FROM read_csv({quoted}, all_varchar = true, header = true)")
        present = {r[0] for r in con.sql("DESCRIBE raw").fetchall()}
        cols = [f'"{c}" AS "{c}"' if c in present else f'NULL::VARCHAR AS "{c}"' for c in _COLUMNS]
    else:
        con.execute(f"CREATE VIEW raw AS SELECT json AS j FROM {json_doc_sql(path)}")
        present = {
            k
            for (keys,) in con.sql("SELECT DISTINCT json_keys(j) FROM raw LIMIT 1000").fetchall()
            for k in keys or []
        }
        cols = [f"j ->> '{c}' AS \"{c}\"" for c in _COLUMNS]
    missing = [c for c in _REQUIRED if c not in present]
    if not ({"prompt_tokens", "spend"} & present):
        missing.append("prompt_tokens or spend")
    if missing:
        raise IngestError(f"{path}: not a LiteLLM spend log: missing column(s) {', '.join(missing)}")
    con.execute(f"CREATE VIEW logs AS SELECT {', '.join(cols)} FROM raw")
    return "logs"


def _text(sql: str) -> str:
    return f"nullif(trim(({sql})::VARCHAR), '')"


def _count(sql: str) -> str:  # a token count as written; 0 when not reported
    return f"coalesce({_text(sql)}, '0')"


def read_litellm_spend_logs(path: str | Path) -> pa.Table:
    """Read a LiteLLM_SpendLogs export (CSV, JSON array or JSONL) into canonical events."""
    path = Path(path)
    con = connect()
    try:
        _source_relation(con, path)
        bad = con.sql(
            "SELECT row_number() OVER () AS n, \"startTime\" FROM logs "
            "QUALIFY TRY_CAST(\"startTime\" AS TIMESTAMPTZ) IS NULL LIMIT 1"
        ).fetchall()
        if bad:
            raise IngestError(f"{path}: row {bad[0][0]}: startTime {bad[0][1]!r} is not a timestamp")
        usage = "TRY_CAST(metadata AS JSON) -> 'usage_object'"
        cache_read = _count(
            f"coalesce({usage} -> 'prompt_tokens_details' ->> 'cached_tokens', "
            f"{usage} ->> 'cache_read_input_tokens')"
        )
        cache_write = _count(f"{usage} ->> 'cache_creation_input_tokens'")
        reasoning = _count(f"{usage} -> 'completion_tokens_details' ->> 'reasoning_tokens'")
        prompt = _count("prompt_tokens")
        # cache parts reported disjoint (Anthropic style) are added in, when all three are whole numbers
        p, r, w = (f"TRY_CAST({x} AS HUGEINT)" for x in (prompt, cache_read, cache_write))
        whole = f"{p} IS NOT NULL AND {r} IS NOT NULL AND {w} IS NOT NULL"
        parts, inclusive = f"{p} < {r} + {w}", f"({p} + {r} + {w})::VARCHAR"
        table = con.sql(
            f"""
            SELECT CAST("startTime" AS TIMESTAMPTZ) AS timestamp,
                   coalesce(nullif(agent_id, ''),
                            TRY_CAST(metadata AS JSON) ->> 'agent_id') AS agent,
                   nullif(api_key, '') AS api_key_id,
                   nullif(custom_llm_provider, '') AS provider,
                   CASE WHEN nullif(custom_llm_provider, '') IS NOT NULL
                             AND starts_with(model, custom_llm_provider || '/')
                        THEN substr(model, length(custom_llm_provider) + 2) ELSE model END AS model,
                   CASE WHEN {whole} AND {parts} THEN {inclusive} ELSE {prompt} END AS input_tokens,
                   {_count("completion_tokens")} AS output_tokens,
                   {cache_read} AS cache_read_tokens,
                   {cache_write} AS cache_write_tokens,
                   {reasoning} AS reasoning_tokens,
                   1 AS requests,
                   nullif(session_id, '') AS run_id,
                   request_id,
                   CASE WHEN lower(coalesce(status, 'success')) IN ('failure', 'error', 'failed')
                        THEN 'error' ELSE 'ok' END AS status,
                   {_text("spend")} AS cost_usd
            FROM logs
            ORDER BY timestamp
            """
        ).to_arrow_table()
        return conform(table, unfit_as_text=True)
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0]
        raise IngestError(f"{path}: not a readable LiteLLM spend log ({first})") from exc
    finally:
        con.close()
