"""DuckDB usage store: schema by ordered named migrations, one connection, transactions."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import duckdb
import pyarrow as pa

from brain.errors import StoreError, StoreNeedsMigration

log = logging.getLogger(__name__)

# Canonical event columns (DESIGN "The usage store") and their stored types.
CANONICAL_COLUMNS: tuple[tuple[str, str], ...] = (
    ("timestamp", "TIMESTAMPTZ"),
    ("agent", "VARCHAR"),
    ("api_key_id", "VARCHAR"),
    ("service_name", "VARCHAR"),
    ("provider", "VARCHAR"),
    ("model", "VARCHAR"),
    ("input_tokens", "BIGINT"),
    ("output_tokens", "BIGINT"),
    ("cache_read_tokens", "BIGINT"),
    ("cache_write_tokens", "BIGINT"),
    ("reasoning_tokens", "BIGINT"),
    ("requests", "BIGINT"),
    ("run_id", "VARCHAR"),
    ("request_id", "VARCHAR"),
    ("status", "VARCHAR"),
    ("cost_usd", "DOUBLE"),
)
TOKEN_COLUMNS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)
GROUP_COLUMNS = ("agent", "api_key_id", "service_name", "provider", "model")
# The columns usage is attributed to an agent by (`brain.costs.attribution`): a rollup's `agent_runs` counts
# runs per bucket and these columns, on the group's first (provider, model) row.
ATTRIBUTION_COLUMNS = GROUP_COLUMNS[:3]
# Events an ingest kept (alias `{e}`). Rows it stored but does not keep (untrusted, duplicates)
# carry the negated ingest id until just after its commit (see `brain.ingest`); readers skip them.
KEPT_EVENT_SQL = "{e}.ingest_id > 0"
# The dedupe key of an event (alias `{e}`): its request id, else the content hash in `event_id`.
EVENT_KEY_SQL = "coalesce({e}.event_id, {e}.request_id)"


def _rollup_ddl(table: str, bucket: str) -> str:
    return f"""
    CREATE TABLE {table} (
        {bucket} TIMESTAMPTZ NOT NULL,
        agent VARCHAR, api_key_id VARCHAR, service_name VARCHAR, provider VARCHAR, model VARCHAR,
        requests BIGINT NOT NULL, error_requests BIGINT NOT NULL, runs BIGINT NOT NULL,
        events BIGINT NOT NULL,
        input_tokens BIGINT NOT NULL, output_tokens BIGINT NOT NULL,
        cache_read_tokens BIGINT NOT NULL, cache_write_tokens BIGINT NOT NULL,
        reasoning_tokens BIGINT NOT NULL,
        cost_input_usd DOUBLE NOT NULL, cost_cache_read_usd DOUBLE NOT NULL,
        cost_cache_write_usd DOUBLE NOT NULL, cost_output_usd DOUBLE NOT NULL,
        cost_reasoning_usd DOUBLE NOT NULL, cost_request_usd DOUBLE NOT NULL,
        cost_usd DOUBLE NOT NULL,
        unpriced_requests BIGINT NOT NULL, unpriced_tokens BIGINT NOT NULL,
        reported_cost_usd DOUBLE,
        input_tokens_p95 DOUBLE, output_tokens_p95 DOUBLE
    )"""


def _m0001_events(con: duckdb.DuckDBPyConnection) -> None:
    cols = ",\n".join(f"{name} {typ}" for name, typ in CANONICAL_COLUMNS)
    con.execute(
        f"""CREATE TABLE events (
        {cols},
        event_id VARCHAR NOT NULL,
        cost_est_usd DOUBLE,
        price_id INTEGER,
        source_file VARCHAR,
        source_line BIGINT,
        ingest_id BIGINT NOT NULL
    )"""
    )


def _m0002_ingests_quarantine(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """CREATE TABLE ingests (
        ingest_id BIGINT PRIMARY KEY,
        started_at TIMESTAMPTZ NOT NULL,
        sources VARCHAR[] NOT NULL,
        accepted BIGINT NOT NULL,
        duplicates BIGINT NOT NULL,
        quarantined BIGINT NOT NULL
    )"""
    )
    con.execute(
        """CREATE TABLE quarantine (
        ingest_id BIGINT NOT NULL,
        source_file VARCHAR NOT NULL,
        source_line BIGINT,
        reason VARCHAR NOT NULL,
        raw VARCHAR,
        quarantined_at TIMESTAMPTZ NOT NULL
    )"""
    )


def _m0003_rollups(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(_rollup_ddl("rollup_hourly", "hour"))
    con.execute(_rollup_ddl("rollup_daily", "day"))


def _m0004_anomaly_acks(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """CREATE TABLE anomaly_acks (
        anomaly_id VARCHAR PRIMARY KEY,
        status VARCHAR,
        note VARCHAR,
        acked_at TIMESTAMPTZ
    )"""
    )


def _m0005_price_table(con: duckdb.DuckDBPyConnection) -> None:
    # One row per (provider, model, price period, input-token band), built from genai-prices
    # for the pairs present; prices are USD per token (per request for p_request).
    con.execute(
        """CREATE TABLE price_table (
        price_id INTEGER PRIMARY KEY,
        provider VARCHAR, model VARCHAR NOT NULL,
        day_from INTEGER NOT NULL, day_to INTEGER NOT NULL,
        tod_from_us BIGINT NOT NULL, tod_to_us BIGINT NOT NULL,
        band_lo DOUBLE NOT NULL, band_hi DOUBLE NOT NULL,
        p_input DOUBLE NOT NULL, p_cache_read DOUBLE NOT NULL, p_cache_write DOUBLE NOT NULL,
        p_output DOUBLE NOT NULL, p_reasoning DOUBLE NOT NULL, p_request DOUBLE NOT NULL,
        cache_read_split TINYINT NOT NULL, cache_write_split TINYINT NOT NULL,
        reasoning_split TINYINT NOT NULL
    )"""
    )
    con.execute(
        """CREATE TABLE price_models (
        provider VARCHAR, model VARCHAR NOT NULL,
        status VARCHAR NOT NULL,
        matched_provider VARCHAR, matched_model VARCHAR,
        detail VARCHAR,
        genai_prices_version VARCHAR
    )"""
    )


def _m0006_bucketed_events(con: duckdb.DuckDBPyConnection) -> None:
    # `bucketed`: the row is a provider usage-export bucket (a snapshot a later export of the
    # same bucket may grow and replace); per-request rows are insert-only. Rows the OpenAI and
    # Anthropic usage adapters made before this migration are recognised by their bucket keys.
    # (NOT NULL before the UPDATE: DuckDB refuses the constraint after updates in one transaction)
    con.execute("ALTER TABLE events ADD COLUMN bucketed BOOLEAN DEFAULT false")
    con.execute("ALTER TABLE events ALTER COLUMN bucketed SET NOT NULL")
    con.execute(
        "UPDATE events SET bucketed = true "
        "WHERE event_id LIKE 'openai-usage:%' OR event_id LIKE 'anthropic-usage:%'"
    )
    con.execute("ALTER TABLE ingests ADD COLUMN replaced BIGINT DEFAULT 0")
    con.execute("ALTER TABLE ingests ALTER COLUMN replaced SET NOT NULL")


def _m0007_lean_events(con: duckdb.DuckDBPyConnection) -> None:
    # `event_id` no longer repeats `request_id`: it holds the content hash of a row without one and
    # is NULL otherwise (the key is EVENT_KEY_SQL; stored rows keep their old value, the same key).
    # Token p95s are hourly only: a daily p95 is a second exact-quantile pass over every event of
    # an ingest, and nothing reads it (anomaly factors are hourly).
    con.execute("ALTER TABLE events ALTER COLUMN event_id DROP NOT NULL")
    for column in ("input_tokens_p95", "output_tokens_p95"):
        con.execute(f"ALTER TABLE rollup_daily DROP COLUMN {column}")


def _m0008_agent_runs(con: duckdb.DuckDBPyConnection) -> None:
    # `runs` counts a run once per (provider, model) row, so a run that used two models counted
    # twice in an agent's sum. `agent_runs` counts it once per bucket and ATTRIBUTION_COLUMNS, on
    # the group's row with the smallest (provider, model), NULLs first; 0 on its other rows.
    # Existing rows are filled from the kept events, as `brain.ingest.rollups` computes them.
    # (NOT NULL before the UPDATE: DuckDB refuses the constraint after updates in one transaction)
    attrs = ", ".join(ATTRIBUTION_COLUMNS)
    first_rows = ", ".join(f"f.{a}" for a in GROUP_COLUMNS)
    same_triple = " AND ".join(f"n.{a} IS NOT DISTINCT FROM f.{a}" for a in ATTRIBUTION_COLUMNS)
    same_row = " AND ".join(f"r.{a} IS NOT DISTINCT FROM x.{a}" for a in GROUP_COLUMNS)
    for table, bucket in (("rollup_hourly", "hour"), ("rollup_daily", "day")):
        con.execute(f"ALTER TABLE {table} ADD COLUMN agent_runs BIGINT DEFAULT 0")
        con.execute(f"ALTER TABLE {table} ALTER COLUMN agent_runs SET NOT NULL")
        con.execute(
            f"""UPDATE {table} r SET agent_runs = x.agent_runs FROM (
                SELECT f.{bucket}, {first_rows}, n.agent_runs FROM (
                    SELECT {bucket}, {", ".join(GROUP_COLUMNS)}, row_number() OVER (
                        PARTITION BY {bucket}, {attrs} ORDER BY provider NULLS FIRST, model NULLS FIRST) AS rank
                    FROM {table}
                ) f JOIN (
                    SELECT date_trunc('{bucket}', e."timestamp") AS {bucket}, {attrs},
                        count(DISTINCT e.run_id)
                            + coalesce(sum(e.requests) FILTER (WHERE e.run_id IS NULL), 0) AS agent_runs
                    FROM events e WHERE {KEPT_EVENT_SQL.format(e="e")} GROUP BY ALL
                ) n ON n.{bucket} = f.{bucket} AND {same_triple}
                WHERE f.rank = 1
            ) x WHERE r.{bucket} = x.{bucket} AND {same_row}"""
        )


def _m0009_alerts(con: duckdb.DuckDBPyConnection) -> None:
    # One row per message and channel (brain.alerts.state): `key` names the message (an anomaly's
    # new/update/resolution, a budget threshold, a digest), `ref` what it is about (anomaly id or
    # budget). A row is 'sending' (committed before Apprise is called: a crash leaves it, and the
    # next pass sends again), 'sent', 'failed' (retried from `next_attempt_at`), 'held' (quiet
    # hours or the digest), or 'digested' (went out inside the digest `digest_key`).
    con.execute(
        """CREATE TABLE alert_deliveries (
        key VARCHAR NOT NULL,
        channel VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,
        ref VARCHAR NOT NULL,
        severity VARCHAR,
        title VARCHAR NOT NULL,
        body VARCHAR NOT NULL,
        status VARCHAR NOT NULL,
        attempts INTEGER NOT NULL,
        first_attempt_at TIMESTAMPTZ,
        last_attempt_at TIMESTAMPTZ,
        next_attempt_at TIMESTAMPTZ,
        error VARCHAR,
        sent_at TIMESTAMPTZ,
        digest_key VARCHAR,
        created_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (key, channel)
    )"""
    )


MIGRATIONS = (
    ("0001_events", _m0001_events),
    ("0002_ingests_quarantine", _m0002_ingests_quarantine),
    ("0003_rollups", _m0003_rollups),
    ("0004_anomaly_acks", _m0004_anomaly_acks),
    ("0005_price_table", _m0005_price_table),
    ("0006_bucketed_events", _m0006_bucketed_events),
    ("0007_lean_events", _m0007_lean_events),
    ("0008_agent_runs", _m0008_agent_runs),
    ("0009_alerts", _m0009_alerts),
)


# For statements that join a stream of events to a small table (prices, labels): keep the joins
# as written, small table on the build side. The optimizer otherwise misjudges the events side
# behind the validation filter as the smaller one (30+ OR-ed checks) and builds its hash table
# from all of them: 10M JSONL lines took 24.8 s instead of 13.3 s.
FIXED_JOIN_ORDER = {"disabled_optimizers": "join_order"}


@contextmanager
def settings(con: duckdb.DuckDBPyConnection, wanted: dict[str, str]) -> Iterator[None]:
    """Apply DuckDB settings for a block, then put back the ones in force before."""
    setting = "SELECT current_setting(?)"
    before: dict[str, str | None] = {}
    for k in wanted:
        value = one_row(con.execute(setting, [k]))[0]
        con.execute(f"RESET {k}")
        # None = it was the default: RESET again afterwards (printed sizes are rounded).
        before[k] = None if one_row(con.execute(setting, [k]))[0] == value else str(value)
    for k, v in wanted.items():
        con.execute(f"SET {k} = '{v}'")
    try:
        yield
    except BaseException:
        # A block that failed inside a transaction leaves it aborted: nothing can be set until the
        # rollback, and the block's own error is the one to raise. A caller that sets inside a
        # transaction therefore runs within an outer `settings` of the same keys, outside it.
        with suppress(duckdb.TransactionException):
            _restore(con, before)
        raise
    _restore(con, before)


def _restore(con: duckdb.DuckDBPyConnection, before: dict[str, str | None]) -> None:
    for k, old in before.items():
        con.execute(f"RESET {k}" if old is None else f"SET {k} = '{old}'")


def small_table(columns: dict[str, list], types: dict[str, str]) -> pa.Table:
    """A small Arrow table from Python lists (`types`: column -> DuckDB type), built by DuckDB:
    pyarrow's own conversion of Python objects imports pandas, ~0.3 s of every command that
    attributes usage."""
    picks = ", ".join(f"unnest(${c}::{t}[]) AS {c}" for c, t in types.items())
    con = duckdb.connect()
    try:
        return con.sql(f"SELECT {picks}", params={c: columns[c] for c in types}).to_arrow_table()
    finally:
        con.close()


def one_row(cursor) -> tuple:
    """The single row an aggregate query returns (a missing row is a bug: StoreError)."""
    row = cursor.fetchone()
    if row is None:
        raise StoreError("the usage store returned no row where one was expected")
    return row


def session(con: duckdb.DuckDBPyConnection) -> None:
    """Set a connection (or cursor: it starts from the defaults) to what every query of ours
    assumes: UTC (a TIMESTAMPTZ's day is the UTC day), and no DuckDB progress bar. With a
    terminal on stdin DuckDB draws one on stdout for any statement past 2 s, inside a `--json`
    answer; `brain ingest` draws its own, on stderr."""
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")


class Store:
    """One DuckDB usage store file; `.con` is its connection, always in UTC."""

    def __init__(self, path: str | Path, read_only: bool = False, con: duckdb.DuckDBPyConnection | None = None):
        """Open (and migrate) the store at `path`, or wrap `con`, a connection already open on it."""
        self.path = Path(path)
        self.read_only = read_only
        if con is not None:  # e.g. a cursor of a running server's database, migrated when opened
            self.con = con
            session(self.con)
            return
        if read_only and not self.path.exists():
            raise StoreError(f"usage store {self.path} does not exist; ingest usage first")
        try:
            if not read_only:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self.con = duckdb.connect(str(self.path), read_only=read_only)
        except (duckdb.Error, OSError) as exc:
            raise StoreError(f"cannot open usage store {self.path}: {exc}") from exc
        session(self.con)
        if not read_only:
            self.migrate()
        elif self.pending_migrations():
            self.con.close()
            raise StoreNeedsMigration(f"usage store {self.path} needs migrations; open it writable once")

    def applied_migrations(self) -> list[str]:
        """Names of the migrations already recorded in `schema_migrations`."""
        exists = one_row(self.con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
        ))[0]
        if not exists:
            return []
        return [r[0] for r in self.con.execute("SELECT name FROM schema_migrations ORDER BY name").fetchall()]

    def pending_migrations(self) -> list[str]:
        """Names of the migrations this store still lacks."""
        done = set(self.applied_migrations())
        return [name for name, _ in MIGRATIONS if name not in done]

    def migrate(self) -> None:
        """Apply every pending migration in order, each in its own transaction."""
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(name VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)"
        )
        done = set(self.applied_migrations())
        for name, fn in MIGRATIONS:
            if name in done:
                continue
            log.debug("applying migration %s", name)
            with self.transaction():
                fn(self.con)
                self.con.execute(
                    "INSERT INTO schema_migrations VALUES (?, current_timestamp)", [name]
                )

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Run a block in one transaction: commit on success, roll back on any exception."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    def close(self) -> None:
        """Close the connection."""
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
