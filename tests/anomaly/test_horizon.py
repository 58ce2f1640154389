"""Anomalies over a real vault folder and DuckDB store: detect_anomalies and the horizon scan a
served brain reuses, the series it reads, and the `brain anomalies` CLI."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from brain.anomaly import detect_anomalies
from brain.cli import main
from brain.costs import spend
from brain.errors import NotFound
from brain.facade import Brain
from brain.ingest import ingest_table
from brain.settings import Settings
from brain.store.database import Store

START = datetime(2024, 3, 4, tzinfo=UTC)  # a Monday
DAYS = 24
ONSET = START + timedelta(days=20, hours=10)
NOTES = {
    "Agents/Research Assistant.md": """\
        ---
        type: agent
        owner: "[[Ada Lovelace]]"
        depends_on: ["[[Vector Store]]"]
        ---
        Answers research questions.
        """,
    "People/Ada Lovelace.md": """\
        ---
        type: person
        team: "[[Platform]]"
        ---
        """,
    "Teams/Platform.md": "---\ntype: team\n---\n",
    "Tools/Vector Store.md": "---\ntype: tool\n---\n",
    "Changes/Prompt v2.md": f"""\
        ---
        type: change
        agent: "[[Research Assistant]]"
        date: {(ONSET - timedelta(hours=1)).isoformat()}
        ---
        New system prompt with the full style guide.
        """,
    "Changes/Docs tidy.md": """\
        ---
        type: change
        agent: "[[Research Assistant]]"
        date: 2024-03-10
        ---
        Only the docs.
        """,
}


def _usage() -> pa.Table:
    rng = np.random.default_rng(3)
    hours = np.arange(DAYS * 24)
    shape = 0.25 + 0.75 * np.exp(-0.5 * (((hours % 24) - 14) / 4.0) ** 2)
    requests = rng.poisson(30 * shape)
    keep = requests > 0
    times = [START + timedelta(hours=int(h)) for h in hours[keep]]
    tpr = np.where(hours >= (ONSET - START).total_seconds() // 3600, 16_000, 8_000)[keep]
    n = int(keep.sum())
    return pa.table({
        "timestamp": pa.array(times, pa.timestamp("us", tz="UTC")),
        "agent": ["research-assistant"] * n,
        "provider": ["openai"] * n,
        "model": ["gpt-4o"] * n,
        "requests": requests[keep],
        "input_tokens": requests[keep] * tpr,
        "output_tokens": requests[keep] * 300,
        "status": ["ok"] * n,
    })


@pytest.fixture
def company(tmp_path):
    vault = tmp_path / "vault"
    for rel, text in NOTES.items():
        path = vault / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    store_path = tmp_path / "usage.duckdb"
    with Store(store_path) as store:
        ingest_table(store, _usage(), "synthetic")
    return Settings.from_env(vault, store_path)


@pytest.mark.e2e
def test_prompt_bloat_is_found_explained_and_linked_to_its_change_note(company):
    brain = Brain.open(company)
    try:
        found = detect_anomalies(brain.scan_inputs(), days=7, now=START + timedelta(days=DAYS))
    finally:
        brain.close()
    assert len(found) == 1
    a = found[0]
    assert (a.agent, a.owner, a.team) == ("Research Assistant", "Ada Lovelace", "Platform")
    assert (a.granularity, a.cause, a.status) == ("day", "tokens_per_request", "open")
    assert a.changes == ["Prompt v2"]
    assert a.excess_usd_per_day > 0


@pytest.mark.e2e
def test_cli_lists_then_ack_silences(company, capsys):
    common = ["--vault", str(company.vault), "--store", str(company.store)]
    now = ["--now", (START + timedelta(days=DAYS)).isoformat()]
    assert main(["anomalies", *common, *now, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [a["agent"] for a in listed] == ["Research Assistant"]
    assert {"id", "onset", "severity", "cause", "decomposition", "changes", "status"} <= set(listed[0])
    anomaly_id = listed[0]["id"]

    assert main(["anomalies", "ack", anomaly_id, "--note", "new prompt is worth it", *common, *now]) == 0
    assert "acknowledged" in capsys.readouterr().out
    assert main(["anomalies", *common, *now, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["anomalies", *common, *now, "--json", "--all"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert [(a["id"], a["status"], a["note"]) for a in again] == [(anomaly_id, "acknowledged", "new prompt is worth it")]

    assert main(["anomalies", "ack", "ffffffffffff", "--note", "x", *common, *now]) == 1
    assert "no anomaly named 'ffffffffffff'" in capsys.readouterr().err


def test_planned_change_note_marks_the_anomaly_planned(company):
    note = company.vault / "Changes" / "Prompt v2.md"
    note.write_text(note.read_text().replace("type: change", "type: change\nexpected_cost_change: true"))
    brain = Brain.open(company)
    try:
        found = detect_anomalies(brain.scan_inputs(), days=7, now=START + timedelta(days=DAYS))
    finally:
        brain.close()
    assert [a.status for a in found] == ["planned"]


@pytest.mark.parametrize(
    ("seed", "now"),
    [(5, datetime(2026, 11, 27, 23, tzinfo=UTC)), (4, datetime(2026, 10, 15, 18, tzinfo=UTC))],
)
@pytest.mark.e2e
def test_issue4_steady_working_hours_agents_raise_no_alarm_on_the_demo(tmp_path, seed, now):
    """Regression: these scans flagged Code Review Copilot every weekday at 09:00 and the Research
    Assistant's working hours as 'expected 0 requests/hour'; only the planted stories may warn."""
    from brain.demo.build import build_demo
    from brain.demo.company import Timeline

    demo = build_demo(tmp_path / "demo", seed=seed, now=now)
    brain = Brain.open(Settings.from_env(demo.vault, demo.store))
    try:
        found = detect_anomalies(brain.scan_inputs(), days=14, now=now, min_severity="warn")
    finally:
        brain.close()
    tl = Timeline(now, 60)
    assert sorted((a.agent, a.granularity, a.cause, a.changes[:1]) for a in found) == [
        ("Daily Summariser", "hour", "volume",
         [f"{tl.summariser_schedule_change:%Y-%m-%d} Daily Summariser moved to the shared scheduler"]),
        ("Lead Enricher", "hour", "volume", [f"{tl.loop_config_change:%Y-%m-%d} Lead Enricher retries on any error"]),
        ("Research Assistant", "day", "tokens_per_request",
         [f"{tl.research_prompt_change:%Y-%m-%d} Research Assistant prompt v4"]),
    ]


