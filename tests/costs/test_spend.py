"""Spend at query time: attribution order, re-attribution, totals that add up, run-rate, notes."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brain.costs.spend import (
    agent_card,
    agent_cost_fields,
    daily_agent_series,
    hourly_agent_series,
    make_window,
    spend_report,
)
from brain.errors import BrainError
from brain.graph.identity import AgentIdentity
from brain.ingest import ingest_table
from brain.store.database import Store

NOW = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)
SUPPORT = AgentIdentity(
    node_id="Agents/Support Agent", name="Support Agent", agent_id="support-agent",
    aliases=("Helpdesk Bot",), api_keys=("key_support",), service_names=("support-svc",),
    owner="Ada Lovelace", team="Platform",
)
RESEARCH = AgentIdentity(
    node_id="Agents/Research Assistant", name="Research Assistant", agent_id="research",
    api_keys=("key_research",), owner="Grace Hopper", team="Research",
)
IDENTITIES = [SUPPORT, RESEARCH]
COLUMNS = ["timestamp", "agent", "api_key_id", "service_name", "provider", "model", "input_tokens",
           "output_tokens", "requests", "run_id", "request_id", "status"]


def _rows(specs: list[dict]) -> pa.Table:
    base = {"provider": "openai", "model": "gpt-4o-mini", "input_tokens": 1000, "output_tokens": 100,
            "agent": None, "api_key_id": None, "service_name": None, "requests": 1, "run_id": None,
            "status": "ok"}
    rows = [{**base, **s, "request_id": s.get("request_id", f"r{i}")} for i, s in enumerate(specs)]
    return pa.Table.from_pylist([{c: r.get(c) for c in COLUMNS} for r in rows])


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "u.duckdb")
    yield s
    s.close()


def _by_group(report: dict) -> dict:
    return {r["group"]: r for r in report["rows"]}


@pytest.mark.e2e
def test_attribution_follows_agent_field_then_key_then_service(store):
    day = NOW - timedelta(days=1)
    ingest_table(store, _rows([
        {"timestamp": day, "agent": "SUPPORT-AGENT"},                  # agent id, any case
        {"timestamp": day, "agent": "helpdesk bot"},                   # alias
        {"timestamp": day, "agent": "Research Assistant", "api_key_id": "key_support"},  # agent wins
        {"timestamp": day, "api_key_id": "key_research"},              # key
        {"timestamp": day, "service_name": "support-svc"},             # service
        {"timestamp": day, "api_key_id": "key_dev_42"},                # nobody
        {"timestamp": day, "agent": "weekend-script"},                 # unknown agent name
    ]), "t")
    report = spend_report(store, IDENTITIES, by="agent", now=NOW)
    groups = _by_group(report)
    assert groups["Support Agent"]["requests"] == 3
    assert groups["Support Agent"]["agent_id"] == "support-agent"
    assert groups["Research Assistant"]["requests"] == 2
    assert groups["unattributed:key_dev_42"]["attributed"] is False
    assert "unattributed:weekend-script" in groups
    assert report["unattributed_usd"] == pytest.approx(
        groups["unattributed:key_dev_42"]["spend_usd"] + groups["unattributed:weekend-script"]["spend_usd"]
    )


def test_claiming_a_key_in_a_note_reattributes_history_without_reingest(store):
    ingest_table(store, _rows([{"timestamp": NOW - timedelta(days=d), "api_key_id": "key_dev_42"} for d in range(5)]), "t")
    before = spend_report(store, IDENTITIES, now=NOW)
    assert before["unattributed_usd"] == before["total_usd"] > 0
    edited = [SUPPORT, AgentIdentity(**{**RESEARCH.__dict__, "api_keys": ("key_research", "KEY_DEV_42")})]
    after = spend_report(store, edited, now=NOW)
    assert after["unattributed_usd"] == 0
    assert _by_group(after)["Research Assistant"]["requests"] == 5
    assert after["total_usd"] == before["total_usd"]


def test_run_rate_projection_and_change_vs_previous(store):
    specs = []
    for d in range(60):  # $ grows: 1 request/day for the older 30 days, 2/day for the recent 30
        ts = datetime(2025, 6, 30, 1, tzinfo=UTC) - timedelta(days=d)
        for k in range(1 if d >= 30 else 2):
            specs.append({"timestamp": ts + timedelta(minutes=k), "agent": "support-agent", "run_id": f"run{d}"})
    ingest_table(store, _rows(specs), "t")
    row = _by_group(spend_report(store, IDENTITIES, days=30, now=NOW))["Support Agent"]
    one = row["spend_usd"] / 60  # cost of one request
    assert row["requests"] == 60 and row["runs"] == 30
    assert row["change_vs_previous_pct"] == pytest.approx(100.0)
    # trailing 7 days: 14 requests over 6.5 elapsed days (today is half over)
    assert row["run_rate_usd_per_day"] == pytest.approx(14 * one / 6.5, rel=1e-6)
    assert row["projected_30d_usd"] == pytest.approx(row["run_rate_usd_per_day"] * 30, rel=1e-6)
    # Q2 ends tomorrow at midnight: quarter-to-date (91 days, 2/day last 30) + half a day of run-rate
    assert row["projected_quarter_usd"] == pytest.approx(90 * one + row["run_rate_usd_per_day"] * 0.5, rel=1e-6)
    assert row["cost_per_run_usd"] == pytest.approx(row["spend_usd"] / 30)
    assert row["cost_per_1k_runs_usd"] == pytest.approx(row["cost_per_run_usd"] * 1000)
    assert row["cost_per_request_usd"] == pytest.approx(one)


@pytest.mark.e2e
def test_run_rate_is_the_trailing_seven_days_whatever_the_window(store):
    specs = [{"timestamp": datetime(2025, 6, 30, 1, tzinfo=UTC) - timedelta(days=d, minutes=k), "agent": "support-agent"}
             for d in range(20) for k in range(d % 3 + 1)]
    ingest_table(store, _rows(specs), "t")
    one = _by_group(spend_report(store, IDENTITIES, days=1, now=NOW))["Support Agent"]["cost_per_request_usd"]
    rates = {days: _by_group(spend_report(store, IDENTITIES, days=days, now=NOW))["Support Agent"]
             for days in (1, 2, 7, 30)}
    last7 = sum(d % 3 + 1 for d in range(7))  # 6 full days and today's first half
    assert len({r["run_rate_usd_per_day"] for r in rates.values()}) == 1
    assert len({r["projected_30d_usd"] for r in rates.values()}) == 1
    assert rates[1]["run_rate_usd_per_day"] == pytest.approx(last7 * one / 6.5, rel=1e-9)
    # a window ending in the past: its last 7 whole days
    past = _by_group(spend_report(store, IDENTITIES, until="2025-06-25", now=NOW))["Support Agent"]
    assert past["run_rate_usd_per_day"] == pytest.approx(sum(d % 3 + 1 for d in range(5, 12)) * one / 7, rel=1e-9)


def test_attribution_matches_either_unicode_form(store):
    """A name written decomposed (NFD, as macOS tools often write it) is the note's name."""
    arzte = AgentIdentity(node_id="Agents/\u00c4rzte Bot", name="\u00c4rzte Bot", agent_id="arzte-bot")
    ingest_table(store, _rows([{"timestamp": NOW - timedelta(days=1), "agent": "A\u0308rzte bot"}]), "t")
    report = spend_report(store, [*IDENTITIES, arzte], now=NOW)
    assert [r["group"] for r in report["rows"]] == ["\u00c4rzte Bot"] and report["unattributed_usd"] == 0


