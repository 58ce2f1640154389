"""brain publish: one note per anomaly in Brain/Anomalies/, acknowledged by hand in Obsidian and
regenerated around the edit; over the test company's vault folder and a real DuckDB store."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pyarrow as pa
import pytest

from brain.cli.main import main
from brain.facade import Brain
from brain.ingest import ingest_table
from brain.publish.anomaly_notes import parse_generated
from brain.settings import Settings
from brain.vault.reader import read_vault

NOW = dt.datetime(2026, 11, 20, 15, 0, tzinfo=dt.UTC)
COLUMNS = ("timestamp", "agent", "provider", "model", "input_tokens", "output_tokens", "requests", "request_id", "status")


def _usage(now: dt.datetime) -> pa.Table:
    """30 days of hourly usage: the Support Agent spikes 100x five hours before `now`, the Meeting
    Notes Bot 50x for five hours the day before."""
    rows = []
    hour = now - dt.timedelta(days=30)
    i = 0
    while hour < now - dt.timedelta(hours=1):
        support = 2000 if now - dt.timedelta(hours=7) <= hour < now - dt.timedelta(hours=2) else 20
        bot = 250 if now - dt.timedelta(hours=30) <= hour < now - dt.timedelta(hours=25) else 5
        rows.append((hour, "support-agent", "openai", "gpt-4o", 2000 * support, 200 * support, support, f"s{i}", "ok"))
        rows.append((hour, "Meeting Notes Bot", "openai", "gpt-4o", 1000 * bot, 100 * bot, bot, f"m{i}", "ok"))
        hour += dt.timedelta(hours=1)
        i += 1
    return pa.table({c: [r[k] for r in rows] for k, c in enumerate(COLUMNS)})


@pytest.fixture
def company(tmp_path, make_company):
    """(vault folder, store path): the test company with 30 days of usage and two anomalies."""
    root = make_company(tmp_path / "vault")
    (root / ".obsidian").mkdir(exist_ok=True)
    store = tmp_path / "usage.duckdb"
    brain = Brain.open(Settings(vault=root, store=store))
    ingest_table(brain.store, _usage(NOW), "test-usage")
    brain.close()
    return root, store


def _open(company) -> Brain:
    root, store = company
    return Brain.open(Settings(vault=root, store=store))


def _publish(company, now: dt.datetime = NOW):
    brain = _open(company)
    try:
        return brain.publish(now=now)
    finally:
        brain.close()


def _notes(root) -> dict[str, str]:
    """Anomaly note path -> anomaly id, as the vault reader reads them."""
    return {n.path: n.properties["anomaly_id"] for n in read_vault(root).notes.values() if n.path.startswith("Brain/Anomalies/")}


def _note_of(root, agent: str):
    paths = sorted((root / "Brain" / "Anomalies").glob(f"* {agent}.md"))
    assert len(paths) == 1, paths
    return paths[0]


def _cli(company, *args: str) -> list | dict:
    root, store = company
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main([*args, "--json", "--vault", str(root), "--store", str(store), "--now", NOW.isoformat()]) == 0
    return json.loads(out.getvalue())


def _hand_ack(path, status: str = "acknowledged", note: str = "known, launch") -> None:
    """What a person does in Obsidian: set the note's status and ack_note."""
    text = path.read_text(encoding="utf-8")
    assert "status: open\n" in text and 'ack_note: ""\n' in text
    path.write_text(text.replace("status: open\n", f"status: {status}\n").replace('ack_note: ""\n', f"ack_note: {note}\n"),
                    encoding="utf-8")


# -- writing --------------------------------------------------------------------------------------