@pytest.fixture(scope="module")
def demo_seed1(tmp_path_factory):
    """The demo company of the QA pass (seed 1, 60 days to a Sunday morning)."""
    from brain.demo.build import build_demo

    now = datetime(2026, 11, 29, 11, 23, tzinfo=UTC)
    demo = build_demo(tmp_path_factory.mktemp("demo") / "demo", seed=1, now=now)
    return Settings.from_env(demo.vault, demo.store), now


@pytest.mark.e2e
def test_an_anomaly_has_the_same_id_and_figures_whatever_the_window(demo_seed1, capsys):
    """Regression: figures moved with --days (the scan started --days + 35 days back), the ongoing
    Research Assistant shift was missing at --days 1, and `ack` rescanned 90 days."""
    settings, now = demo_seed1
    figures = ("onset", "detected_at_bucket", "last_bucket", "severity", "cause", "ongoing",
               "expected_usd_per_day", "actual_usd_per_day", "excess_usd_per_day", "projected_30d_impact_usd")
    brain = Brain.open(settings, read_only=True)
    try:
        by_window = {d: {a.id: a for a in detect_anomalies(brain.scan_inputs(), days=d, now=now)} for d in (1, 2, 3, 4, 7, 14, 30, 90)}
    finally:
        brain.close()
    seen: dict[str, tuple] = {}
    for days, found in by_window.items():
        for anomaly_id, a in found.items():
            seen.setdefault(anomaly_id, tuple(getattr(a, f) for f in figures))
            assert tuple(getattr(a, f) for f in figures) == seen[anomaly_id], (days, a.agent)
    windows = list(by_window.values())
    assert all(set(short) <= set(long) for short, long in zip(windows, windows[1:], strict=False))
    ongoing = {i for i, a in by_window[90].items() if a.ongoing}
    assert ongoing and ongoing <= set(by_window[1])
    assert "Research Assistant" in {by_window[1][i].agent for i in ongoing}

    common = ["--vault", str(settings.vault), "--store", str(settings.store), "--now", now.isoformat()]
    assert main(["anomalies", "--days", "30", "--json", *common]) == 0
    listed = json.loads(capsys.readouterr().out)
    oldest = min(listed, key=lambda a: a["onset"])
    assert main(["anomalies", "ack", oldest["id"], "--note", "seen", *common]) == 0
    assert "acknowledged" in capsys.readouterr().out
    assert main(["anomalies", "--days", "90", "--days", "91", *common]) == 1
    assert capsys.readouterr().err.startswith("Error: --days: must be a whole number of days between 1 and 90 (got '91')")


