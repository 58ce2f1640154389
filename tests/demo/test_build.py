"""The demo company: its generated usage, its vault, and `brain init` / `brain demo` end to end."""

from __future__ import annotations

import io
import json
from collections import defaultdict
from contextlib import redirect_stdout
from datetime import UTC, datetime, timedelta
from pathlib import Path

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


# -- the vault: `brain init` and the demo company ------------------------------------------------


def test_init_copies_the_starter_vault(tmp_path):
    from brain.cli import main

    assert main(["init", str(tmp_path / "v")]) == 0
    assert (tmp_path / "v" / "Home.md").is_file()
    assert (tmp_path / "v" / ".obsidian" / "templates.json").is_file()
    assert (tmp_path / "v" / ".gitignore").is_file()


def test_init_refuses_a_non_empty_folder_unless_forced(tmp_path, capsys):
    from brain.cli import main

    (tmp_path / "mine.md").write_text("my notes\n")
    assert main(["init", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and "not empty" in err and err.count("\n") == 1
    assert not (tmp_path / "Home.md").exists()
    assert main(["init", str(tmp_path), "--force"]) == 0
    assert (tmp_path / "Home.md").is_file()
    assert (tmp_path / "mine.md").read_text() == "my notes\n"


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, dict]:
    """The demo built once through the CLI: its vault folder and its `--json` summary."""
    from brain.cli import main

    path = tmp_path_factory.mktemp("demo") / "demo-vault"
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["demo", str(path), "--seed", "7", "--days", "60", "--now", NOW.isoformat(), "--json"]) == 0
    return path, json.loads(out.getvalue())


def test_demo_vault_holds_the_company_and_only_the_gaps_we_planted(demo):
    from brain.graph.company import CompanyGraph
    from brain.vault.reader import read_vault

    vault = read_vault(demo[0])
    assert vault.issues == []
    graph = CompanyGraph.from_vault(vault)
    agents = {i.name for i in graph.agent_identities()}
    assert {"Support Agent", "Research Assistant", "Daily Summariser", "Lead Enricher"} <= agents
    assert len(agents) == 11
    assert "Meeting Notes Bot" not in agents, "the template's examples make way for the demo"
    assert len(graph.nodes_of_type("person")) == 13
    assert graph.owner_of("Support Agent")["team"] == "Platform"
    assert {d["name"] for d in graph.dependencies("Support Agent")} == {"Vector Store", "CRM"}
    kinds = sorted((g.kind, graph.name_of(g.node)) for g in graph.inventory_gaps())
    assert kinds == sorted(
        [("agent_without_owner", n) for n in ("Lead Enricher", "Slack Digest", "Changelog Drafter", "Competitor Watch")]
        + [("owner_unresolved", "Churn Predictor"), ("secret_in_note", "Churn Predictor"), ("broken_link", "Churn Predictor")]
    )
    assert graph.nodes_of_type("ghost") == ["Alex Moreno"]


def test_demo_change_notes_sit_at_the_onsets(demo):
    from brain.graph.company import CompanyGraph
    from brain.vault.reader import read_vault

    graph = CompanyGraph.from_vault(read_vault(demo[0]))
    changes = {graph.name_of(n): graph.node(n)["properties"] for n in graph.nodes_of_type("change")}
    by_kind = {p["kind"]: p for p in changes.values()}
    tl = Timeline(NOW, 60)
    assert by_kind["schedule"]["agent"] == "[[Daily Summariser]]"
    assert by_kind["schedule"]["date"] == tl.summariser_schedule_change.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert by_kind["prompt"]["agent"] == "[[Research Assistant]]"
    assert by_kind["prompt"]["date"] == tl.research_prompt_change.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert by_kind["deploy"]["expected_cost_change"] is True


def test_demo_usage_lands_in_the_store_fully_priced(demo):
    from brain.store.database import Store

    path, summary = demo
    with Store(path / ".brain" / "usage.duckdb", read_only=True) as store:
        (events, unpriced) = store.con.execute(
            "SELECT count(*), count(*) FILTER (WHERE cost_est_usd IS NULL) FROM events"
        ).fetchone()
    assert events == summary["events"] > 200_000
    assert unpriced == 0


def test_demo_prints_leaderboards_and_headline_costs(demo):
    summary = demo[1]
    agents = [r["group"] for r in summary["by_agent"]]
    assert agents[:2] == ["Support Agent", "Research Assistant"]
    support = summary["by_agent"][0]
    assert support["team"] == "Platform" and 35_000 <= support["runs"] <= 45_000
    assert summary["headline"]["research_cost_per_request_usd"] == pytest.approx(0.42, rel=0.1)
    assert summary["headline"]["research_cost_per_request_since_prompt_v4_usd"] == pytest.approx(0.84, rel=0.1)
    assert summary["headline"]["support_cost_per_conversation_usd"] == pytest.approx(0.03, rel=0.15)
    teams = {r["group"] for r in summary["by_team"]}
    assert {"Platform", "Research", "Data", "Developer Experience", "Sales", "unattributed"} <= teams
    totals = sum(r["spend_usd"] for r in summary["by_agent"]) + summary["unattributed_usd"]
    assert totals == pytest.approx(summary["total_usd"], abs=0.01)


