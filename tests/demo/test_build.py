"""`brain demo` end to end: the demo company's vault and store (its notes, the gaps and anomalies
planted, the headline figures), and the rules for building it again over a vault someone used."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from brain.demo import company as co
from brain.demo.company import Timeline

NOW = datetime(2026, 11, 29, 4, 56, 12, tzinfo=UTC)  # a Sunday morning


# -- the demo vault built by `brain demo`, and rebuilding it -----------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, dict]:
    """The demo built once through the CLI: its vault folder and its `--json` summary."""
    from brain.cli import main

    path = tmp_path_factory.mktemp("demo") / "demo-vault"
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["demo", str(path), "--seed", "7", "--days", "60", "--now", NOW.isoformat(), "--json"]) == 0
    return path, json.loads(out.getvalue())


@pytest.mark.e2e
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
    assert summary["headline"]["research_cost_per_run_usd"] == pytest.approx(0.42, rel=0.1)
    assert summary["headline"]["research_cost_per_run_since_prompt_v4_usd"] == pytest.approx(0.84, rel=0.1)
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


@pytest.mark.e2e
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


@pytest.mark.e2e
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


@pytest.mark.e2e
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


@pytest.mark.e2e
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


@pytest.mark.e2e
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


@pytest.mark.e2e
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


STORY_AGENTS = ["Daily Summariser", "Lead Enricher", "Research Assistant"]
# the clock the demo missed a story at (a Monday evening), and four more over the week before it
STORY_CLOCKS = [datetime(2026, 12, 7, 19, 58, 23, tzinfo=UTC) - timedelta(hours=h) for h in (0, 31, 58, 97, 140)]


@pytest.mark.e2e
@pytest.mark.parametrize("seed", range(1, 21))
def test_the_demo_tells_its_three_stories_for_every_seed_at_any_time_of_the_week(tmp_path, seed):
    """Regression: with seed 7 at 2026-12-07T19:58:23Z the research assistant's prompt-v4 story was
    missing (shipped on the Friday, one whole workday to see it by Monday evening)."""
    from brain.demo.build import _open_anomalies, build_demo
    from brain.facade import Brain
    from brain.settings import Settings

    for now in STORY_CLOCKS:
        demo = build_demo(tmp_path / now.strftime("%a%H"), seed=seed, now=now)
        brain = Brain.open(Settings(vault=demo.vault, store=demo.store))
        try:
            found = _open_anomalies(brain, now)
        finally:
            brain.close()
        assert sorted(a["agent"] for a in found) == STORY_AGENTS, (seed, now.isoformat())