@pytest.mark.e2e
def test_anomaly_dollars_are_spend_dollars_after_vault_price_notes(company):
    """A negotiated discount in a price note changes an anomaly's $ as it changes `brain spend`."""
    def scan():
        brain = Brain.open(company)
        try:
            return detect_anomalies(brain.scan_inputs(), days=7, now=START + timedelta(days=DAYS))
        finally:
            brain.close()

    (list_price,) = scan()
    (company.vault / "Prices").mkdir()
    (company.vault / "Prices" / "GPT-4o deal.md").write_text(
        "---\ntype: price\nprovider: openai\nmodel: gpt-4o\ndiscount_pct: 40\n---\n", encoding="utf-8")
    (discounted,) = scan()
    assert discounted.onset == list_price.onset
    for side in ("expected", "actual"):  # $ per million tokens, around the (here later) detection
        paid, listed = (a.signals["usd_per_mtok"][side] for a in (discounted, list_price))
        assert paid == pytest.approx(listed * 0.6, rel=0.01), side
    # the $ gate sees discounted dollars: less excess a day, so the shift is flagged a day later
    assert discounted.excess_usd_per_day < list_price.excess_usd_per_day * 0.7


def _weekday_usage(days: int) -> pa.Table:
    """Research Assistant on weekdays 08-18 only, steady: nothing to find."""
    rng = np.random.default_rng(5)
    hours = np.arange(days * 24)
    work = ((hours // 24) % 7 < 5) & (hours % 24 >= 8) & (hours % 24 <= 18)
    requests = np.where(work, rng.poisson(40, len(hours)), 0)
    keep = requests > 0
    n = int(keep.sum())
    return pa.table({
        "timestamp": pa.array([START + timedelta(hours=int(h)) for h in hours[keep]], pa.timestamp("us", tz="UTC")),
        "agent": ["research-assistant"] * n,
        "provider": ["openai"] * n,
        "model": ["gpt-4o"] * n,
        "requests": requests[keep],
        "input_tokens": requests[keep] * 8000,
        "output_tokens": requests[keep] * 300,
        "status": ["ok"] * n,
    })


@pytest.mark.e2e
def test_a_store_longer_than_the_horizon_gives_no_anomalies_at_the_horizon_start(company, tmp_path):
    """Regression: with more than 90 days stored, the horizon's first days were tested against the
    day or two since its start (a weekend of zeros), so a steady agent was flagged there."""
    store_path = tmp_path / "long.duckdb"
    with Store(store_path) as store:
        ingest_table(store, _weekday_usage(130), "synthetic")
    brain = Brain.open(Settings.from_env(company.vault, store_path), read_only=True)
    try:
        for day in (123, 124, 125, 126, 127, 128, 129):  # horizons opening on every weekday
            found = detect_anomalies(brain.scan_inputs(), days=90, now=START + timedelta(days=day, hours=12))
            assert [(a.agent, a.onset) for a in found] == [], day
    finally:
        brain.close()


def test_usage_series_has_the_spend_series_rows_in_its_order(tmp_path):
    """The detectors' series (integer agent codes, regrouped only where several keys feed an agent,
    sorted outside SQL) holds `hourly_agent_series`'s rows, values and order."""
    from brain.anomaly.usage import usage_series
    from brain.graph.identity import AgentIdentity

    t = START + timedelta(hours=5)
    rows = []
    for h in range(30):
        for key, provider, model in (("k1", "openai", "gpt-4o"), ("k2", "openai", "gpt-4o"), ("k2", None, "gpt-4o"),
                                     ("k2", "anthropic", None), ("k3", "openai", "gpt-4o-mini"), ("stray", "", "x")):
            rows.append({"timestamp": t + timedelta(hours=h % 7, minutes=h), "api_key_id": key, "provider": provider,
                         "model": model, "requests": 1 + h % 3, "input_tokens": 100 * (h + 1), "output_tokens": 7,
                         "status": "error" if h % 5 == 0 else "ok", "run_id": f"r{h % 4}"})
    table = pa.Table.from_pylist(rows, schema=pa.schema([
        ("timestamp", pa.timestamp("us", tz="UTC")), ("api_key_id", pa.string()), ("provider", pa.string()),
        ("model", pa.string()), ("requests", pa.int64()), ("input_tokens", pa.int64()), ("output_tokens", pa.int64()),
        ("status", pa.string()), ("run_id", pa.string())]))
    idents = (AgentIdentity(node_id="Agents/Two Keys", name="Two Keys", agent_id="two-keys", api_keys=("k1", "k2")),
              AgentIdentity(node_id="Agents/One Key", name="One Key", agent_id="one-key", api_keys=("k3",)))
    with Store(tmp_path / "usage.duckdb") as store:
        ingest_table(store, table, "t")
        since, until = START, START + timedelta(days=1)
        expected = spend.hourly_agent_series(store, idents, since, until)
        got = usage_series(store, idents, since, until)
        only = usage_series(store, idents, since, until, agents=["Agents/One Key"])
    assert got.column("agent").type == pa.dictionary(pa.int32(), pa.string())
    assert got.column("agent").to_pylist() == expected.column("agent").to_pylist()
    assert set(got.column("agent").to_pylist()) == {"Agents/Two Keys", "Agents/One Key", "unattributed:stray"}
    labels = [("?" if m is None else f"{p}/{m}" if p else m)
              for p, m in zip(expected.column("provider").to_pylist(), expected.column("model").to_pylist(), strict=True)]
    assert got.column("model").to_pylist() == labels
    for name in ("hour", "requests", "error_requests", "runs", "input_tokens", "output_tokens", "cost_usd",
                 "input_tokens_p95", "output_tokens_p95"):
        assert got.column(name).to_pylist() == expected.column(name).to_pylist(), name
    assert set(only.column("agent").to_pylist()) == {"Agents/One Key"}
    assert only.column("requests").to_pylist() == [
        r["requests"] for r in expected.to_pylist() if r["agent"] == "Agents/One Key"]


@pytest.mark.e2e
def test_one_agents_scan_finds_what_the_scan_of_everyone_finds_for_it(demo_seed1):
    """`brain agent` scans only that agent's usage: same anomalies, ids and figures as the full scan."""
    settings, now = demo_seed1
    brain = Brain.open(settings, read_only=True)
    try:
        everyone = [a.to_dict() for a in detect_anomalies(brain.scan_inputs(), days=90, now=now)]
        agents = sorted({a["agent_node"] for a in everyone})
        assert len(agents) >= 2
        for node in agents:
            mine = [a for a in everyone if a["agent_node"] == node]
            assert [a.to_dict() for a in detect_anomalies(brain.scan_inputs(), days=90, now=now, agents=[node])] == mine
            assert brain.anomalies(days=90, now=now, agent=node) == mine
        assert brain.anomalies(days=14, now=now, agent="Agents/Nobody") == []
    finally:
        brain.close()


@pytest.mark.e2e
def test_a_served_brain_scans_once_until_usage_acks_or_the_hour_change(company, monkeypatch):
    """Listings, explain_anomaly and attach_costs reuse one horizon scan while nothing it reads changed."""
    from brain import anomaly
    from brain.store.shared import SharedStore

    scans = []
    real = anomaly.scan_horizon
    monkeypatch.setattr(anomaly, "scan_horizon", lambda *a, **k: scans.append(1) or real(*a, **k))
    now = START + timedelta(days=DAYS)
    brain = Brain.open(company, read_only=True)
    shared = SharedStore(company.store, lock=brain._lock)
    brain.__dict__["store"] = shared
    try:
        (listed,) = brain.anomalies(days=7, now=now)
        assert brain.explain_anomaly(listed["id"], now=now) == listed
        assert brain.anomalies(days=90, now=now, min_severity="info") == [listed]
        brain.attach_costs(now=now)
        assert len(scans) == 1
        with pytest.raises(NotFound, match="no anomaly named '000000000000'"):
            brain.explain_anomaly("0" * 12, now=now)
        assert len(scans) == 1
        brain.acknowledge(listed["id"], note="seen", now=now)  # a write: the acks changed
        assert brain.explain_anomaly(listed["id"], now=now)["status"] == "acknowledged"
        scans.clear()
        brain.anomalies(days=7, now=now + timedelta(hours=1))  # a new complete hour
        assert len(scans) == 1
    finally:
        shared.close()


# Runs the CLI, then reports on stderr whether anything imported pandas (~0.3 s of every command).
_CLI_REPORTING_PANDAS = """
import sys
from brain.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print("pandas imported:", "pandas" in sys.modules, file=sys.stderr)
sys.exit(code)
"""


@pytest.mark.e2e
def test_brain_anomalies_and_brain_agent_do_not_import_pandas(tmp_path):
    """pyarrow imports pandas for a Python value made an Arrow scalar or array, and for `to_numpy`:
    the scan path avoids all three (a demo with usage up to now, as `brain agent` scans to now)."""
    import subprocess
    import sys

    from brain.demo.build import build_demo

    demo = build_demo(tmp_path / "demo", seed=1)
    env_args = ["--vault", str(demo.vault), "--store", str(demo.store), "--json"]

    def run(*argv: str) -> str:
        done = subprocess.run([sys.executable, "-c", _CLI_REPORTING_PANDAS, *argv, *env_args],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert done.stderr.splitlines()[-1] == "pandas imported: False"
        return done.stdout

    listed = json.loads(run("anomalies", "--days", "30"))
    assert listed, "the demo has anomalies to explain, so the whole scan path ran"
    shown = json.loads(run("agent", listed[0]["agent_id"]))
    assert shown["anomalies"]


@pytest.mark.e2e
def test_a_served_brains_scan_reads_the_store_without_holding_the_brains_lock(company, monkeypatch):
    """The series query (~1 s on 10M events) runs on a cursor of the shared store: MCP tools, which
    take the brain's lock, answer meanwhile."""
    import threading

    from brain.anomaly import horizon
    from brain.store.shared import SharedStore

    querying, finish = threading.Event(), threading.Event()
    real = horizon.usage_series

    def blocked_query(*args, **kwargs):
        querying.set()
        assert finish.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(horizon, "usage_series", blocked_query)
    now = START + timedelta(days=DAYS)
    brain = Brain.open(company, read_only=True)
    shared = SharedStore(company.store, lock=brain._lock)
    brain.__dict__["store"] = shared
    found: list = []
    scan = threading.Thread(target=lambda: found.append(brain.anomalies(days=7, now=now)))
    try:
        scan.start()
        assert querying.wait(30)
        assert brain._lock.acquire(timeout=30)  # a tool gets the lock while the query runs
        brain._lock.release()
        finish.set()
        scan.join(30)
        assert [a["agent"] for a in found[0]] == ["Research Assistant"]
    finally:
        finish.set()
        scan.join(30)
        shared.close()
