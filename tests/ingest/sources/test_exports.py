"""Provider exports and LiteLLM logs: detection, mapping, token normalisation, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from genai_prices import Usage, calc_price

from brain.errors import IngestError
from brain.ingest.conform import CANONICAL_SCHEMA
from brain.ingest.detect import (
    detect_format,
    read_cost_source,
    read_source,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "exports"


def _price(row: dict) -> float:
    usage = Usage(
        input_tokens=row["input_tokens"],
        output_tokens=row["output_tokens"],
        cache_read_tokens=row["cache_read_tokens"],
        cache_write_tokens=row["cache_write_tokens"],
    )
    return float(calc_price(usage, model_ref=row["model"], provider_id=row["provider"]).total_price)


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("openai_usage.json", "openai_usage"),
        ("openai_costs.json", "openai_costs"),
        ("anthropic_usage.json", "anthropic_usage"),
        ("anthropic_costs.json", "anthropic_costs"),
        ("litellm_spend_logs.csv", "litellm"),
        ("litellm_spend_logs.jsonl", "litellm"),
        ("otlp_traces.json", "otlp_json"),
    ],
)
def test_detect_format_names_each_fixture(name, fmt):
    assert detect_format(FIXTURES / name) == fmt


def test_detect_format_leaves_canonical_files_alone(tmp_path):
    jsonl = tmp_path / "events.jsonl"
    jsonl.write_text('{"timestamp": "2025-06-01T00:00:00Z", "model": "gpt-4o", "input_tokens": 1}\n')
    csv = tmp_path / "events.csv"
    csv.write_text("timestamp,model,input_tokens\n2025-06-01T00:00:00Z,gpt-4o,1\n")
    assert detect_format(jsonl) is None
    assert detect_format(csv) is None


def test_openai_usage_buckets_map_to_events_with_request_counts():
    rows = read_source(FIXTURES / "openai_usage.json", "openai_usage").to_pylist()
    assert len(rows) == 3  # the all-zero bucket result is skipped
    first = rows[0]
    assert first["api_key_id"] == "key_support01"
    assert first["provider"] == "openai"
    assert first["requests"] == 40
    assert first["input_tokens"] == 120000  # already includes the cached part
    assert first["cache_read_tokens"] == 80000
    assert first["timestamp"].isoformat() == "2025-06-01T00:00:00+00:00"
    # a result not grouped by key falls back to its project id for attribution
    assert rows[2]["api_key_id"] == "proj_support"
    assert len({r["request_id"] for r in rows}) == 3


def test_anthropic_usage_adds_disjoint_cache_parts_into_input():
    rows = read_source(FIXTURES / "anthropic_usage.json", "anthropic_usage").to_pylist()
    sonnet = next(r for r in rows if r["model"] == "claude-sonnet-4-20250514")
    assert sonnet["input_tokens"] == 1000 + 2000 + 500
    assert sonnet["cache_read_tokens"] == 2000
    assert sonnet["cache_write_tokens"] == 500
    assert sonnet["api_key_id"] == "apikey_01Rj2N8SVvo6BePZj99NhmiT"


def test_anthropic_disjoint_and_openai_style_inclusive_usage_cost_the_same():
    anthropic = next(
        r
        for r in read_source(FIXTURES / "anthropic_usage.json", "anthropic_usage").to_pylist()
        if r["model"] == "claude-sonnet-4-20250514"
    )
    # the same call as an OTel GenAI span reports it (inclusive input) and as LiteLLM logs it
    otel = next(
        r
        for r in read_source(FIXTURES / "otlp_traces.json", "otlp_json").to_pylist()
        if r["model"] == "claude-sonnet-4-20250514"
    )
    litellm = next(
        r
        for r in read_source(FIXTURES / "litellm_spend_logs.csv", "litellm").to_pylist()
        if r["model"] == "claude-sonnet-4-20250514"
    )
    expected = 1000 * 3e-6 + 2000 * 0.3e-6 + 500 * 3.75e-6 + 300 * 15e-6
    for row in (anthropic, otel, litellm):
        assert _price(row) == pytest.approx(expected)
    assert litellm["cost_usd"] == pytest.approx(expected)  # LiteLLM's own spend agrees


def _anthropic_day(*results: dict) -> dict:
    """One day of an Anthropic usage report grouped by model and context window."""
    base = {"uncached_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "model": "claude-sonnet-4-5-20250929", "workspace_id": "wrkspc_01"}
    day = {"starting_at": "2025-11-24T00:00:00Z", "ending_at": "2025-11-25T00:00:00Z",
           "results": [{**base, **r} for r in results]}
    return {"data": [day], "has_more": False, "next_page": None}


def test_anthropic_daily_buckets_are_priced_at_the_tier_of_their_context_window(tmp_path):
    """QA otlp2 bug 2: a busy day's "0-200k" bucket was priced as one 1M-token request (long tier, 2x)."""
    from brain.ingest.detect import ingest_source
    from brain.store.database import Store

    export = tmp_path / "anthropic_usage.json"
    export.write_text(json.dumps(_anthropic_day(
        {"uncached_input_tokens": 900_000, "cache_read_input_tokens": 100_000, "output_tokens": 20_000,
         "context_window": "0-200k"},
        {"uncached_input_tokens": 600_000, "output_tokens": 3_000, "context_window": "200k-1M"},
        {"uncached_input_tokens": 450_000, "output_tokens": 3_000},  # not grouped by window: the standard one
    )))
    model = "claude-sonnet-4-5-20250929"

    def price(n: int, inp: int, cached: int, out: int) -> float:
        """n requests sharing the tokens evenly, priced one by one (calc_price picks each one's tier)."""
        usage = Usage(input_tokens=inp // n, cache_read_tokens=cached // n, output_tokens=out // n)
        return n * float(calc_price(usage, model_ref=model, provider_id="anthropic").total_price)

    expected = [
        (5, price(5, 1_000_000, 100_000, 20_000)),  # five requests of 200k: base tier
        (1, price(1, 600_000, 0, 3_000)),           # past 200k: long-context tier
        (3, price(3, 450_000, 0, 3_000)),           # three requests of 150k: base tier
    ]
    rows = sorted(read_source(export, "anthropic_usage").to_pylist(), key=lambda r: -r["input_tokens"])
    assert [r["requests"] for r in rows] == [n for n, _ in expected]
    with Store(tmp_path / "s.duckdb") as store:
        ingest_source(store, export, "anthropic_usage")
        costs = [c for (c,) in store.con.execute(
            "SELECT cost_est_usd FROM events ORDER BY input_tokens DESC").fetchall()]
    assert costs == pytest.approx([cost for _, cost in expected])
    assert costs[0] == pytest.approx(1_000_000 * 3e-6 - 100_000 * 2.7e-6 + 20_000 * 15e-6)  # $3/$0.30/$15 per MTok


def test_openai_usage_prices_cached_input_at_the_cached_rate():
    row = read_source(FIXTURES / "openai_usage.json", "openai_usage").to_pylist()[0]
    expected = 40000 * 2.5e-6 + 80000 * 1.25e-6 + 30000 * 10e-6
    assert _price(row) == pytest.approx(expected)


def test_litellm_csv_and_jsonl_map_the_documented_columns():
    csv_rows = read_source(FIXTURES / "litellm_spend_logs.csv", "litellm").to_pylist()
    assert [r["request_id"] for r in csv_rows] == ["chatcmpl-001", "chatcmpl-002", "chatcmpl-003"]
    ok, failed, research = csv_rows
    assert ok["cost_usd"] == pytest.approx(0.0065)
    assert ok["cache_read_tokens"] == 800
    assert ok["run_id"] == "sess-1"
    assert ok["api_key_id"].startswith("88dc28d0")
    assert failed["status"] == "error"
    assert research["agent"] == "research-agent"
    assert research["model"] == "claude-sonnet-4-20250514"  # provider prefix stripped
    jsonl_rows = read_source(FIXTURES / "litellm_spend_logs.jsonl", "litellm").to_pylist()
    assert [r["cache_read_tokens"] for r in jsonl_rows] == [800, 0]
    assert all(r["timestamp"].tzinfo is not None for r in jsonl_rows)


def test_cost_reports_are_read_in_dollars():
    openai = read_cost_source(FIXTURES / "openai_costs.json", "openai_costs").to_pylist()
    assert {r["model"] for r in openai} == {"gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18"}
    assert sum(r["amount_usd"] for r in openai) == pytest.approx(0.6135)
    anthropic = read_cost_source(FIXTURES / "anthropic_costs.json", "anthropic_costs").to_pylist()
    # amounts are decimal strings in cents
    assert sum(r["amount_usd"] for r in anthropic) == pytest.approx(0.009975 + 0.064)
    assert len({r["row_key"] for r in anthropic}) == 2


def test_every_adapter_returns_the_canonical_schema():
    for name, fmt in [
        ("openai_usage.json", "openai_usage"),
        ("anthropic_usage.json", "anthropic_usage"),
        ("litellm_spend_logs.csv", "litellm"),
        ("otlp_traces.json", "otlp_json"),
    ]:
        assert read_source(FIXTURES / name, fmt).schema == CANONICAL_SCHEMA


def test_cost_report_given_as_usage_says_so():
    with pytest.raises(IngestError, match="openai_costs.json: is a openai costs report"):
        read_source(FIXTURES / "openai_costs.json", "openai_costs")


@pytest.mark.parametrize(
    ("fmt", "content", "problem"),
    [
        ("openai_usage", '{"object": "page", "data": [', "not a readable JSON export"),
        ("openai_usage", '{"object": "page", "data": []}', "no usage buckets found"),
        (
            "openai_usage",
            json.dumps({"data": [{"start_time": 1, "results": [{"output_tokens": 1, "num_model_requests": 1}]}]}),
            "usage result #1 has no input_tokens",
        ),
        (
            "anthropic_usage",
            json.dumps({"data": [{"starting_at": "2025-06-01T00:00:00Z", "results": [{"output_tokens": 3}]}]}),
            "has no uncached_input_tokens",
        ),
        (
            "anthropic_costs",
            json.dumps({"data": [{"starting_at": "2025-06-01T00:00:00Z", "results": [{"amount": "abc", "currency": "USD"}]}]}),
            "cost amount 'abc' is not a decimal number of cents",
        ),
        (
            "openai_costs",
            json.dumps({"data": [{"start_time": 1, "results": [{"amount": {"value": 1, "currency": "eur"}}]}]}),
            "only USD costs are supported, found EUR",
        ),
        ("otlp_json", '{"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": 5}]}]}]}', "malformed OTLP JSON"),
        ("otlp_json", '{"hello": 1}', "has no resourceSpans"),
    ],
)
def test_malformed_files_name_the_file_and_the_problem(tmp_path, fmt, content, problem):
    path = tmp_path / "broken_export.json"
    path.write_text(content)
    reader = read_cost_source if fmt.endswith("costs") else read_source
    with pytest.raises(IngestError) as exc:
        reader(path, fmt)
    assert "broken_export.json" in str(exc.value)
    assert problem in str(exc.value)


def test_litellm_export_without_required_columns_is_refused(tmp_path):
    path = tmp_path / "spend.csv"
    path.write_text("request_id,spend\nabc,0.1\n")
    with pytest.raises(IngestError, match=r"spend.csv: not a LiteLLM spend log: missing column\(s\) startTime, model"):
        read_source(path, "litellm")


def test_litellm_bad_timestamp_names_the_row(tmp_path):
    path = tmp_path / "spend.csv"
    path.write_text("request_id,spend,prompt_tokens,startTime,model\na,0.1,1,2025-06-01,gpt-4o\nb,0.1,1,yesterday,gpt-4o\n")
    with pytest.raises(IngestError, match="spend.csv: row 2: startTime 'yesterday' is not a timestamp"):
        read_source(path, "litellm")


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(IngestError, match="nope.json: no such file"):
        read_source(tmp_path / "nope.json", "openai_usage")


@pytest.mark.e2e
@pytest.mark.parametrize(("name", "fmt"), [("openai_usage.json", "openai_usage"), ("anthropic_usage.json", "anthropic_usage")])
def test_export_downloaded_again_with_a_grown_bucket_replaces_it(tmp_path, name, fmt):
    from brain.ingest.detect import ingest_source
    from brain.store.database import Store

    page = json.loads((FIXTURES / name).read_text())
    last = page["data"][-1]["results"][0]
    for k in ("input_tokens", "uncached_input_tokens", "output_tokens", "num_model_requests"):
        if k in last:
            last[k] *= 3  # today's partial bucket, downloaded again in the evening
    grown = tmp_path / name
    grown.write_text(json.dumps(page))
    totals = "SELECT sum(requests), sum(input_tokens), sum(output_tokens), round(sum(cost_usd), 9) FROM rollup_daily"
    with Store(tmp_path / "twice.duckdb") as twice, Store(tmp_path / "once.duckdb") as once:
        ingest_source(twice, FIXTURES / name, fmt)
        report = ingest_source(twice, grown, fmt)
        assert (report.accepted, report.replaced) == (0, 1)
        ingest_source(once, grown, fmt)
        assert twice.con.execute(totals).fetchall() == once.con.execute(totals).fetchall()
        assert twice.con.execute("SELECT bool_and(bucketed) FROM events").fetchall() == [(True,)]


@pytest.mark.e2e
def test_a_fixed_export_named_by_a_relative_path_clears_its_quarantine(tmp_path, monkeypatch):
    """Export rows keep the file's absolute path, as canonical files do: the same file named two
    ways is one source, and ingesting it fixed supersedes its quarantined rows."""
    from brain.ingest.paths import ingest_paths
    from brain.ingest.quarantine import quarantine_report
    from brain.store.database import Store

    text = (FIXTURES / "litellm_spend_logs.csv").read_text()
    path = tmp_path / "logs" / "spend.csv"
    path.parent.mkdir()
    path.write_text(text.replace(",0.0065,1500,1000,500,", ",0.0065,1500,-1000,500,", 1))
    monkeypatch.chdir(tmp_path)
    with Store(tmp_path / "s.duckdb") as store:
        assert ingest_paths(store, ["logs/spend.csv"])["quarantined"] == 1
        assert quarantine_report(store)["rows"][0]["source_file"] == str(path)
        path.write_text(text)
        assert ingest_paths(store, [str(path)])["quarantined"] == 0
        assert quarantine_report(store)["total"] == 0
        assert store.con.execute("SELECT DISTINCT source_file FROM events").fetchall() == [(str(path),)]


def test_a_litellm_csv_saved_with_a_byte_order_mark_is_recognised(tmp_path):
    path = tmp_path / "spend.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (FIXTURES / "litellm_spend_logs.csv").read_bytes())
    assert detect_format(path) == "litellm"
    assert read_source(path, "litellm").to_pylist() == read_source(FIXTURES / "litellm_spend_logs.csv", "litellm").to_pylist()


def _quarantined(store) -> dict[str, str]:
    """request_id -> reason of each quarantined row."""
    from brain.ingest.quarantine import quarantine_report

    return {json.loads(r["raw"])["request_id"]: r["reason"] for r in quarantine_report(store)["rows"]}


def test_litellm_bad_token_and_spend_values_are_quarantined_with_reasons(tmp_path):
    from brain.ingest.detect import ingest_source
    from brain.store.database import Store

    row = "{},k1,{},{},100,2025-06-03T10:0{}:00Z,{},openai,{{}},success"
    rows = [("bad-1", "0.01", "abc", "gpt-4o"), ("bad-2", "0.01", "-50", "gpt-4o"),
            ("bad-3", "0.01", "1000.7", "gpt-4o"), ("bad-4", "0.01", "1000", ""), ("good-5", "0.01", "1000", "gpt-4o"),
            ("bad-6", "notanumber", "1000", "gpt-4o"), ("bad-7", "0.01", "99999999999999999999999", "gpt-4o"),
            ("good-8", "", "1000.0", "gpt-4o")]
    path = tmp_path / "ll_bad.csv"
    path.write_text("request_id,api_key,spend,prompt_tokens,completion_tokens,startTime,model,custom_llm_provider,"
                    "metadata,status\n" + "\n".join(row.format(r, s, p, i, m) for i, (r, s, p, m) in enumerate(rows)))
    with Store(tmp_path / "s.duckdb") as store:
        report = ingest_source(store, path, "litellm")
        assert (report.accepted, report.quarantined) == (2, 6)
        assert _quarantined(store) == {
            "bad-1": "non-numeric input_tokens", "bad-2": "negative input_tokens",
            "bad-3": "non-integer input_tokens", "bad-4": "missing model", "bad-6": "invalid cost_usd",
            "bad-7": "implausible input_tokens",
        }
        kept = store.con.execute("SELECT request_id, input_tokens, cost_usd FROM events ORDER BY 1").fetchall()
        assert kept == [("good-5", 1000, 0.01), ("good-8", 1000, None)]


def test_otlp_json_file_quarantines_its_bad_spans_and_keeps_the_rest(tmp_path):
    from brain.ingest.detect import ingest_source
    from brain.store.database import Store

    def span(rid, value, start="1748772000000000000"):
        return {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": f"{len(rid):016x}",
                "startTimeUnixNano": start, "attributes": [
                    {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-2024-08-06"}},
                    {"key": "gen_ai.usage.input_tokens", "value": value},
                    {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "100"}},
                    {"key": "gen_ai.response.id", "value": {"stringValue": rid}}]}

    spans = [span("good", {"intValue": "1000"}), span("neg", {"intValue": "-1"}),
             span("huge", {"intValue": "100000000000000000000"}), span("frac", {"doubleValue": 1000.7}),
             span("abc", {"intValue": "abc"}), span("late", {"intValue": "5"}, start="100000000000000000000"),
             span("whole", {"doubleValue": 1000.0})]
    path = tmp_path / "otlp_bad.json"
    path.write_text(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}))
    with Store(tmp_path / "s.duckdb") as store:
        report = ingest_source(store, path, "otlp_json")
        assert (report.accepted, report.quarantined) == (2, 5)
        assert _quarantined(store) == {
            "neg": "negative input_tokens", "huge": "implausible input_tokens", "frac": "non-integer input_tokens",
            "abc": "non-numeric input_tokens", "late": "unparseable timestamp",
        }
        assert store.con.execute("SELECT request_id FROM events ORDER BY 1").fetchall() == [("good",), ("whole",)]