@pytest.mark.e2e
def test_wholly_unattributed_spend_leaves_exactly_nothing_attributed(tmp_path):
    """Rounding each group's figure must not leave a stray -$0.000000001 "attributed"."""
    notes = [{"provider": "openai", "model": "gpt-4o-mini", "discount_pct": 13},
             {"provider": "openai", "model": "gpt-4o", "input_mtok": 2.3711}]
    for seed in range(5):
        rnd = random.Random(seed)
        specs = [{"timestamp": NOW - timedelta(minutes=rnd.randrange(30 * 1440)), "api_key_id": f"key_{rnd.randrange(60)}",
                  "model": rnd.choice(["gpt-4o-mini", "gpt-4o", "gpt-4.1-nano", "gpt-4.1"]),
                  "input_tokens": rnd.randrange(1, 50000), "output_tokens": rnd.randrange(5000)} for _ in range(400)]
        with Store(tmp_path / f"{seed}.duckdb") as store:
            ingest_table(store, _rows(specs), "t")
            for by in ("agent", "model", "key", "owner"):
                report = spend_report(store, IDENTITIES, by=by, days=30, now=NOW, price_notes=notes)
                assert report["attributed_usd"] == 0.0, (seed, by)
                assert report["unattributed_usd"] == report["total_usd"] > 0, (seed, by)


