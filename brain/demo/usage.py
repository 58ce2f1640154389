"""The demo company's usage: canonical events generated in one DuckDB query, deterministic per seed."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow as pa

from brain.demo import company as co
from brain.demo.company import Timeline
from brain.store.database import session

# Share of each day's runs per UTC hour (normalised when a stream is built).
CUSTOMER_HOURS = (2, 1.5, 1, 1, 1, 1.5, 2, 3, 4, 5, 6, 6.5, 7, 7.5, 8, 8, 7.5, 7, 6, 5, 4, 3.5, 3, 2.5)
OFFICE_HOURS = (0.1, 0.1, 0.1, 0.1, 0.1, 0.2, 0.5, 2, 5, 7, 8, 8, 6, 7, 8, 8, 7, 6, 4, 2, 1, 0.5, 0.3, 0.2)
WORKING_HOURS = tuple(w if 7 <= h <= 19 else 0.0 for h, w in enumerate(OFFICE_HOURS))
WEEKDAYS = (1.05, 1.05, 1.05, 1.05, 1.0, 0.85, 0.85)  # Mon..Sun multipliers
OFFICE_WEEK = (1.0, 1.0, 1.0, 1.0, 0.9, 0.08, 0.05)
SATURDAY = (0, 0, 0, 0, 0, 1, 0)
SUNDAY = (0, 0, 0, 0, 0, 0, 1)
WEEKEND = (0, 0, 0, 0, 0, 1, 1)


def at_hour(hour: int) -> tuple[float, ...]:
    """An hour profile that puts every run at one UTC hour."""
    return tuple(1.0 if h == hour else 0.0 for h in range(24))


@dataclass(frozen=True)
class Stream:
    """One source of usage rows: who calls which model, how often and with how many tokens."""

    name: str
    provider: str
    model: str
    agent: str | None = None
    api_key_id: str | None = None
    service_name: str | None = None
    service_only_share: float = 0.0  # runs reported over OpenTelemetry: service name only
    runs_per_day: float = 0.0
    hours: tuple[float, ...] = OFFICE_HOURS
    weekdays: tuple[float, ...] = OFFICE_WEEK
    day_sigma: float = 0.08  # day-to-day volume noise (log scale)
    start_jitter_s: float = 3600.0  # runs start uniformly within this many seconds of the hour
    rate_step_at: datetime | None = None  # from then on, runs_per_day x rate_step_mult
    rate_step_mult: float = 1.0
    window_from: datetime | None = None  # within [window_from, window_to): window_runs_per_hour
    window_to: datetime | None = None
    window_runs_per_hour: float = 0.0
    calls_min: int = 1
    calls_max: int = 1
    call_gap_s: float = 4.0
    fresh_input: float = 1000.0  # mean uncached input tokens per call
    cache_read: float = 0.0  # cached prompt tokens read per call (calls after the first)
    cache_read_first: bool = False  # the first call of a run also reads the cache (OpenAI)
    cache_write_first: float = 0.0  # prompt tokens written to the cache by the first call
    output: float = 300.0  # mean output tokens per call, reasoning included
    reasoning_share: float = 0.0
    token_sigma: float = 0.3
    token_step_at: datetime | None = None  # from then on, every token count x token_step_mult
    token_step_mult: float = 1.0
    long_doc_share: float = 0.0  # share of runs that retrieve a long document
    long_doc_tokens: float = 0.0  # extra input tokens per call in such runs (mean)
    error_rate: float = 0.005
    bucket: bool = False  # pre-aggregated hourly buckets: one row, requests = calls
    id_prefix: str = "req_"
    extra: dict = field(default_factory=dict)


def _norm(weights: tuple[float, ...]) -> list[float]:
    total = sum(weights)
    return [w / total for w in weights]


def demo_streams(tl: Timeline) -> list[Stream]:
    """Every usage stream of the demo company, with its stories placed on the timeline."""
    loop_from, loop_to = tl.loop_window
    s = [
        # ~40,000 conversations a month, 2-4 calls each, ~$0.03 per conversation; 4% pull long docs.
        Stream(
            "support", "openai", "gpt-4.1-mini", agent="support-agent", api_key_id=co.SUPPORT_KEY,
            service_name="support-bot", service_only_share=0.12,
            runs_per_day=1120, hours=CUSTOMER_HOURS, weekdays=WEEKDAYS,
            rate_step_at=tl.support_email_launch, rate_step_mult=1.2,
            calls_min=2, calls_max=4, fresh_input=17000, cache_read=6000, cache_read_first=True,
            output=900, long_doc_share=0.04, long_doc_tokens=100000, error_rate=0.01,
            id_prefix="chatcmpl-",
        ),
        # A 12-step chain on every request, ~$0.42 per request; prompt v4 doubles every token count.
        Stream(
            "research", "anthropic", "claude-sonnet-4-5", agent="Research Assistant",
            runs_per_day=85, hours=WORKING_HOURS, weekdays=(1.0, 1.0, 1.0, 1.0, 0.9, 0, 0),
            calls_min=12, calls_max=12, call_gap_s=9, fresh_input=6100, cache_read=3000,
            cache_write_first=3000, output=1020, token_sigma=0.25,
            token_step_at=tl.research_prompt_change, token_step_mult=2.0, id_prefix="msg_01",
        ),
        # Meant to run daily at 02:00; runs every hour since the scheduler change.
        Stream(
            "summariser", "openai", "gpt-4.1", api_key_id=co.SUMMARISER_KEY,
            runs_per_day=1, hours=at_hour(2), weekdays=(1,) * 7, day_sigma=0, start_jitter_s=20,
            window_from=tl.summariser_schedule_change.replace(minute=0, second=0) + timedelta(hours=1),
            window_to=tl.now + timedelta(hours=1), window_runs_per_hour=1,
            calls_min=40, calls_max=40, call_gap_s=6, fresh_input=9000, cache_read=1500,
            output=700, token_sigma=0.2, id_prefix="chatcmpl-",
        ),
        Stream(
            "code-review", "anthropic", "claude-sonnet-4-5", service_name="code-review-copilot",
            runs_per_day=160, calls_min=1, calls_max=3, fresh_input=7000, cache_read=2000,
            cache_write_first=2000, output=600, id_prefix="msg_01",
        ),
        Stream(
            "sales-copilot", "openai", "gpt-4.1", agent="sales-copilot", api_key_id=co.SALES_KEY,
            runs_per_day=220, calls_min=1, calls_max=2, fresh_input=2500, output=450,
            id_prefix="chatcmpl-",
        ),
        Stream(
            "docs-copilot", "google", "gemini-2.5-flash", service_name="docs-copilot",
            runs_per_day=350, calls_min=1, calls_max=2, fresh_input=6000, output=500,
            reasoning_share=0.3, id_prefix="gen-",
        ),
        # Unowned weekend scripts on developers' personal keys (claimed in their notes).
        _script("Lead Enricher", "gpt-4.1", SATURDAY, 6, (150, 250), 4000, 250),
        _script("Slack Digest", "gpt-4.1-mini", WEEKEND, 8, (30, 50), 6000, 500),
        _script("Changelog Drafter", "claude-haiku-4-5", SUNDAY, 18, (10, 20), 8000, 1500),
        _script("Competitor Watch", "o4-mini", SATURDAY, 10, (20, 40), 5000, 3000, reasoning_share=0.7),
        _script("Churn Predictor", "gpt-4.1-mini", SUNDAY, 3, (60, 100), 3000, 200),
        # Last weekend: Lead Enricher retries every CRM error at once, with the whole dossier each time.
        Stream(
            "lead-enricher-loop", "openai", "gpt-4.1", api_key_id=co.claimed_key("Lead Enricher"),
            window_from=loop_from, window_to=loop_to, window_runs_per_hour=450,
            fresh_input=12000, output=300, error_rate=0.35, id_prefix="chatcmpl-",
        ),
        # An agent name no note claims, on a shared ops key.
        Stream(
            "invoice-extractor", "openai", "gpt-4.1-mini", agent="invoice-extractor",
            api_key_id=co.OPS_SHARED_KEY, runs_per_day=120, calls_min=1, calls_max=2,
            fresh_input=5000, output=400, id_prefix="chatcmpl-",
        ),
    ]
    # Developers' own experiments: hourly buckets from the providers' usage exports.
    for d in co.DEVELOPERS:
        if d.claimed_by:
            continue
        s.append(
            Stream(
                f"personal:{d.name}", d.provider, d.model, api_key_id=d.key, runs_per_day=8,
                day_sigma=0.3, calls_min=4, calls_max=20, fresh_input=3000, output=600,
                reasoning_share=0.6 if d.model.startswith("o") else 0.0, bucket=True, token_sigma=0.25,
            )
        )
    return s


def _script(name, model, weekdays, hour, calls, fresh, output, reasoning_share=0.0) -> Stream:
    provider = "anthropic" if model.startswith("claude") else "openai"
    return Stream(
        f"script:{name}", provider, model, api_key_id=co.claimed_key(name), runs_per_day=1,
        hours=at_hour(hour), weekdays=weekdays, day_sigma=0, start_jitter_s=300,
        calls_min=calls[0], calls_max=calls[1], call_gap_s=2, fresh_input=fresh, output=output,
        reasoning_share=reasoning_share, id_prefix="msg_01" if provider == "anthropic" else "chatcmpl-",
    )


def _streams_table(streams: list[Stream]) -> pa.Table:
    rows = []
    for i, st in enumerate(streams):
        r = asdict(st)
        r.pop("extra")
        r["sid"] = i
        r["hours"] = _norm(st.hours)
        r["weekdays"] = [float(w) for w in st.weekdays]
        rows.append(r)
    return pa.Table.from_pylist(rows)


# Uniform [0, 1) and standard normal draws from a hash of (seed, stream, hour, run, call, salt):
# deterministic whatever the thread count or row order.
_MACROS = """
CREATE OR REPLACE TEMP MACRO u01(a, b, c, d, e) AS
    ((hash(getvariable('demo_seed'), a, b, c, d, e) >> 11)::DOUBLE + 0.5) / 9007199254740992.0;