def test_publish_writes_one_note_per_anomaly_acknowledged_ones_too(company):
    root, _ = company
    brain = _open(company)
    found = {a["agent"]: a for a in brain.anomalies(days=14, now=NOW)}
    assert set(found) == {"Support Agent", "Meeting Notes Bot"}
    brain.acknowledge(found["Meeting Notes Bot"]["id"], note="a one-off backfill", now=NOW)
    report = brain.publish(now=NOW)
    brain.close()
    support, bot = found["Support Agent"], found["Meeting Notes Bot"]
    support_path = f"Brain/Anomalies/{support['id']} Support Agent.md"
    bot_path = f"Brain/Anomalies/{bot['id']} Meeting Notes Bot.md"
    assert {support_path, bot_path} <= set(report.written)
    assert _notes(root) == {support_path: support["id"], bot_path: bot["id"]}
    vault = read_vault(root)
    props = vault.notes[support_path[:-3]].properties
    assert props["type"] == "anomaly" and props["brain_generated"] is True and vault.notes[support_path[:-3]].error is None
    assert props["agent"] == "[[Agents/Support Agent|Support Agent]]"
    assert props["owner"] == "[[People/Ada Lovelace|Ada Lovelace]]"
    assert props["team"] == "Platform"
    assert (props["severity"], props["status"], props["cause"], props["ack_note"]) == (support["severity"], "open", "volume", "")
    assert props["onset"] == support["onset"]
    assert props["impact"] == pytest.approx(support["projected_30d_impact_usd"], abs=0.01)
    assert props["expected_usd_per_day"] == pytest.approx(support["expected_usd_per_day"], abs=0.01)
    assert props["change"] is None
    body = vault.notes[support_path[:-3]].body
    assert "more requests than usual" in body and f"brain anomalies ack {support['id']}" in body
    assert "set `status` to `acknowledged`" in body
    bot_props = vault.notes[bot_path[:-3]].properties
    assert (bot_props["status"], bot_props["ack_note"]) == ("acknowledged", "a one-off backfill")
    assert bot_props["owner"] == "[[Teams/Platform|Platform]]"
    dashboard = (root / "Brain" / "Cost Dashboard.md").read_text(encoding="utf-8")
    assert f"[[Brain/Anomalies/{support['id']} Support Agent|note]]" in dashboard  # open ones are listed, with their note
    assert bot["id"] not in dashboard
    assert (root / "Brain" / "Anomalies.base").is_file()


def test_publish_twice_changes_nothing_and_names_find_the_agent_not_its_anomaly(company):
    root, _ = company
    _publish(company)
    again = _publish(company)
    assert [p for p in again.written if "/Anomalies/" in p] == []
    assert len([p for p in again.unchanged if "/Anomalies/" in p]) == 2
    brain = _open(company)
    assert brain.graph.find("Support Agent") == "Agents/Support Agent"
    assert brain.note_acks() == {}  # nothing acknowledged yet
    brain.close()


def test_values_the_brain_wrote_are_not_read_back_as_a_persons_ack(company):
    brain = _open(company)
    bot = next(a for a in brain.anomalies(days=14, now=NOW) if a["agent"] == "Meeting Notes Bot")
    brain.acknowledge(bot["id"], note="backfill", now=NOW)
    brain.publish(now=NOW)
    brain.close()
    brain = _open(company)
    assert brain.note_acks() == {}  # the note shows the store's ack; it is not a second one
    brain.close()


# -- acknowledging by hand --------------------------------------------------------------------------


def test_hand_acknowledgement_is_what_brain_anomalies_shows(company):
    root, _ = company
    _publish(company)
    support = _note_of(root, "Support Agent")
    anomaly_id = parse_generated(support.read_text(encoding="utf-8")).props["anomaly_id"]
    owed = [i for i in _cli(company, "alerts", "--dry-run")["items"] if i["ref"] == anomaly_id]
    assert [(i["kind"], i["reason"]) for i in owed] == [("new", "no channel")]  # owed while open (no channel here)
    _hand_ack(support)
    rows = {r["id"]: r for r in _cli(company, "anomalies", "--all")}
    assert (rows[anomaly_id]["status"], rows[anomaly_id]["note"]) == ("acknowledged", "known, launch")
    assert anomaly_id not in {r["id"] for r in _cli(company, "anomalies")}  # no longer open
    assert [i for i in _cli(company, "alerts", "--dry-run")["items"] if i["ref"] == anomaly_id] == []  # nothing owed
    brain = _open(company)
    assert brain.note_acks()[anomaly_id].status == "acknowledged"
    brain.close()


def test_a_note_saying_planned_marks_it_planned_and_open_never_undoes_a_store_ack(company):
    root, _ = company
    _publish(company)
    _hand_ack(_note_of(root, "Meeting Notes Bot"), status="planned", note="the quarterly re-index")
    brain = _open(company)
    support = next(a for a in brain.anomalies(days=14, now=NOW) if a["agent"] == "Support Agent")
    brain.acknowledge(support["id"], note="load test", now=NOW)  # the note still says open
    brain.close()
    rows = {r["agent"]: r for r in _cli(company, "anomalies", "--all")}
    assert (rows["Meeting Notes Bot"]["status"], rows["Meeting Notes Bot"]["note"]) == ("planned", "the quarterly re-index")
    assert (rows["Support Agent"]["status"], rows["Support Agent"]["note"]) == ("acknowledged", "load test")