def test_groupings_by_owner_team_model_provider_key(store):
    day = NOW - timedelta(days=2)
    ingest_table(store, _rows([
        {"timestamp": day, "agent": "support-agent", "api_key_id": "key_support"},
        {"timestamp": day, "agent": "research", "model": "gpt-4o", "api_key_id": "key_research"},
        {"timestamp": day, "api_key_id": "key_dev", "provider": "anthropic", "model": "claude-3-5-haiku"},
    ]), "t")
    assert set(_by_group(spend_report(store, IDENTITIES, by="owner", now=NOW))) == {
        "Ada Lovelace", "Grace Hopper", "unattributed"}
    assert set(_by_group(spend_report(store, IDENTITIES, by="team", now=NOW))) == {"Platform", "Research", "unattributed"}
    assert set(_by_group(spend_report(store, IDENTITIES, by="model", now=NOW))) == {
        "gpt-4o-mini", "gpt-4o", "claude-3-5-haiku"}
    assert set(_by_group(spend_report(store, IDENTITIES, by="provider", now=NOW))) == {"openai", "anthropic"}
    by_key = spend_report(store, IDENTITIES, by="key", now=NOW)
    assert set(_by_group(by_key)) == {"key_support", "key_research", "key_dev"}
    assert by_key["unattributed_usd"] == pytest.approx(_by_group(by_key)["key_dev"]["spend_usd"])
    with pytest.raises(BrainError, match="cannot group spend by 'colour'; use one of agent, owner, team, model, provider, key"):
        spend_report(store, IDENTITIES, by="colour", now=NOW)


@pytest.mark.e2e
def test_price_notes_override_discount_and_price_unknown_models(store):
    ingest_table(store, _rows([
        {"timestamp": datetime(2025, 6, 10, tzinfo=UTC), "agent": "support-agent"},
        {"timestamp": datetime(2025, 6, 20, tzinfo=UTC), "agent": "support-agent"},
        {"timestamp": datetime(2025, 6, 20, tzinfo=UTC), "agent": "research", "provider": "self",
         "model": "llama-local", "input_tokens": 2_000_000, "output_tokens": 1_000_000},
    ]), "t")
    plain = spend_report(store, IDENTITIES, now=NOW)
    assert plain["unpriced_requests"] == 1 and plain["unpriced_tokens"] == 3_000_000
    notes = [
        {"provider": "openai", "model": "GPT-4o-mini", "discount_pct": 50, "valid_from": "2025-06-15"},
        {"model": "llama-local", "input_mtok": 0.5, "output_mtok": "$1.0"},
    ]
    noted = spend_report(store, IDENTITIES, price_notes=notes, now=NOW)
    groups, plain_groups = _by_group(noted), _by_group(plain)
    assert groups["Support Agent"]["spend_usd"] == pytest.approx(plain_groups["Support Agent"]["spend_usd"] * 0.75)
    assert groups["Research Assistant"]["spend_usd"] == pytest.approx(2.0)
    assert noted["unpriced_requests"] == 0