CREATE OR REPLACE TEMP MACRO znorm(a, b, c, d, e) AS
    sqrt(-2 * ln(u01(a, b, c, d, e))) * cos(2 * pi() * u01(a, b, c, d, e || 'b'));
"""

_SQL = """
WITH hours AS (
    SELECT h FROM generate_series($start_hour, $end_hour, INTERVAL 1 HOUR) t(h)
),
rated AS (
    SELECT s.*, h,
        CASE
            WHEN window_from IS NOT NULL AND h >= window_from AND h < window_to THEN window_runs_per_hour
            ELSE runs_per_day * hours[hour(h) + 1] * weekdays[isodow(h)]
                * CASE WHEN rate_step_at IS NOT NULL AND h >= rate_step_at THEN rate_step_mult ELSE 1 END
                * exp(day_sigma * znorm(sid, epoch(date_trunc('day', h)), 0, 0, 'day')
                      - day_sigma * day_sigma / 2)
        END AS lam
    FROM streams s CROSS JOIN hours
),
counts AS (
    SELECT *,
        CAST(CASE
            WHEN lam < 30 THEN floor(lam + u01(sid, epoch(h), 0, 0, 'n'))
            ELSE greatest(0, round(lam + sqrt(lam) * znorm(sid, epoch(h), 0, 0, 'n')))
        END AS INTEGER) AS n
    FROM rated WHERE lam > 0
),
runs AS (
    SELECT * EXCLUDE (lam), unnest(range(n)) AS i FROM counts WHERE n > 0
),
runs2 AS (
    SELECT *,
        h + to_microseconds(CAST(u01(sid, epoch(h), i, 0, 'start') * start_jitter_s * 1e6 AS BIGINT))
            AS run_ts,
        calls_min + CAST(floor(u01(sid, epoch(h), i, 0, 'k') * (calls_max - calls_min + 1)) AS INTEGER)
            AS k,
        u01(sid, epoch(h), i, 0, 'long') < long_doc_share AS is_long,
        u01(sid, epoch(h), i, 0, 'otel') < service_only_share AS otel_only,
        epoch(h) AS eh
    FROM runs
),
calls AS (
    SELECT *,
        unnest(range(CASE WHEN bucket THEN 1 ELSE k END)) AS c
    FROM runs2
),
tok AS (
    SELECT *,
        CASE WHEN bucket THEN h
             ELSE run_ts + to_microseconds(CAST((c + 0.5 * u01(sid, eh, i, c, 'gap')) * call_gap_s * 1e6 AS BIGINT))
        END AS ts,
        CASE WHEN token_step_at IS NOT NULL AND run_ts >= token_step_at THEN token_step_mult ELSE 1 END
            AS mult,
        CASE WHEN bucket THEN k ELSE 1 END AS reqs,
        u01(sid, eh, i, c, 'err') < error_rate AS is_error,
        exp(token_sigma * znorm(sid, eh, i, c, 'in') - token_sigma * token_sigma / 2) AS noise_in,
        exp(token_sigma * znorm(sid, eh, i, c, 'out') - token_sigma * token_sigma / 2) AS noise_out,
        0.6 + 0.8 * u01(sid, eh, i, 0, 'longsize') AS long_size
    FROM calls
),
counted AS (
    SELECT *,
        CASE WHEN is_error THEN 0 ELSE CAST(round(reqs * mult * (fresh_input * noise_in
            + CASE WHEN is_long THEN long_doc_tokens * long_size ELSE 0 END)) AS BIGINT) END AS fresh,
        CASE WHEN is_error THEN 0 WHEN c > 0 OR cache_read_first
            THEN CAST(round(reqs * mult * cache_read) AS BIGINT) ELSE 0 END AS cr,
        CASE WHEN is_error OR c > 0 THEN 0
            ELSE CAST(round(reqs * mult * cache_write_first) AS BIGINT) END AS cw,
        CASE WHEN is_error THEN 0
            ELSE CAST(round(reqs * mult * output * noise_out) AS BIGINT) END AS out_tokens
    FROM tok
)
SELECT
    ts AS "timestamp",
    CASE WHEN otel_only THEN NULL ELSE agent END AS agent,
    CASE WHEN otel_only THEN NULL ELSE api_key_id END AS api_key_id,
    CASE WHEN otel_only OR agent IS NULL THEN service_name END AS service_name,
    provider,
    model,
    fresh + cr + cw AS input_tokens,
    out_tokens AS output_tokens,
    cr AS cache_read_tokens,
    cw AS cache_write_tokens,
    CAST(round(out_tokens * reasoning_share) AS BIGINT) AS reasoning_tokens,
    CAST(reqs AS BIGINT) AS requests,
    CASE WHEN bucket THEN NULL
        ELSE 'run_' || substr(md5(concat_ws(':', getvariable('demo_seed'), sid, eh, i)), 1, 20)
    END AS run_id,
    CASE WHEN bucket THEN NULL
        ELSE id_prefix || substr(md5(concat_ws(':', getvariable('demo_seed'), sid, eh, i, c)), 1, 24)
    END AS request_id,
    CASE WHEN is_error THEN 'error' ELSE 'ok' END AS status,
    CAST(NULL AS DOUBLE) AS cost_usd
FROM counted
WHERE ts >= $start AND ts <= $now
ORDER BY "timestamp", request_id NULLS LAST, api_key_id, model
"""


def generate_usage(now: datetime, days: int = 60, seed: int = 7) -> pa.Table:
    """The demo's canonical usage events for the `days` ending at `now` (UTC), as an Arrow table."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    now = now.astimezone(UTC)
    tl = Timeline(now=now, days=days)
    streams = _streams_table(demo_streams(tl))
    con = duckdb.connect()
    try:
        session(con)
        con.execute("SET VARIABLE demo_seed = ?", [int(seed)])
        con.execute(_MACROS)
        con.register("streams", streams)
        start = tl.start
        return con.sql(
            _SQL,
            params={
                "start_hour": start.replace(minute=0, second=0, microsecond=0),
                "end_hour": now.replace(minute=0, second=0, microsecond=0),
                "start": start,
                "now": now,
            },
        ).to_arrow_table()
    finally:
        con.close()