def test_demo_lists_the_unclaimed_personal_keys(demo):
    unattributed = {r["group"] for r in demo[1]["unattributed_keys"]}
    unclaimed = {d.key for d in co.DEVELOPERS if not d.claimed_by}
    assert unclaimed <= unattributed
    assert not {d.key for d in co.DEVELOPERS if d.claimed_by} & unattributed
    assert co.OPS_SHARED_KEY in unattributed


def test_demo_anomalies_tell_the_three_stories_with_cause_and_change(demo):
    stories = {(a["agent"], a["cause"], tuple(a["changes"][:1])) for a in demo[1]["anomalies"]}
    tl = Timeline(NOW, 60)
    assert stories == {
        ("Lead Enricher", "volume", (f"{tl.loop_config_change:%Y-%m-%d} Lead Enricher retries on any error",)),
        ("Daily Summariser", "volume", (f"{tl.summariser_schedule_change:%Y-%m-%d} Daily Summariser moved to the shared scheduler",)),
        ("Research Assistant", "tokens_per_request", (f"{tl.research_prompt_change:%Y-%m-%d} Research Assistant prompt v4",)),
    }
    loop = next(a for a in demo[1]["anomalies"] if a["agent"] == "Lead Enricher")
    assert loop["severity"] == "critical" and "error_rate" in loop["supporting"]


def test_demo_prints_tables_on_a_terminal_run(demo, capsys):
    from brain.cli.demo_cmds import _print_summary

    _print_summary(demo[1])
    out = capsys.readouterr().out
    for needle in ("Spend by agent", "Spend by team", "Unattributed", "Inventory gaps", "Open anomalies"):
        assert needle in out


def test_demo_rebuilds_its_own_folder_but_refuses_someone_elses(demo, tmp_path):
    from brain.demo.build import build_demo
    from brain.errors import VaultError

    again = build_demo(demo[0], seed=7, days=60, now=NOW)
    assert again.accepted == demo[1]["events"]
    (tmp_path / "notes.md").write_text("mine\n")
    with pytest.raises(VaultError, match="not empty"):
        build_demo(tmp_path, now=NOW)


def test_demo_refuses_a_future_now(tmp_path, capsys):
    from brain.cli import main

    assert main(["demo", str(tmp_path / "d"), "--now", "2999-01-01T00:00:00Z"]) == 1
    assert "in the future" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("day", range(22, 29))
def test_story_dates_fall_where_the_stories_need_them(day):
    tl = Timeline(datetime(2026, 11, day, 12, tzinfo=UTC), 60)
    assert tl.research_prompt_change.weekday() < 5
    assert timedelta(days=3) <= tl.today - tl.research_prompt_change.replace(hour=0, minute=0) <= timedelta(days=5)
    start, end = tl.loop_window
    assert start.weekday() == 5 and end <= tl.today
    assert tl.loop_config_change < start < tl.now


SMALL = {"days": 5, "now": NOW}  # a quick demo: the rebuild rules, not the stories


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.relative_to(root).as_posix().startswith(".brain/")}


def _ingest_one_real_event(vault: Path, tmp_path: Path) -> None:
    from brain.cli import main

    line = {"timestamp": (NOW - timedelta(days=1)).isoformat(), "agent": "my-real-agent", "provider": "openai",
            "model": "gpt-4o-mini", "input_tokens": 1000, "output_tokens": 5, "requests": 1, "request_id": "real-1"}
    (tmp_path / "real.jsonl").write_text(json.dumps(line) + "\n", encoding="utf-8")
    with redirect_stdout(io.StringIO()):
        assert main(["ingest", str(tmp_path / "real.jsonl"), "--vault", str(vault)]) == 0