def test_a_group_of_unpriced_usage_has_an_unknown_cost_not_zero(store):
    # Research runs only a model genai-prices does not know; Support mixes it with a priced one.
    ingest_table(store, _rows([
        {"timestamp": NOW - timedelta(days=2), "agent": "research", "provider": "self", "model": "llama-local"},
        {"timestamp": NOW - timedelta(days=1), "agent": "research", "provider": "self", "model": "llama-local"},
        {"timestamp": NOW - timedelta(days=1), "agent": "support-agent"},
        {"timestamp": NOW - timedelta(days=1), "agent": "support-agent", "provider": "self", "model": "llama-local"},
    ]), "t")
    groups = _by_group(spend_report(store, IDENTITIES, now=NOW))
    research, support = groups["Research Assistant"], groups["Support Agent"]
    assert research["requests"] == 2 and research["unpriced_requests"] == 2
    for field in ("spend_usd", "cost_per_request_usd", "cost_per_run_usd", "cost_per_1k_runs_usd",
                  "run_rate_usd_per_day", "projected_30d_usd", "projected_quarter_usd", "share_pct"):
        assert research[field] is None, field
    assert set(research["spend_by_token_type_usd"].values()) == {None}
    assert support["spend_usd"] > 0 and support["unpriced_requests"] == 1
    assert support["cost_per_request_usd"] == pytest.approx(support["spend_usd"])  # the priced request only
    by_model = _by_group(spend_report(store, IDENTITIES, by="model", now=NOW))
    assert by_model["llama-local"]["spend_usd"] is None and by_model["gpt-4o-mini"]["spend_usd"] > 0
    card = agent_card(store, RESEARCH, days=7, now=NOW, identities=IDENTITIES)
    assert card["spend_usd"] is None and card["models"][0]["spend_usd"] is None
    assert [d["spend_usd"] for d in card["daily"] if d["requests"]] == [None, None]
    assert [d["spend_usd"] for d in card["daily"] if not d["requests"]] == [0.0] * 5
    assert agent_cost_fields(store, IDENTITIES, now=NOW)[RESEARCH.node_id]["spend_usd"] is None


@pytest.mark.e2e
def test_agent_card_and_cost_fields(store):
    ingest_table(store, _rows([{"timestamp": NOW - timedelta(days=d, hours=1), "agent": "support-agent",
                                "run_id": f"x{d}"} for d in range(10)]), "t")
    card = agent_card(store, SUPPORT, days=14, now=NOW, identities=IDENTITIES)
    assert card["requests"] == 10 and card["owner"] == "Ada Lovelace" and len(card["daily"]) == 14
    assert sum(d["requests"] for d in card["daily"]) == 10 and card["daily"][-1]["day"] == "2025-06-30"
    assert card["models"][0]["model"] == "gpt-4o-mini"
    assert card["spend_by_token_type_usd"]["input"] > 0
    empty = agent_card(store, RESEARCH, now=NOW)
    assert empty["spend_usd"] == 0 and empty["requests"] == 0
    fields = agent_cost_fields(store, IDENTITIES, now=NOW)
    assert set(fields) == {SUPPORT.node_id, RESEARCH.node_id}
    assert fields[SUPPORT.node_id]["spend_usd"] == pytest.approx(agent_card(store, SUPPORT, now=NOW)["spend_usd"])
    assert fields[RESEARCH.node_id]["spend_usd"] == 0


