"""The demo company's generated usage: deterministic, canonical, and telling its stories (the
prompt change, the retry loop, the schedule change) on the dates the timeline gives them."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from genai_prices import Usage, calc_price

from brain.demo import company as co
from brain.demo.company import Timeline
from brain.demo.usage import generate_usage
from brain.store.database import CANONICAL_COLUMNS

NOW = datetime(2026, 11, 29, 4, 56, 12, tzinfo=UTC)  # a Sunday morning


@pytest.fixture(scope="module")
def usage() -> pa.Table:
    return generate_usage(NOW, days=60, seed=7)


def _sql(table: pa.Table, query: str, **params) -> list[tuple]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("usage", table)
    return con.execute(query, params).fetchall()


def _price(row: dict) -> float:
    usage = Usage(
        input_tokens=row["input_tokens"],
        output_tokens=row["output_tokens"],
        cache_read_tokens=row["cache_read_tokens"],
        cache_write_tokens=row["cache_write_tokens"],
    )
    return float(
        calc_price(
            usage, row["model"], provider_id=row["provider"], genai_request_timestamp=row["timestamp"]
        ).total_price
    )


def _cost_per_run(table: pa.Table, where: str, runs: int) -> float:
    ids = [r[0] for r in _sql(table, f"SELECT DISTINCT run_id FROM usage WHERE {where} ORDER BY 1 LIMIT {runs}")]
    rows = table.filter(pc.is_in(table["run_id"], pa.array(ids))).to_pylist()
    per_run: dict[str, float] = defaultdict(float)
    for row in rows:
        per_run[row["run_id"]] += _price(row)
    return sum(per_run.values()) / len(ids)


@pytest.mark.e2e
def test_same_seed_and_now_give_the_same_events(usage):
    again = generate_usage(NOW, days=60, seed=7)
    assert again.equals(usage)
    other = generate_usage(NOW, days=60, seed=8)
    assert not other.equals(usage)


def test_events_are_canonical_and_end_now(usage):
    assert usage.column_names == [name for name, _ in CANONICAL_COLUMNS]
    assert 200_000 <= usage.num_rows <= 600_000
    (first, last, bad_parts, dupes) = _sql(
        usage,
        """SELECT min(timestamp), max(timestamp),
                  count(*) FILTER (WHERE input_tokens < cache_read_tokens + cache_write_tokens
                                     OR output_tokens < reasoning_tokens OR requests < 1),
                  count(request_id) - count(DISTINCT request_id)
           FROM usage""",
    )[0]
    assert NOW - timedelta(days=60) <= first < NOW - timedelta(days=59)
    assert NOW - timedelta(hours=2) < last <= NOW
    assert bad_parts == 0
    assert dupes == 0


def test_attribution_hints_vary_like_real_exports(usage):
    (by_agent, key_only, service_only, buckets) = _sql(
        usage,
        """SELECT count(*) FILTER (WHERE agent IS NOT NULL),
                  count(*) FILTER (WHERE agent IS NULL AND api_key_id IS NOT NULL),
                  count(*) FILTER (WHERE agent IS NULL AND api_key_id IS NULL AND service_name IS NOT NULL),
                  count(*) FILTER (WHERE requests > 1 AND run_id IS NULL)
           FROM usage""",
    )[0]
    assert min(by_agent, key_only, service_only, buckets) > 0
    keys = {r[0] for r in _sql(usage, "SELECT DISTINCT api_key_id FROM usage WHERE api_key_id IS NOT NULL")}
    personal = {d.key for d in co.DEVELOPERS}
    assert personal <= keys, "all twelve personal keys are used"
    assert 0 < len({d.key for d in co.DEVELOPERS if d.claimed_by}) < 12


def test_research_costs_about_42_cents_and_support_3_cents_per_request(usage):
    tl = Timeline(NOW, 60)
    research = _cost_per_run(
        usage, f"agent = 'Research Assistant' AND timestamp < '{tl.research_prompt_change.isoformat()}'", 40
    )
    support = _cost_per_run(usage, "agent = 'support-agent'", 400)
    assert research == pytest.approx(0.42, rel=0.1)
    assert support == pytest.approx(0.03, rel=0.2)
    calls = _sql(usage, "SELECT count(*) / count(DISTINCT run_id) FROM usage WHERE agent = 'Research Assistant'")
    assert calls[0][0] == 12


def test_support_handles_about_40000_conversations_a_month(usage):
    (runs,) = _sql(
        usage,
        """SELECT count(DISTINCT run_id) FROM usage
           WHERE (agent = 'support-agent' OR service_name = 'support-bot') AND timestamp > $since""",
        since=NOW - timedelta(days=30),
    )[0]
    assert 36_000 <= runs <= 44_000


def test_the_summariser_runs_hourly_since_the_schedule_change(usage):
    tl = Timeline(NOW, 60)
    rows = _sql(
        usage,
        """SELECT timestamp >= $change AS after, count(DISTINCT run_id) / count(DISTINCT date_trunc('day', timestamp))
           FROM usage WHERE api_key_id = $key AND timestamp > $since GROUP BY 1 ORDER BY 1""",
        change=tl.summariser_schedule_change,
        key=co.SUMMARISER_KEY,
        since=NOW - timedelta(days=30),
    )
    assert rows[0] == (False, 1.0)
    assert rows[1][1] > 12  # first and last days are partial


def test_the_research_prompt_change_doubles_tokens_per_request(usage):
    tl = Timeline(NOW, 60)
    before, after = _sql(
        usage,
        """SELECT timestamp >= $change, avg(input_tokens + output_tokens) FILTER (WHERE status = 'ok')
           FROM usage WHERE agent = 'Research Assistant' AND timestamp > $since GROUP BY 1 ORDER BY 1""",
        change=tl.research_prompt_change,
        since=NOW - timedelta(days=14),
    )
    assert after[1] / before[1] == pytest.approx(2.0, rel=0.1)


def test_the_retry_loop_hammers_the_api_with_errors_last_weekend(usage):
    tl = Timeline(NOW, 60)
    start, end = tl.loop_window
    assert start.weekday() == 5 and end < NOW - timedelta(days=1)
    key = co.claimed_key("Lead Enricher")
    rows = _sql(
        usage,
        """SELECT timestamp >= $start AND timestamp < $end AS in_loop,
                  count(*), avg((status = 'error')::INT)
           FROM usage WHERE api_key_id = $key GROUP BY 1 ORDER BY 1""",
        start=start,
        end=end,
        key=key,
    )
    normal, loop = rows
    assert loop[1] > 20 * normal[1] / 8  # one weekend of looping dwarfs a normal Saturday
    assert loop[2] > 0.25


@pytest.mark.parametrize("day", range(22, 29))
def test_story_dates_fall_where_the_stories_need_them(day):
    tl = Timeline(datetime(2026, 11, day, 12, tzinfo=UTC), 60)
    assert tl.research_prompt_change.weekday() < 5
    assert timedelta(days=3) <= tl.today - tl.research_prompt_change.replace(hour=0, minute=0) <= timedelta(days=5)
    start, end = tl.loop_window
    assert start.weekday() == 5 and end <= tl.today
    assert tl.loop_config_change < start < tl.now
