"""Fixtures of the lake tests: one Spark session for the whole run (the JVM takes ~20 s to start),
a generated event set with what the rollups must get right, and row-by-row comparison of two sets
of rollups. `generate_events` is a plain function too: tests/benchmarks/bench_lake.py uses it."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

# (provider, model): list prices, tiers (Sonnet's long context), cache, reasoning, a model
# genai-prices does not know (unpriced), a provider given in another case and one not given.
MODELS = (
    ("openai", "gpt-4.1-mini"),
    ("openai", "gpt-4o"),
    ("openai", "o3"),
    ("anthropic", "claude-sonnet-4-5-20250929"),
    ("Anthropic", "claude-3-5-haiku-latest"),
    ("google", "gemini-2.5-flash"),
    (None, "gpt-4o-mini"),
    ("selfhosted", "in-house-13b"),
)
AGENTS = 60

SPARK_HOW_TO = (
    "the Spark tests need pyspark and Java 17+: `python3 run.py test` installs both on a fresh machine "
    "(pyspark with the test extra; openjdk-17-jre-headless with apt-get when run as root), else "
    "`pip install pyspark` and `apt-get install openjdk-17-jre-headless` (or set JAVA_HOME)"
)


def generate_events(path: Path, rows: int, now: datetime, days: int = 14, seed: int = 1, duplicates_every: int = 97) -> Path:
    """Write `rows` canonical events (plus a re-sent copy of every `duplicates_every`-th, in the same
    file) as Parquet at `path`, spread over the `days` before `now`, with DuckDB SQL.

    Agents call several models within one run (agent_runs), some calls carry no run id or no
    request id (content-hash dedupe), some are provider buckets of many requests, some errors,
    some have a reported cost, a key with no agent, a service name only, an unknown model."""
    start = now - timedelta(days=days)
    span_us = days * 86_400_000_000 - 3_600_000_000
    providers = "[" + ", ".join("NULL" if p is None else f"'{p}'" for p, _ in MODELS) + "]"
    models = "[" + ", ".join(f"'{m}'" for _, m in MODELS) + "]"
    sql = f"""
    SELECT "timestamp", agent, api_key_id, service_name, provider, model, input_tokens, output_tokens,
        cache_read_tokens, cache_write_tokens, reasoning_tokens, requests, run_id, request_id, status, cost_usd
    FROM (
      SELECT i,
        TIMESTAMPTZ '{start.isoformat()}' + to_microseconds(((i::HUGEINT * {span_us}) // {rows})::BIGINT
            + (hash(i, {seed}, 9) % 600000000)::BIGINT) AS "timestamp",
        CASE WHEN a % 10 = 9 THEN NULL ELSE 'agent-' || a END AS agent,
        CASE WHEN a % 7 = 3 THEN NULL ELSE 'key_' || (a % 45) END AS api_key_id,
        CASE WHEN a % 5 = 0 THEN 'svc-' || (a % 8) END AS service_name,
        {providers}[1 + m] AS provider, {models}[1 + m] AS model,
        inp AS input_tokens, outp AS output_tokens,
        CASE WHEN hash(i, {seed}, 5) % 3 = 0 THEN inp // 2 ELSE 0 END AS cache_read_tokens,
        CASE WHEN hash(i, {seed}, 6) % 10 = 0 THEN inp // 5 ELSE 0 END AS cache_write_tokens,
        CASE WHEN m IN (2, 5) THEN outp // 3 ELSE 0 END AS reasoning_tokens,
        CASE WHEN hash(i, {seed}, 10) % 50 = 0 THEN 1 + hash(i, {seed}, 11) % 40 ELSE 1 END AS requests,
        CASE WHEN hash(i, {seed}, 12) % 12 = 0 THEN NULL ELSE 'run-' || a || '-' || (i // {4 * AGENTS}) END AS run_id,
        CASE WHEN hash(i, {seed}, 13) % 8 = 0 THEN NULL ELSE 'req_{seed}_' || i END AS request_id,
        CASE WHEN hash(i, {seed}, 7) % 60 = 0 THEN 'error' WHEN hash(i, {seed}, 7) % 60 = 1 THEN 'Success' ELSE 'ok' END AS status,
        CASE WHEN hash(i, {seed}, 14) % 4 = 0 THEN round(inp * 0.000001, 6) END AS cost_usd
      FROM (
        SELECT i, (hash(i, {seed}, 1) % {AGENTS})::INTEGER AS a,
          (((hash(i, {seed}, 1) % {AGENTS}) * 3 + CASE WHEN hash(i, {seed}, 2) % 10 < 7 THEN 0 ELSE hash(i, {seed}, 2) % 3 END)
              % {len(MODELS)})::INTEGER AS m,
          (200 + hash(i, {seed}, 3) % 8000 + CASE WHEN hash(i, {seed}, 4) % 200 = 0 THEN 250000 ELSE 0 END)::BIGINT AS inp,
          (20 + hash(i, {seed}, 8) % 1500)::BIGINT AS outp
        FROM range({rows}) t(i)
      )
    ), (SELECT unnest(CASE WHEN i % {duplicates_every} = 0 THEN [1, 2] ELSE [1] END))"""
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"COPY ({sql}) TO '{path}' (FORMAT parquet, COMPRESSION zstd)")
    finally:
        con.close()
    return path


def compare_rollups(a: str, b: str) -> dict:
    """Compare two sets of rollup rows: a usage store's (a `.duckdb` path) or a rollups folder's. Returns per table
    the rows on each side, rows on one side only, and per column the largest difference (floats)
    or the count of differing rows (integers); token p95s as a relative difference."""
    from brain.lake.layout import rollup_columns

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    out = {}
    try:
        for table, folder, bucket in (("rollup_hourly", "hourly", "hour"), ("rollup_daily", "daily", "day")):
            for side, src in (("x", str(a)), ("y", str(b))):
                if src.endswith(".duckdb"):
                    if table == "rollup_hourly":
                        con.execute(f"ATTACH '{src}' AS db_{side} (READ_ONLY)")
                    rel = f"db_{side}.{table}"
                else:
                    rel = f"read_parquet('{src}/{folder}/*/*.parquet', hive_partitioning = false)"
                con.execute(f"CREATE OR REPLACE TABLE {side} AS SELECT * FROM {rel}")
            keys = [bucket, "agent", "api_key_id", "service_name", "provider", "model"]
            on = " AND ".join(f"x.{k} IS NOT DISTINCT FROM y.{k}" for k in keys)
            n_x, n_y = con.execute("SELECT (SELECT count(*) FROM x), (SELECT count(*) FROM y)").fetchone()
            one_side = con.execute(f"SELECT count(*) FROM x FULL JOIN y ON {on} WHERE x.{bucket} IS NULL OR y.{bucket} IS NULL").fetchone()[0]
            cols = {}
            for c, t in rollup_columns(table):
                if c in keys:
                    continue
                if c.endswith("_p95"):
                    sql = f"max(abs(x.{c} - y.{c}) / greatest(abs(x.{c}), 1e-300))"
                elif t == "DOUBLE":
                    sql = f"max(abs(x.{c} - y.{c}))"
                else:
                    sql = f"count(*) FILTER (WHERE x.{c} IS DISTINCT FROM y.{c})"
                nulls = f"count(*) FILTER (WHERE (x.{c} IS NULL) <> (y.{c} IS NULL))"
                value, null_mismatch = con.execute(f"SELECT {sql}, {nulls} FROM x JOIN y ON {on}").fetchone()
                cols[c] = (value or 0) if not null_mismatch else float("inf")
            out[table] = {"rows": (n_x, n_y), "one_side": one_side, "columns": cols}
    finally:
        con.close()
    return out


def assert_same_rollups(result: dict) -> None:
    """Every row on both sides; counts exact, costs to 1e-9 USD, token p95s to 1e-12 relative
    (DuckDB's quantile_cont rounds its interpolation in extended precision: at most 1 ulp off)."""
    for table, r in result.items():
        assert r["rows"][0] == r["rows"][1] and r["one_side"] == 0, (table, r["rows"], r["one_side"])
        for c, diff in r["columns"].items():
            limit = 1e-12 if c.endswith("_p95") else 1e-9 if "usd" in c else 0
            assert diff <= limit, (table, c, diff)


@pytest.fixture(scope="session")
def events_file():
    """events_file(path, rows, now, ...) -> path: generated canonical events (generate_events)."""
    return generate_events


@pytest.fixture(scope="session")
def same_rollups():
    """same_rollups(a, b): assert two sets of rollups equal row by row (compare_rollups)."""
    return lambda a, b: assert_same_rollups(compare_rollups(a, b))


def _java_ok() -> bool:
    java = shutil.which("java") or (Path(os.environ["JAVA_HOME"]) / "bin" / "java" if os.environ.get("JAVA_HOME") else None)
    if not java:
        return False
    try:
        return subprocess.run([str(java), "-version"], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    """The one Spark session of the run (local[2], 2 GB), or a skip that says how to enable Spark."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        pytest.skip(SPARK_HOW_TO)
    if not _java_ok():
        pytest.skip(SPARK_HOW_TO)
    from brain.lake.spark_job import session

    os.environ.setdefault("SPARK_LOCAL_DIRS", str(tmp_path_factory.mktemp("spark-local")))
    s = session("local[2]", memory="2g")
    s.sparkContext.setLogLevel("ERROR")
    yield s
    s.stop()