def test_hourly_and_daily_series_for_the_anomaly_engine(store):
    t = datetime(2025, 6, 29, 10, 15, tzinfo=UTC)
    ingest_table(store, _rows([
        {"timestamp": t, "agent": "support-agent", "api_key_id": "k1", "run_id": "a"},
        {"timestamp": t, "agent": "support-agent", "api_key_id": "k2", "run_id": "a", "status": "error"},
        {"timestamp": t, "api_key_id": "key_dev"},
    ]), "t")
    hourly = hourly_agent_series(store, IDENTITIES, NOW - timedelta(days=3), NOW)
    assert hourly.column_names == ["agent", "hour", "provider", "model", "requests", "error_requests", "runs",
                                   "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
                                   "reasoning_tokens", "unpriced_requests", "cost_usd", "input_tokens_p95",
                                   "output_tokens_p95"]
    rows = {r["agent"]: r for r in hourly.to_pylist()}
    assert rows[SUPPORT.node_id]["requests"] == 2 and rows[SUPPORT.node_id]["error_requests"] == 1
    assert rows[SUPPORT.node_id]["hour"] == datetime(2025, 6, 29, 10, tzinfo=UTC)
    assert "unattributed:key_dev" in rows
    daily = daily_agent_series(store, IDENTITIES, NOW - timedelta(days=3), NOW)
    assert "day" in daily.column_names and daily.num_rows == 2


def test_window_bounds():
    w = make_window(30, now=NOW)
    assert w.start == datetime(2025, 6, 1, tzinfo=UTC) and w.end == datetime(2025, 7, 1, tzinfo=UTC)
    w = make_window(since="2025-01-01", until="2025-01-31", now=NOW)
    assert w.days == 31
    with pytest.raises(BrainError, match="since must be before until"):
        make_window(since="2025-02-01", until="2025-01-01", now=NOW)


_event = st.fixed_dictionaries({
    "hours_ago": st.integers(0, 24 * 70),
    "agent": st.sampled_from([None, "support-agent", "Research Assistant", "ghost"]),
    "api_key_id": st.sampled_from([None, "key_support", "key_x"]),
    "service_name": st.sampled_from([None, "support-svc", "svc-y"]),
    "model": st.sampled_from(["gpt-4o-mini", "gpt-4o", "claude-3-5-haiku", "home-made"]),
    "input_tokens": st.integers(0, 50_000),
    "output_tokens": st.integers(0, 5_000),
    "requests": st.integers(1, 4),
})


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(_event, min_size=1, max_size=30), by=st.sampled_from(
    ["agent", "owner", "team", "model", "provider", "key"]), days=st.integers(1, 60))
@pytest.mark.e2e
def test_totals_always_add_up(tmp_path_factory, events, by, days):
    store = Store(tmp_path_factory.mktemp("p") / "u.duckdb")
    specs = [{**{k: v for k, v in e.items() if k != "hours_ago"},
              "timestamp": NOW - timedelta(hours=e["hours_ago"]),
              "provider": "anthropic" if e["model"].startswith("claude") else "openai"} for e in events]
    ingest_table(store, _rows(specs), "p")
    report = spend_report(store, IDENTITIES, by=by, days=days, now=NOW)
    by_agent = spend_report(store, IDENTITIES, by="agent", days=days, now=NOW)
    rows = report["rows"]
    assert sum(r["spend_usd"] or 0 for r in rows) == pytest.approx(report["total_usd"], abs=1e-6)
    for r in rows:  # an unknown cost (every request unpriced) is None, never $0
        assert (r["spend_usd"] is None) == (r["requests"] > 0 and r["unpriced_requests"] == r["requests"])
    attributed = sum(r["spend_usd"] or 0 for r in by_agent["rows"] if r["attributed"])
    assert attributed + by_agent["unattributed_usd"] == pytest.approx(report["total_usd"], abs=1e-5)
    assert report["unattributed_usd"] == pytest.approx(by_agent["unattributed_usd"], abs=1e-5)
    assert report["unpriced_requests"] == by_agent["unpriced_requests"]
    in_window = [s for s in specs if s["timestamp"] >= make_window(days, now=NOW).start]
    assert report["requests"] == sum(s["requests"] for s in in_window)
    assert report["unpriced_requests"] == sum(s["requests"] for s in in_window if s["model"] == "home-made")
    store.close()


