"""The usage store: blank schema, migrations recorded once, transactions roll back."""

from __future__ import annotations

import pytest

from brain.errors import StoreError
from brain.store.database import GROUP_COLUMNS, MIGRATIONS, Store

BLANK_SCHEMA = {
    "anomaly_acks": ["anomaly_id", "status", "note", "acked_at"],
    "alert_deliveries": [
        "key", "channel", "kind", "ref", "severity", "title", "body", "status", "attempts",
        "first_attempt_at", "last_attempt_at", "next_attempt_at", "error", "sent_at", "digest_key",
        "created_at",
    ],
    "events": [
        "timestamp", "agent", "api_key_id", "service_name", "provider", "model",
        "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
        "reasoning_tokens", "requests", "run_id", "request_id", "status", "cost_usd",
        "event_id", "cost_est_usd", "price_id", "source_file", "source_line", "ingest_id",
        "bucketed",
    ],
    "ingests": ["ingest_id", "started_at", "sources", "accepted", "duplicates", "quarantined", "replaced"],
    "price_models": [
        "provider", "model", "status", "matched_provider", "matched_model", "detail",
        "genai_prices_version",
    ],
    "price_table": [
        "price_id", "provider", "model", "day_from", "day_to", "tod_from_us", "tod_to_us",
        "band_lo", "band_hi", "p_input", "p_cache_read", "p_cache_write", "p_output",
        "p_reasoning", "p_request", "cache_read_split", "cache_write_split", "reasoning_split",
    ],
    "quarantine": ["ingest_id", "source_file", "source_line", "reason", "raw", "quarantined_at"],
    "schema_migrations": ["name", "applied_at"],
}
ROLLUP = [
    "agent", "api_key_id", "service_name", "provider", "model", "requests", "error_requests",
    "runs", "events", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
    "reasoning_tokens", "cost_input_usd", "cost_cache_read_usd", "cost_cache_write_usd",
    "cost_output_usd", "cost_reasoning_usd", "cost_request_usd", "cost_usd",
    "unpriced_requests", "unpriced_tokens", "reported_cost_usd", "input_tokens_p95",
    "output_tokens_p95",
]
BLANK_SCHEMA["rollup_hourly"] = ["hour", *ROLLUP, "agent_runs"]
BLANK_SCHEMA["rollup_daily"] = ["day", *ROLLUP[:-2], "agent_runs"]  # token p95s are hourly only


def _schema(store: Store) -> dict[str, list[str]]:
    rows = store.con.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position"
    ).fetchall()
    out: dict[str, list[str]] = {}
    for table, column in rows:
        out.setdefault(table, []).append(column)
    return out


def test_blank_store_has_the_documented_schema(tmp_path):
    store = Store(tmp_path / "deep" / "folder" / "usage.duckdb")
    assert _schema(store) == BLANK_SCHEMA
    assert store.applied_migrations() == [name for name, _ in MIGRATIONS]
    types = dict(store.con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'anomaly_acks'"
    ).fetchall())
    assert types == {"anomaly_id": "VARCHAR", "status": "VARCHAR", "note": "VARCHAR",
                     "acked_at": "TIMESTAMP WITH TIME ZONE"}


def test_reopening_applies_no_migration_twice(tmp_path):
    path = tmp_path / "u.duckdb"
    Store(path).close()
    store = Store(path)
    assert store.pending_migrations() == []
    assert store.con.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == len(MIGRATIONS)


