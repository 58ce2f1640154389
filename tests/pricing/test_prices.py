"""Pricing in SQL equals genai_prices.calc_price; unknown models are unpriced; vault notes apply."""

from __future__ import annotations

import random
import warnings
from datetime import UTC, datetime, timedelta

import genai_prices
import pyarrow as pa
import pytest
from genai_prices import Usage
from genai_prices.data_snapshot import get_snapshot

from brain.costs.spend import agent_card, hourly_agent_series, spend_report
from brain.graph.identity import AgentIdentity
from brain.ingest import ingest_table
from brain.pricing.prices import model_pricing, price_notes_table
from brain.store.database import Store


def _models() -> list[tuple[str, str]]:
    """Every (provider, model id) of genai-prices whose id resolves back to itself."""
    snap = get_snapshot()
    out = []
    for provider in snap.providers:
        for model in provider.models:
            try:
                _, found = snap.find_provider_model(model.id, None, provider.id, None)
            except LookupError:
                continue
            if found is model:
                out.append((provider.id, model.id))
    return out


def _tiered(provider: str, model: str) -> bool:
    return len({r["band_lo"] for r in model_pricing(provider, model).rows}) > 1


def _reference(row: dict) -> float | None:
    usage = Usage(
        input_tokens=row["input_tokens"],
        output_tokens=row["output_tokens"],
        cache_read_tokens=row["cache_read_tokens"],
        cache_write_tokens=row["cache_write_tokens"],
        output_reasoning_tokens=row["reasoning_tokens"],
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            calc = genai_prices.calc_price(
                usage, row["model"], provider_id=row["provider"], genai_request_timestamp=row["timestamp"]
            )
    except (LookupError, ValueError):
        return None
    return float(calc.total_price)


def _sample(n: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    models = _models()
    tiered = [m for m in models if _tiered(*m)]
    start = datetime(2023, 1, 1, tzinfo=UTC)
    span = (datetime.now(UTC) - start).total_seconds()
    rows = []
    for i in range(n):
        provider, model = rng.choice(tiered) if i % 5 == 0 else rng.choice(models)
        big = rng.random() < 0.3
        input_tokens = rng.randint(0, 600_000 if big else 20_000)
        cache_read = rng.randint(0, input_tokens // 2) if rng.random() < 0.5 else 0
        cache_write = rng.randint(0, (input_tokens - cache_read) // 2) if rng.random() < 0.4 else 0
        output = rng.randint(0, 30_000)
        reasoning = rng.randint(0, output) if rng.random() < 0.4 else 0
        rows.append(
            {
                "timestamp": start + timedelta(seconds=rng.random() * span),
                "agent": "bench",
                "provider": provider,
                "model": model,
                "input_tokens": input_tokens,
                "output_tokens": output,
                "cache_read_tokens": cache_read,
                "cache_write_tokens": cache_write,
                "reasoning_tokens": reasoning,
                "requests": 1,
                "request_id": f"req-{i}",
            }
        )
    return rows


@pytest.mark.e2e
def test_sql_price_equals_calc_price_on_a_large_random_sample(tmp_path):
    rows = _sample(12_000)
    store = Store(tmp_path / "u.duckdb")
    report = ingest_table(store, pa.Table.from_pylist(rows), "sample")
    assert report.accepted == len(rows)
    got = dict(store.con.execute("SELECT request_id, cost_est_usd FROM events").fetchall())
    providers, checked, tiered_high = set(), 0, 0
    for row in rows:
        want = _reference(row)
        have = got[row["request_id"]]
        if want is None:
            assert have is None, row
            continue
        assert have == pytest.approx(want, abs=1e-9), row
        providers.add(row["provider"])
        checked += 1
        tiered_high += row["input_tokens"] > 200_000 and _tiered(row["provider"], row["model"])
    assert checked >= 10_000
    assert len(providers) >= 20
    assert tiered_high >= 500
    assert sum(1 for r in rows if r["cache_read_tokens"] and r["reasoning_tokens"]) > 1000


def test_time_of_day_and_start_date_periods_are_priced_like_calc_price(tmp_path):
    rows = []
    for i, hour in enumerate(range(0, 24)):
        for day in ("2024-06-01", "2025-06-01", "2025-09-10"):
            ts = datetime.fromisoformat(f"{day}T{hour:02d}:45:00+00:00")
            rows.append(
                {"timestamp": ts, "provider": "deepseek", "model": "deepseek-chat", "input_tokens": 5000,
                 "output_tokens": 700, "cache_read_tokens": 1000, "cache_write_tokens": 0,
                 "reasoning_tokens": 0, "requests": 1, "request_id": f"d{i}-{day}"}
            )
    store = Store(tmp_path / "u.duckdb")
    ingest_table(store, pa.Table.from_pylist(rows), "ds")
    got = dict(store.con.execute("SELECT request_id, cost_est_usd FROM events").fetchall())
    for row in rows:
        assert got[row["request_id"]] == pytest.approx(_reference(row), abs=1e-12)
    assert len(set(got.values())) > 1


def test_unknown_model_is_unpriced_not_free(tmp_path):
    store = Store(tmp_path / "u.duckdb")
    rows = [{"timestamp": datetime(2025, 1, 1, tzinfo=UTC), "provider": "acme", "model": "in-house-7b",
             "input_tokens": 100, "output_tokens": 10}]
    ingest_table(store, pa.Table.from_pylist(rows), "x")
    assert store.con.execute("SELECT cost_est_usd FROM events").fetchone()[0] is None
    unpriced = store.con.execute("SELECT unpriced_requests, unpriced_tokens, cost_usd FROM rollup_daily").fetchone()
    assert unpriced == (1, 110, 0.0)
    assert store.con.execute("SELECT status FROM price_models").fetchone()[0] == "unknown"


def test_anthropic_and_openai_style_rows_of_one_call_cost_the_same(tmp_path):
    # Anthropic reports input disjoint from cache reads/writes; the adapter adds them back.
    anthropic_usage = {"input_tokens": 1200, "cache_read_input_tokens": 5000,
                       "cache_creation_input_tokens": 800, "output_tokens": 400}
    anthropic_row = {
        "input_tokens": anthropic_usage["input_tokens"] + anthropic_usage["cache_read_input_tokens"]
        + anthropic_usage["cache_creation_input_tokens"],
        "cache_read_tokens": anthropic_usage["cache_read_input_tokens"],
        "cache_write_tokens": anthropic_usage["cache_creation_input_tokens"],
        "output_tokens": anthropic_usage["output_tokens"],
    }
    openai_row = {"input_tokens": 7000, "cache_read_tokens": 5000, "cache_write_tokens": 800,
                  "output_tokens": 400}
    ts = datetime(2025, 3, 1, tzinfo=UTC)
    common = {"timestamp": ts, "provider": "anthropic", "model": "claude-sonnet-4-5", "reasoning_tokens": 0}
    rows = [{**common, **anthropic_row, "request_id": "a"}, {**common, **openai_row, "request_id": "o"}]
    store = Store(tmp_path / "u.duckdb")
    ingest_table(store, pa.Table.from_pylist(rows), "x")
    costs = dict(store.con.execute("SELECT request_id, cost_est_usd FROM events").fetchall())
    assert costs["a"] == costs["o"] is not None
    assert costs["a"] == pytest.approx(_reference({**rows[1], "model": "claude-sonnet-4-5"}), abs=1e-12)


def test_price_notes_become_non_overlapping_intervals():
    table = price_notes_table(
        [
            {"provider": "OpenAI", "model": "GPT-4o", "discount_pct": "20%"},
            {"provider": "openai", "model": "gpt-4o", "discount_pct": 30, "valid_from": "2025-02-01"},
            {"model": "llama-local", "input_mtok": 0.1, "output_mtok": 0.2},
            {"provider": "x"},
        ]
    ).to_pylist()
    assert len(table) == 3
    first, second = sorted((r for r in table if r["model"] == "gpt-4o"), key=lambda r: r["valid_from"])
    assert first["valid_to"] == second["valid_from"] == datetime(2025, 2, 1, tzinfo=UTC)
    assert first["discount_pct"] == 20.0 and second["valid_to"] is None


# -- vault price notes applied to spend (QA spend2) ------------------------------------------------

NOTE_NOW = datetime(2026, 11, 29, 14, tzinfo=UTC)
BOT = AgentIdentity(node_id="Agents/Bot", name="Bot", agent_id="bot")


def _noted_store(tmp_path, rows: list[dict]) -> Store:
    base = {"agent": "bot", "provider": "openai", "model": "gpt-4o-mini", "input_tokens": 1_000_000,
            "output_tokens": 0}
    store = Store(tmp_path / "u.duckdb")
    table = [{**base, **r, "request_id": f"r{i}"} for i, r in enumerate(rows)]
    ingest_table(store, pa.Table.from_pylist(table), "t")
    return store


def _spend(store: Store, notes: list[dict], by: str = "model") -> dict:
    return {r["group"]: r for r in spend_report(store, [BOT], by=by, price_notes=notes, now=NOTE_NOW)["rows"]}


@pytest.mark.e2e
def test_a_note_for_a_base_model_applies_to_its_dated_id(tmp_path):
    day = datetime(2026, 11, 20, 13, tzinfo=UTC)
    store = _noted_store(tmp_path, [
        {"timestamp": day, "provider": "anthropic", "model": m, "input_tokens": 100_000}
        for m in ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5")
    ])
    base = {"provider": "anthropic", "model": "claude-sonnet-4-5", "discount_pct": 20}
    groups = _spend(store, [base])
    assert groups["claude-sonnet-4-5-20250929"]["spend_usd"] == pytest.approx(0.24)  # 100k x $3/M x 0.8
    assert groups["claude-sonnet-4-5"]["spend_usd"] == pytest.approx(0.24)
    # a note naming the exact dated id wins over the base id's note, whichever the order
    exact = {"model": "claude-sonnet-4-5-20250929", "discount_pct": 50}
    for notes in ([base, exact], [exact, base]):
        groups = _spend(store, notes)
        assert groups["claude-sonnet-4-5-20250929"]["spend_usd"] == pytest.approx(0.15)
        assert groups["claude-sonnet-4-5"]["spend_usd"] == pytest.approx(0.24)
    store.close()


@pytest.mark.e2e
def test_a_note_valid_from_a_time_of_day_applies_from_that_hour(tmp_path):
    store = _noted_store(tmp_path, [
        {"timestamp": datetime(2026, 11, 15, h, tzinfo=UTC)} for h in (8, 13)
    ] + [{"timestamp": datetime(2026, 11, 16, 1, tzinfo=UTC)}])
    notes = [{"provider": "openai", "model": "gpt-4o-mini", "discount_pct": 50, "valid_from": "2026-11-15T12:00:00Z"}]
    assert _spend(store, notes)["gpt-4o-mini"]["spend_usd"] == pytest.approx(0.15 + 0.075 + 0.075)
    card = agent_card(store, BOT, days=30, price_notes=notes, now=NOTE_NOW, identities=[BOT])
    daily = {d["day"]: d["spend_usd"] for d in card["daily"]}
    assert daily["2026-11-15"] == pytest.approx(0.225) and daily["2026-11-16"] == pytest.approx(0.075)
    hourly = hourly_agent_series(store, [BOT], datetime(2026, 11, 15, tzinfo=UTC), NOTE_NOW, notes)
    assert sum(hourly.column("cost_usd").to_pylist()) == pytest.approx(0.3)
    # an offset is read in UTC, and a note starts at the top of its hour: 07:59-01:00 is 08:59Z
    shifted = [{**notes[0], "valid_from": "2026-11-15T07:59:00-01:00"}]
    assert _spend(store, shifted)["gpt-4o-mini"]["spend_usd"] == pytest.approx(0.075 * 3)
    store.close()


@pytest.mark.e2e
def test_a_partial_note_leaves_other_token_types_to_genai_prices_or_unpriced(tmp_path):
    day = datetime(2026, 11, 20, 14, tzinfo=UTC)
    store = _noted_store(tmp_path, [
        {"timestamp": day, "provider": "acme", "model": "my-llama-7b", "output_tokens": 1_000_000},
        {"timestamp": day, "output_tokens": 1_000_000},
    ])
    notes = [{"provider": "acme", "model": "my-llama-7b", "input_mtok": 1},
             {"provider": "openai", "model": "gpt-4o-mini", "input_mtok": 1}]
    groups = _spend(store, notes)
    llama, mini = groups["my-llama-7b"], groups["gpt-4o-mini"]
    assert llama["spend_usd"] == pytest.approx(1.0)  # the input the note prices; output unknown, not $0
    assert llama["spend_by_token_type_usd"]["output"] is None
    assert llama["unpriced_requests"] == 1
    assert mini["spend_by_token_type_usd"]["output"] == pytest.approx(0.6)  # genai-prices: $0.60/M output
    assert mini["spend_usd"] == pytest.approx(1.6) and mini["unpriced_requests"] == 0
    full = _spend(store, [{**notes[0], "output_mtok": 2}])
    assert full["my-llama-7b"]["spend_usd"] == pytest.approx(3.0) and full["my-llama-7b"]["unpriced_requests"] == 0
    store.close()


@pytest.mark.parametrize(
    ("provider", "model", "prices_as"),
    [
        ("gcp.gen_ai", "gemini-2.5-flash", "google"),
        ("gcp.vertex_ai", "gemini-2.5-pro", "google"),
        ("gcp.gemini", "gemini-2.5-flash", "google"),
        ("x_ai", "grok-3", "x-ai"),
        ("aws.bedrock", "anthropic.claude-3-5-sonnet-20241022-v2:0", "aws"),
        ("azure.ai.openai", "gpt-4o", "azure"),
        ("azure.ai.inference", "gpt-4o", "azure"),
        ("mistral_ai", "mistral-large-latest", "mistral"),
        ("ibm.watsonx.ai", "gpt-4o", None),  # a provider genai-prices does not know: the model alone
    ],
)
@pytest.mark.e2e
def test_semconv_provider_names_are_priced_as_their_genai_prices_provider(tmp_path, provider, model, prices_as):
    """QA otlp2 bug 4: `gcp.gen_ai`, `x_ai`, `azure.ai.inference` ... left known models unpriced."""
    row = {"timestamp": datetime(2025, 9, 1, tzinfo=UTC), "provider": provider, "model": model,
           "input_tokens": 12_000, "output_tokens": 800, "cache_read_tokens": 2_000, "cache_write_tokens": 0,
           "reasoning_tokens": 0, "requests": 1, "request_id": "r1"}  # fmt: skip
    store = Store(tmp_path / "u.duckdb")
    ingest_table(store, pa.Table.from_pylist([row]), "semconv")
    have = store.con.execute("SELECT cost_est_usd FROM events").fetchone()[0]
    want = _reference({**row, "provider": prices_as})
    assert want is not None and have == pytest.approx(want, abs=1e-12)


def test_a_known_provider_without_the_model_stays_unpriced():
    assert model_pricing("groq", "gpt-4o").status == "unknown"  # no fallback past a provider genai-prices has