def _real_events(vault: Path) -> int:
    con = duckdb.connect(str(vault / ".brain" / "usage.duckdb"), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM events WHERE request_id = 'real-1'").fetchone()[0]
    finally:
        con.close()


def test_demo_rerun_never_deletes_usage_the_user_ingested(tmp_path):
    """Regression (QA safety bug 6): `brain demo` again on a demo vault deleted the whole store,
    the user's own usage with it, and overwrote demo notes they had edited; --force does not either."""
    from brain.demo.build import build_demo
    from brain.errors import VaultError

    vault = tmp_path / "demo-vault"
    build_demo(vault, seed=7, **SMALL)
    support = vault / "Agents" / "Support Agent.md"
    support.write_text(support.read_text(encoding="utf-8") + "My own escalation rules.\n", encoding="utf-8")
    _ingest_one_real_event(vault, tmp_path)
    before = _tree(vault)
    for force in (False, True):
        with pytest.raises(VaultError, match="1 usage event from 1 ingest that are not the demo's"):
            build_demo(vault, seed=2, force=force, **SMALL)
    assert _real_events(vault) == 1
    assert _tree(vault) == before


def test_demo_rerun_keeps_edited_notes_and_needs_force(tmp_path, capsys):
    """A changed demo vault is rebuilt only with --force, and then around the user's notes."""
    from brain.cli import main
    from brain.demo.build import build_demo
    from brain.errors import VaultError

    vault = tmp_path / "demo-vault"
    first = build_demo(vault, seed=7, **SMALL)
    support = vault / "Agents" / "Support Agent.md"
    edited = support.read_text(encoding="utf-8") + "My own escalation rules.\n"
    support.write_text(edited, encoding="utf-8")
    (vault / "People" / "Real Person.md").write_text("---\ntype: person\n---\nA real colleague\n", encoding="utf-8")
    with pytest.raises(VaultError, match=r"demo vault you have changed: 1 demo note edited \(Agents/Support Agent.md\)"):
        build_demo(vault, seed=2, **SMALL)
    assert main(["demo", str(vault), "--seed", "2", "--days", "5", "--now", NOW.isoformat()]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("Error: ") and "--force" in err[0]
    again = build_demo(vault, seed=2, force=True, **SMALL)
    assert again.kept == ("Agents/Support Agent.md",)
    assert support.read_text(encoding="utf-8") == edited
    assert (vault / "People" / "Real Person.md").read_text(encoding="utf-8").endswith("A real colleague\n")
    with duckdb.connect(str(again.store), read_only=True) as con:  # the demo's usage, replaced, once
        assert con.execute("SELECT count(*) FROM events").fetchone()[0] == again.accepted != first.accepted


def test_demo_runs_twice_in_a_row_as_run_py_does(tmp_path, monkeypatch):
    """`python3 run.py demo` twice: an untouched demo vault is rebuilt without --force; notes the user
    added beside it are kept."""
    from brain.cli import main

    monkeypatch.chdir(tmp_path)
    args = ["demo", "--days", "5", "--json"]
    with redirect_stdout(io.StringIO()):
        assert main(args) == 0
    (tmp_path / "demo-vault" / "Mine.md").write_text("my note\n", encoding="utf-8")
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(args) == 0
    assert json.loads(out.getvalue())["kept"] == []
    assert (tmp_path / "demo-vault" / "Mine.md").read_text(encoding="utf-8") == "my note\n"


def test_demo_rebuilds_a_vault_the_previous_version_made(tmp_path):
    """Migration: a marker without hashes (notes, seed, days, now) is read by making those notes again."""
    from brain.demo.build import DEMO_MARKER, build_demo
    from brain.errors import VaultError

    vault = tmp_path / "demo-vault"
    build_demo(vault, seed=7, **SMALL)
    marker = vault / DEMO_MARKER
    doc = json.loads(marker.read_text(encoding="utf-8"))
    old = {"seed": 7, "days": 5, "now": NOW.isoformat(), "notes": [n for n in doc["notes"] if n != "Home.md"]}
    marker.write_text(json.dumps(old), encoding="utf-8")
    assert build_demo(vault, seed=3, **SMALL).kept == ()
    marker.write_text(json.dumps({**old, "seed": 3}), encoding="utf-8")
    home = vault / "Home.md"
    home.write_text(home.read_text(encoding="utf-8") + "mine\n", encoding="utf-8")
    with pytest.raises(VaultError, match=r"1 demo note edited \(Home.md\)"):
        build_demo(vault, seed=3, **SMALL)


def test_demo_force_refuses_a_folder_that_is_not_a_demo_vault(tmp_path, capsys):
    """Regression (QA safety bug 7): `brain demo --force` on a real vault overwrote same-named notes,
    added synthetic usage to its store and marked it a demo vault."""
    from brain.cli import main

    vault = tmp_path / "vault"
    (vault / ".obsidian").mkdir(parents=True)
    (vault / "Agents").mkdir()
    (vault / "Home.md").write_bytes(b"# My home\r\nmine\r\n")
    (vault / "Agents" / "Support Agent.md").write_text("---\ntype: agent\n---\nMy real support agent\n", encoding="utf-8")
    _ingest_one_real_event(vault, tmp_path)
    before = _tree(vault)
    store_before = (vault / ".brain" / "usage.duckdb").read_bytes()
    assert main(["demo", str(vault), "--force", "--days", "5", "--now", NOW.isoformat()]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not empty and is not a demo vault" in err[0]
    assert _tree(vault) == before
    assert (vault / ".brain" / "usage.duckdb").read_bytes() == store_before
    assert not (vault / ".brain" / "demo.json").exists()
    # nor into someone's store through --store, from an empty folder
    assert main(["demo", str(tmp_path / "new"), "--store", str(vault / ".brain" / "usage.duckdb"), "--days", "5",
                 "--now", NOW.isoformat()]) == 1
    assert "not the demo's" in capsys.readouterr().err
    assert _real_events(vault) == 1 and (vault / ".brain" / "usage.duckdb").read_bytes() == store_before