def test_republish_regenerates_around_the_edit_keeping_it_byte_for_byte(company):
    root, _ = company
    _publish(company)
    path = _note_of(root, "Support Agent")
    text = path.read_text(encoding="utf-8")
    edited = (text.replace("status: open\n", "status:   acknowledged   # by Ada\n")
              .replace('ack_note: ""\n', "ack_note: >-\n  known,\n  launch week\n")
              .replace("tags: [", "reviewed_by: \"[[Alan Turing]]\"\ntags: [")
              + "Ada: the launch doubled traffic, as planned.\n\n- [ ] check again Monday\n")
    path.write_text(edited, encoding="utf-8")
    agent = root / "Agents" / "Support Agent.md"  # a generated figure changes: the owner
    agent.write_text(agent.read_text(encoding="utf-8").replace("[[Ada Lovelace]]", "[[Alan Turing]]"), encoding="utf-8")
    report = _publish(company, NOW + dt.timedelta(hours=1))
    rel = path.relative_to(root).as_posix()
    assert rel in report.written
    new = path.read_text(encoding="utf-8")
    assert 'owner: "[[People/Alan Turing|Alan Turing]]"' in new
    assert "status:   acknowledged   # by Ada\n" in new
    assert "ack_note: >-\n  known,\n  launch week\n" in new
    assert 'reviewed_by: "[[Alan Turing]]"\n' in new
    assert new.endswith("%%\n\nAda: the launch doubled traffic, as planned.\n\n- [ ] check again Monday\n")
    rows = {r["agent"]: r for r in _cli(company, "anomalies", "--all")}
    assert (rows["Support Agent"]["status"], rows["Support Agent"]["note"]) == ("acknowledged", "known, launch week")
    assert _publish(company, NOW + dt.timedelta(hours=1)).written == []  # and stays as it is


def test_obsidian_rewriting_the_properties_keeps_the_note_the_brains(company):
    """Obsidian's property editor writes all the frontmatter back in its own style; the note is
    still regenerated, and the status the person chose kept."""
    root, _ = company
    _publish(company)
    path = _note_of(root, "Support Agent")
    parsed = parse_generated(path.read_text(encoding="utf-8"))
    text = path.read_text(encoding="utf-8")
    body = text.split("\n---\n", 1)[1]
    props = {**parsed.props, "status": "acknowledged", "ack_note": "known"}
    lines = []
    for k, v in props.items():
        if isinstance(v, list):
            lines += [f"{k}:"] + [f"  - {x}" for x in v]
        elif v is None:
            lines.append(f"{k}:")
        elif isinstance(v, str) and not v.startswith("[["):
            lines.append(f"{k}: {v}")
        else:
            lines.append(f"{k}: {json.dumps(v)}")
    path.write_text("---\n" + "\n".join(lines) + "\n---\n" + body, encoding="utf-8")
    agent = root / "Agents" / "Support Agent.md"
    agent.write_text(agent.read_text(encoding="utf-8").replace("[[Ada Lovelace]]", "[[Alan Turing]]"), encoding="utf-8")
    report = _publish(company)
    assert path.relative_to(root).as_posix() in report.written
    new = path.read_text(encoding="utf-8")
    assert "[[People/Alan Turing|Alan Turing]]" in new and "status: acknowledged\n" in new and "ack_note: known\n" in new


def test_a_person_editing_the_generated_text_keeps_the_whole_note(company):
    root, _ = company
    _publish(company)
    path = _note_of(root, "Support Agent")
    edited = path.read_text(encoding="utf-8").replace("## Where the extra cost comes from", "## Why (Ada: it was the launch)")
    edited = edited.replace("status: open\n", "status: acknowledged\n")
    path.write_text(edited, encoding="utf-8")
    agent = root / "Agents" / "Support Agent.md"
    agent.write_text(agent.read_text(encoding="utf-8").replace("[[Ada Lovelace]]", "[[Alan Turing]]"), encoding="utf-8")
    report = _publish(company)
    assert path.relative_to(root).as_posix() in report.kept
    assert path.read_text(encoding="utf-8") == edited
    rows = {r["agent"]: r for r in _cli(company, "anomalies", "--all")}
    assert rows["Support Agent"]["status"] == "acknowledged"  # still read back