def _vault(tmp_path):
    vault = tmp_path / "vault"
    (vault / "Agents").mkdir(parents=True)
    (vault / "People").mkdir()
    (vault / "Agents" / "Support Agent.md").write_text(
        "---\ntype: agent\nagent_id: support-agent\nmodel: gpt-4o-mini\napi_keys: [key_support]\n"
        "owner: \"[[Ada Lovelace]]\"\n---\n# Support Agent\n"
    )
    (vault / "People" / "Ada Lovelace.md").write_text("---\ntype: person\n---\n")
    return vault


@pytest.mark.e2e
def test_cli_ingest_spend_agent_and_quarantine(tmp_path, capsys):
    import json

    from brain.cli import main

    vault = _vault(tmp_path)
    today = datetime.now(UTC).replace(microsecond=0)
    lines = [
        {"timestamp": (today - timedelta(days=1)).isoformat(), "api_key_id": "key_support", "provider": "openai",
         "model": "gpt-4o-mini", "input_tokens": 1000, "output_tokens": 100, "request_id": "a"},
        {"timestamp": (today - timedelta(days=2)).isoformat(), "api_key_id": "key_dev", "provider": "openai",
         "model": "gpt-4o", "input_tokens": 1000, "output_tokens": 100, "request_id": "b"},
        {"timestamp": "not a time", "model": "gpt-4o"},
        {"timestamp": (today - timedelta(days=1)).isoformat(), "api_key_id": "key_support", "provider": "self",
         "model": "home-made", "input_tokens": 1000, "output_tokens": 100, "request_id": "c"},
    ]
    usage = tmp_path / "usage.jsonl"
    usage.write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert main(["ingest", str(usage), "--vault", str(vault), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accepted"] == 3
    assert main(["spend", "--vault", str(vault), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"rows", "total_usd", "unattributed_usd", "unpriced_requests"} <= set(report)
    top = {r["group"]: r for r in report["rows"]}
    assert top["Support Agent"]["agent_id"] == "support-agent" and "unattributed:key_dev" in top
    for key in ("spend_usd", "requests", "runs", "cost_per_request_usd", "cost_per_1k_runs_usd",
                "run_rate_usd_per_day", "projected_30d_usd"):
        assert key in top["Support Agent"]
    assert main(["spend", "--vault", str(vault), "--by", "model"]) == 0
    home_made = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("home-made"))
    assert home_made.split()[1] == "unpriced" and "$0 " not in home_made
    assert main(["spend", "--vault", str(vault), "--by", "owner"]) == 0
    assert "Ada Lovelace" in capsys.readouterr().out
    assert main(["agent", "support-agent", "--vault", str(vault)]) == 0
    out = capsys.readouterr().out
    assert "Support Agent" in out and "daily" in out and "Ada Lovelace" in out
    assert main(["agent", "Support Agent", "--vault", str(vault), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "gpt-4o-mini"
    assert main(["quarantine", "--vault", str(vault), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"][0]["reason"] == "unparseable timestamp"
    assert main(["ingest", str(tmp_path / "missing.jsonl"), "--vault", str(vault)]) == 1
    assert main(["agent", "nobody", "--vault", str(vault)]) == 1
    assert "Error:" in capsys.readouterr().err
    assert main(["agent", "KEY_DEV", "--vault", str(vault)]) == 1  # a key in usage that no note claims
    err = capsys.readouterr().err
    assert "no note named 'KEY_DEV'; usage names it: 1 request, $" in err and "api_keys" in err


def test_cli_spend_on_a_store_without_usage_says_how_to_get_some(tmp_path, capsys):
    from brain.cli import main
    from brain.store.database import Store

    vault = _vault(tmp_path)
    Store(vault / ".brain" / "usage.duckdb").close()  # what `brain serve` creates before any ingest
    assert main(["spend", "--vault", str(vault)]) == 0
    out = capsys.readouterr()
    assert "no usage has been ingested" in out.err and "brain ingest" in out.err


@pytest.mark.e2e
def test_an_exact_agent_name_beats_another_agents_alias(store):
    # Alpha has the alias "Beta", yet usage naming Beta (or beta-bot's id) is Beta's.
    alpha = AgentIdentity(node_id="Agents/Alpha", name="Alpha", agent_id="alpha", aliases=("Beta", "beta-bot"))
    beta = AgentIdentity(node_id="Agents/Beta", name="Beta", agent_id="beta-bot")
    ingest_table(store, _rows([
        {"timestamp": NOW - timedelta(days=1), "agent": "Beta"},
        {"timestamp": NOW - timedelta(days=1), "agent": "BETA-BOT"},
        {"timestamp": NOW - timedelta(days=1), "agent": "beta"},
    ]), "t")
    groups = _by_group(spend_report(store, [alpha, beta], now=NOW))
    assert set(groups) == {"Beta"} and groups["Beta"]["requests"] == 3
    assert agent_card(store, beta, now=NOW, identities=[alpha, beta])["requests"] == 3


def test_quarter_projection_of_a_past_window_is_as_of_its_end(store):
    # 7 days of $x up to Nov 14; the quarter ends Jan 1: 47 days after the window's end.
    ingest_table(store, _rows([
        {"timestamp": datetime(2026, 11, d, 12, tzinfo=UTC), "agent": "support-agent"} for d in range(8, 15)
    ]), "t")
    per_day = spend_report(store, IDENTITIES, since="2026-11-14", until="2026-11-14", now=NOW.replace(year=2026))
    x = per_day["total_usd"]
    expected = 7 * x + x * 47
    for now in (datetime(2026, 11, 29, 12, tzinfo=UTC), datetime(2026, 12, 20, 3, tzinfo=UTC)):
        row = spend_report(store, IDENTITIES, until="2026-11-14", now=now)["rows"][0]
        assert row["run_rate_usd_per_day"] == pytest.approx(x)
        assert row["projected_quarter_usd"] == pytest.approx(expected)


def test_window_dates_take_iso_times_in_utc_and_refuse_trailing_text():
    w = make_window(since="2026-11-28T23:00:00-05:00", until="2026-11-30T01:00:00+02:00", now=NOW)
    assert (w.start, w.end) == (datetime(2026, 11, 29, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC))
    assert make_window(until="2026-11-28T23:00:00", now=NOW).end == datetime(2026, 11, 29, tzinfo=UTC)
    with pytest.raises(BrainError, match="not a date"):
        make_window(until="2026-11-28x", now=NOW)


def test_a_run_on_two_models_is_one_run_of_its_agent_and_one_of_each_model(store):
    # a planner on one model and an executor on another: one user request, one run
    day = NOW - timedelta(days=2)
    ingest_table(store, _rows([
        {"timestamp": day, "agent": "research", "model": "gpt-4o", "run_id": "R1"},
        {"timestamp": day + timedelta(seconds=1), "agent": "research", "model": "gpt-4o-mini", "run_id": "R1"},
        {"timestamp": day + timedelta(seconds=2), "agent": "research", "model": "gpt-4o-mini", "run_id": "R1"},
        {"timestamp": day + timedelta(minutes=5), "agent": "research", "model": "gpt-4o-mini", "run_id": "R2"},
    ]), "t")
    research = _by_group(spend_report(store, IDENTITIES, by="agent", now=NOW))["Research Assistant"]
    assert research["runs"] == 2
    assert research["cost_per_run_usd"] == pytest.approx(research["spend_usd"] / 2)
    assert _by_group(spend_report(store, IDENTITIES, by="team", now=NOW))["Research"]["runs"] == 2
    by_model = _by_group(spend_report(store, IDENTITIES, by="model", now=NOW))
    assert (by_model["gpt-4o"]["runs"], by_model["gpt-4o-mini"]["runs"]) == (1, 2)
    hourly = hourly_agent_series(store, IDENTITIES, day - timedelta(hours=1), NOW)
    assert sum(hourly.column("runs").to_pylist()) == 2