def test_read_only_store_must_exist(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        Store(tmp_path / "missing.duckdb", read_only=True)
    Store(tmp_path / "u.duckdb").close()
    ro = Store(tmp_path / "u.duckdb", read_only=True)
    assert ro.con.execute("SELECT count(*) FROM events").fetchone()[0] == 0


def test_transaction_rolls_back_on_error(tmp_path):
    store = Store(tmp_path / "u.duckdb")
    with pytest.raises(RuntimeError), store.transaction() as con:
        con.execute("INSERT INTO anomaly_acks VALUES ('a', 'ack', NULL, now())")
        raise RuntimeError("boom")
    assert store.con.execute("SELECT count(*) FROM anomaly_acks").fetchone()[0] == 0


@pytest.mark.e2e
def test_store_connections_draw_no_progress_bar(tmp_path):
    # With a terminal on stdin DuckDB turns on its own progress bar, drawn on stdout for any
    # statement past 2 s: `brain ingest --json big.parquet > out.json` got it inside its JSON.
    import pty
    import subprocess
    import sys

    code = f"""import duckdb
from brain.store.database import Store
ask = "SELECT current_setting('enable_progress_bar')"
Store({str(tmp_path / "u.duckdb")!r}).close()
print(duckdb.connect().execute(ask).fetchone()[0])
print(Store({str(tmp_path / "u.duckdb")!r}).con.execute(ask).fetchone()[0])
print(Store({str(tmp_path / "u.duckdb")!r}, read_only=True).con.execute(ask).fetchone()[0])
print(Store({str(tmp_path / "u.duckdb")!r}, con=duckdb.connect()).con.execute(ask).fetchone()[0])"""
    try:
        _, terminal = pty.openpty()
    except OSError as exc:  # no pseudo-terminals on this machine
        pytest.skip(f"no pty: {exc}")
    out = subprocess.run([sys.executable, "-c", code], stdin=terminal, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False", "False", "False"]  # a plain connection has it on


def test_unopenable_store_is_a_store_error(tmp_path):
    bad = tmp_path / "not-a-db.duckdb"
    bad.write_text("this is not duckdb")
    with pytest.raises(StoreError, match=r"cannot open usage store .*not-a-db\.duckdb.*not a valid DuckDB database file"):
        Store(bad)


def _old_store(path, migrations: int):
    """A store file as an older version left it: the first `migrations` migrations applied."""
    import duckdb

    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)")
    for name, fn in MIGRATIONS[:migrations]:
        fn(con)
        con.execute("INSERT INTO schema_migrations VALUES (?, now())", [name])
    return con


def test_migration_marks_existing_export_buckets_as_bucketed(tmp_path):
    path = tmp_path / "old.duckdb"
    con = _old_store(path, 5)
    con.execute(
        "INSERT INTO events (timestamp, model, event_id, ingest_id) VALUES "
        "(now(), 'gpt-4o', 'openai-usage:1:2:key_a::gpt-4o:::', 1), (now(), 'gpt-4o', 'req_1', 1)"
    )
    con.execute("INSERT INTO ingests VALUES (1, now(), ['x'], 2, 0, 0)")
    con.close()
    store = Store(path)
    assert store.con.execute("SELECT event_id, bucketed FROM events ORDER BY event_id").fetchall() == [
        ("openai-usage:1:2:key_a::gpt-4o:::", True), ("req_1", False)]
    assert store.con.execute("SELECT replaced FROM ingests").fetchall() == [(0,)]
    store.close()


def test_events_stored_before_0007_keep_deduplicating_by_request_id(tmp_path):
    # Before 0007 event_id repeated request_id; after it, event_id is NULL when there is a request
    # id. Both forms give the same key, so a re-sent request stays a duplicate.
    import pyarrow as pa

    from brain.ingest import ingest_table

    path = tmp_path / "old.duckdb"
    con = _old_store(path, 6)
    con.execute(
        "INSERT INTO events (timestamp, model, request_id, event_id, ingest_id, requests, input_tokens) "
        "VALUES ('2025-03-01 10:00:00+00', 'gpt-4o', 'req_1', 'req_1', 1, 1, 5)"
    )
    con.execute("INSERT INTO ingests VALUES (1, now(), ['x'], 1, 0, 0, 0)")
    con.close()
    store = Store(path)
    assert "input_tokens_p95" not in [c for (c,) in store.con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'rollup_daily'").fetchall()]
    row = {"timestamp": "2025-03-01T10:00:00Z", "model": "gpt-4o", "input_tokens": 5}
    report = ingest_table(store, pa.Table.from_pylist([{**row, "request_id": "req_1"}, {**row, "request_id": "req_2"}]), "t")
    assert (report.accepted, report.duplicates) == (1, 1)
    assert store.con.execute("SELECT request_id, event_id FROM events ORDER BY 1").fetchall() == [
        ("req_1", "req_1"), ("req_2", None)]
    store.close()


def _old_rollups(con, table: str, bucket: str) -> None:
    """Rollup rows as the ingest before 0008 wrote them: runs per (bucket, attribution, model), the
    other measures zero (the migration reads only the events and the rows' keys)."""
    columns = [c for (c,) in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
        [table]).fetchall()]
    exprs = {bucket: f"date_trunc('{bucket}', timestamp)", **{a: a for a in GROUP_COLUMNS},
             "runs": "count(DISTINCT run_id) + coalesce(sum(requests) FILTER (WHERE run_id IS NULL), 0)"}
    picks = ", ".join(f"{exprs.get(c, '0')} AS {c}" for c in columns)
    con.execute(f"INSERT INTO {table} SELECT {picks} FROM events WHERE ingest_id > 0 GROUP BY ALL")


@pytest.mark.e2e
def test_migration_0008_fills_agent_runs_of_existing_rollups_from_the_events(tmp_path):
    # A run on two models of one agent counted in each model's `runs`; `agent_runs` counts it once
    # per bucket and (agent, key, service), on the row with the smallest (provider, model).
    import pyarrow as pa

    from brain.ingest import ingest_table

    path = tmp_path / "old.duckdb"
    con = _old_store(path, 7)
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        """INSERT INTO events (timestamp, agent, api_key_id, provider, model, requests, run_id, request_id, ingest_id)
        VALUES ('2025-03-01 10:00:00+00', 'a', NULL, 'openai', 'gpt-4o', 1, 'R1', 'q1', 1),
               ('2025-03-01 10:00:05+00', 'a', NULL, 'anthropic', 'claude-3-5-haiku', 1, 'R1', 'q2', 1),
               ('2025-03-01 10:10:00+00', 'a', NULL, NULL, 'in-house-7b', 3, NULL, 'q3', 1),
               ('2025-03-01 10:20:00+00', 'a', 'key_2', 'openai', 'gpt-4o', 1, 'R1', 'q4', 1),
               ('2025-03-01 23:59:00+00', 'a', NULL, 'openai', 'gpt-4o', 1, 'R2', 'q5', 1),
               ('2025-03-02 00:01:00+00', 'a', NULL, 'openai', 'gpt-4o', 1, 'R2', 'q6', 1),
               ('2025-03-01 10:30:00+00', 'a', NULL, 'openai', 'gpt-4o', 1, 'R9', 'q7', -2)"""
    )  # q7: a row its ingest did not keep
    con.execute("UPDATE events SET input_tokens = 1, output_tokens = 0, cache_read_tokens = 0, "
                "cache_write_tokens = 0, reasoning_tokens = 0, status = 'ok'")
    con.execute("INSERT INTO ingests VALUES (1, now(), ['x'], 6, 0, 0, 0)")
    _old_rollups(con, "rollup_hourly", "hour")
    _old_rollups(con, "rollup_daily", "day")
    con.close()
    store = Store(path)
    q = ("SELECT strftime({b}, '%d %H'), api_key_id, provider, model, runs, agent_runs FROM {t} "
         "ORDER BY 1, 2 NULLS FIRST, 3 NULLS FIRST, 4")
    assert store.con.execute(q.format(b="hour", t="rollup_hourly")).fetchall() == [
        ("01 10", None, None, "in-house-7b", 3, 4),  # R1 and 3 requests without a run id
        ("01 10", None, "anthropic", "claude-3-5-haiku", 1, 0),
        ("01 10", None, "openai", "gpt-4o", 1, 0),
        ("01 10", "key_2", "openai", "gpt-4o", 1, 1),
        ("01 23", None, "openai", "gpt-4o", 1, 1),
        ("02 00", None, "openai", "gpt-4o", 1, 1)]
    assert store.con.execute(q.format(b="day", t="rollup_daily")).fetchall() == [
        ("01 00", None, None, "in-house-7b", 3, 5),  # R1, R2 and the 3 requests
        ("01 00", None, "anthropic", "claude-3-5-haiku", 1, 0),
        ("01 00", None, "openai", "gpt-4o", 2, 0),
        ("01 00", "key_2", "openai", "gpt-4o", 1, 1),
        ("02 00", None, "openai", "gpt-4o", 1, 1)]
    # a later ingest into a migrated bucket recomputes it as any other
    row = {"timestamp": "2025-03-01T10:40:00Z", "agent": "a", "provider": "openai", "model": "gpt-4o",
           "input_tokens": 1, "run_id": "R3", "request_id": "q8"}
    ingest_table(store, pa.Table.from_pylist([row]), "t")
    assert store.con.execute(
        "SELECT model, runs, agent_runs FROM rollup_hourly WHERE hour = '2025-03-01 10:00:00+00' AND api_key_id IS NULL "
        "ORDER BY provider NULLS FIRST").fetchall() == [("in-house-7b", 3, 5), ("claude-3-5-haiku", 1, 0), ("gpt-4o", 2, 0)]
    store.close()