def test_a_persons_own_note_at_the_path_is_never_touched(company):
    root, _ = company
    brain = _open(company)
    support = next(a for a in brain.anomalies(days=14, now=NOW) if a["agent"] == "Support Agent")
    brain.close()
    mine = root / "Brain" / "Anomalies" / f"{support['id']} Support Agent.md"
    mine.parent.mkdir(parents=True)
    mine.write_text("# My notes on this one\n\nstatus: my own words\n", encoding="utf-8")
    before = mine.read_bytes()
    report = _publish(company)
    assert mine.relative_to(root).as_posix() in report.kept
    assert mine.read_bytes() == before
    assert _note_of(root, "Meeting Notes Bot").is_file()


def test_notes_of_anomalies_no_longer_listed_go_unless_a_person_wrote_in_them(company):
    root, _ = company
    _publish(company)
    support, bot = _note_of(root, "Support Agent"), _note_of(root, "Meeting Notes Bot")
    _hand_ack(support)
    own = root / "Brain" / "Anomalies" / "Ideas.md"
    own.write_text("Keep an eye on the bot.\n", encoding="utf-8")
    later = _publish(company, NOW + dt.timedelta(days=20))  # both anomalies are older than 14 days by then
    assert bot.relative_to(root).as_posix() in later.removed and not bot.exists()
    assert support.relative_to(root).as_posix() in later.kept and support.is_file()
    assert own.read_text(encoding="utf-8") == "Keep an eye on the bot.\n"


# -- the alert pass skips a hand-acknowledged anomaly, over a real local receiver -------------------


@contextlib.contextmanager
def _receiver():
    """A JSON webhook on 127.0.0.1 recording the payloads it is sent."""
    got: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
            pass

        def do_POST(self) -> None:  # noqa: N802 - stdlib naming
            got.append(json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}"))
            self.send_response(200)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], got
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.e2e
def test_brain_alerts_sends_nothing_for_a_hand_acknowledged_anomaly(company, monkeypatch, tmp_path):
    root, _ = company
    for person in ("People/Ada Lovelace.md",):
        p = root / person
        p.write_text(p.read_text(encoding="utf-8").replace("type: person\n", "type: person\nnotify: ada-hook\n"), encoding="utf-8")
    team = root / "Teams" / "Platform.md"
    team.write_text(team.read_text(encoding="utf-8").replace("type: team\n", "type: team\nnotify: ada-hook\n"), encoding="utf-8")
    monkeypatch.setenv("BRAIN_CHANNELS_FILE", str(tmp_path / "no-channels.toml"))
    _publish(company)
    _hand_ack(_note_of(root, "Support Agent"))
    with _receiver() as (port, got):
        monkeypatch.setenv("BRAIN_CHANNEL_ADA_HOOK", f"json://127.0.0.1:{port}/hook")
        report = _cli(company, "alerts")
    sent = [i for i in report["items"] if i["outcome"] == "sent"]
    assert [i["subject"] for i in sent] == ["Meeting Notes Bot"]  # the channel works: the other one went
    assert len(got) == 1 and "Meeting Notes Bot" in json.dumps(got[0])
    assert "Support Agent" not in json.dumps(got)


@pytest.mark.e2e
@pytest.mark.parametrize("now", ["2026-12-07T19:58:23Z", "2026-11-29T04:56:12Z"])
def test_a_published_demo_has_no_finding_caused_by_the_brains_own_output(tmp_path, capsys, now):
    """Regression: the dashboard linked `[[Brain/Costs/unattributed-apikey_... cost]]`, a note publish
    never writes (unattributed usage has no cost note), and `brain check` reported it as broken."""
    import json

    from brain.cli import main

    demo = tmp_path / "demo"
    assert main(["demo", str(demo), "--now", now]) == 0  # builds and publishes
    capsys.readouterr()
    main(["check", "--vault", str(demo), "--json"])
    gaps = json.loads(capsys.readouterr().out)["gaps"]
    ours = [g for g in gaps if g.get("node") != "Brain/Settings"  # the settings note is the people's
            and (str(g.get("node", "")).startswith("Brain/") or "'Brain/" in g.get("message", ""))]
    assert ours == []
    cost_note = next((demo / "Brain" / "Costs").glob("Research Assistant cost.md")).read_text(encoding="utf-8")
    assert "team: \"[[Teams/Research|Research]]\"" in cost_note or "team: '[[Teams/Research|Research]]'" in cost_note
