"""`brain alerts`: a pass prints what went to whom, `--dry-run` what would (and where nothing can
go, with the hint how to set a channel), `--status` per channel, `alerts test CHANNEL`; with a
`brain serve` running, the pass is the server's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from brain.cli import main

BRAIN = str(Path(sys.executable).parent / "brain")
DEMO_NOW = datetime(2026, 11, 29, 4, 56, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def no_channels_of_the_user(monkeypatch, tmp_path):
    """No channel from the environment or the user's config folder leaks into a test."""
    for name in list(os.environ):
        if name.startswith("BRAIN_CHANNEL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("BRAIN_CHANNELS_FILE", str(tmp_path / "no-channels.toml"))


@pytest.fixture
def receiver():
    """A JSON webhook on 127.0.0.1: (port, list of (path, payload) it answered 200)."""
    got: list[tuple[str, dict]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
            pass

        def do_POST(self) -> None:  # noqa: N802 - stdlib naming
            got.append((self.path, json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1], got
    finally:
        server.shutdown()
        server.server_close()


def test_a_pass_without_a_usage_store_is_one_error_line(tmp_path, capsys):
    (tmp_path / "v" / ".obsidian").mkdir(parents=True)
    assert main(["alerts", "--vault", str(tmp_path / "v")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist; ingest usage first" in err
    assert not (tmp_path / "v" / ".brain").exists()
    assert main(["alerts", "--status", "--vault", str(tmp_path / "v")]) == 0
    assert "No alert has been sent or tried yet." in capsys.readouterr().out


def test_alerts_test_sends_to_a_channel_and_says_how_to_set_a_missing_one(tmp_path, receiver, monkeypatch, capsys):
    port, got = receiver
    (tmp_path / "v" / ".obsidian").mkdir(parents=True)
    monkeypatch.setenv("BRAIN_CHANNEL_FINOPS", f"json://127.0.0.1:{port}/finops")
    assert main(["alerts", "test", "finops", "--vault", str(tmp_path / "v")]) == 0
    assert capsys.readouterr().out == "Sent a test message to finops (via $BRAIN_CHANNEL_FINOPS).\n"
    assert [(p, m["title"]) for p, m in got] == [("/finops", "Company Brain test: finops")]
    assert main(["alerts", "test", "sales", "--vault", str(tmp_path / "v")]) == 1
    out = capsys.readouterr().out
    assert out.startswith("Not sent to sales: channel 'sales' has no URL: set $BRAIN_CHANNEL_SALES")
    assert str(port) not in out


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """The demo company, its owners of two stories naming channels (a third story has no owner)."""
    from brain.demo.build import build_demo

    root = tmp_path_factory.mktemp("alerts") / "demo"
    build_demo(root, seed=7, days=60, now=DEMO_NOW)
    for person, channel in (("Mei Chen", "research-hook"), ("Jonas Becker", "data-hook")):
        note = root / "People" / f"{person}.md"
        note.write_text(note.read_text(encoding="utf-8").replace("type: person\n", f"type: person\nnotify: {channel}\n", 1),
                        encoding="utf-8")
    settings = root / "Brain" / "Settings.md"  # no default channel: the ownerless story has nowhere to go
    settings.write_text(settings.read_text(encoding="utf-8").replace("default_channel: finops-alerts\n", "default_channel:\n"),
                        encoding="utf-8")
    return root


@pytest.mark.e2e
def test_dry_run_shows_where_each_alert_would_go_and_how_to_give_the_rest_a_channel(demo, monkeypatch, capsys):
    monkeypatch.setenv("BRAIN_CHANNEL_RESEARCH_HOOK", "json://127.0.0.1:9/research")
    assert main(["alerts", "--dry-run", "--vault", str(demo), "--now", DEMO_NOW.isoformat()]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Dry run as of 2026-11-29T04:56:12Z: nothing is sent or recorded.\n")
    assert "would send  research-hook  owner Mei Chen" in out
    assert "[warn] Research Assistant: tokens per request doubled" in out
    assert "Not sent, 2 with nowhere to go" in out
    assert "channel 'data-hook' has no URL: set $BRAIN_CHANNEL_DATA_HOOK" in out
    assert "no channel: the agent, its owner and team name none, and there is no default" in out
    assert "`default_channel: CHANNEL` in Brain/Settings.md" in out
    assert "127.0.0.1" not in out


@pytest.mark.e2e
def test_a_pass_prints_what_went_to_whom_and_a_second_sends_nothing(demo, receiver, monkeypatch, capsys):
    port, got = receiver
    for name in ("research-hook", "data-hook"):
        monkeypatch.setenv(f"BRAIN_CHANNEL_{name.upper().replace('-', '_')}", f"json://127.0.0.1:{port}/{name}")
    args = ["--vault", str(demo), "--now", DEMO_NOW.isoformat()]
    assert main(["alerts", *args]) == 0
    out = capsys.readouterr().out
    assert "sent     data-hook      owner Jonas Becker  [warn] Daily Summariser" in out
    assert "sent     research-hook  owner Mei Chen      [warn] Research Assistant" in out
    assert "Lead Enricher" in out and "Not sent, 1 with nowhere to go" in out
    assert sorted(p for p, _ in got) == ["/data-hook", "/research-hook"]
    later = ["--vault", str(demo), "--now", (DEMO_NOW + timedelta(hours=1)).isoformat()]
    assert main(["alerts", "--json", *later]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["counts"] == {"skipped": 1} and len(got) == 2
    assert main(["alerts", "--status", "--vault", str(demo)]) == 0
    status = capsys.readouterr().out
    assert "data-hook" in status and "research-hook" in status and "2026-11-29T04:56:12Z" in status


@pytest.mark.e2e
def test_a_pass_is_handed_to_the_running_server(tmp_path, receiver, make_company):
    """The server sends with its own channels: the CLI process has none, so what arrives is the server's."""
    port, got = receiver
    vault = make_company(tmp_path / "vault")
    note = vault / "Agents" / "Support Agent.md"
    note.write_text(note.read_text().replace("status: active\n", "status: active\nbudget_usd_per_month: 0.0001\nnotify: ops\n"))
    store = tmp_path / "u.duckdb"
    usage = tmp_path / "usage.jsonl"
    hour = (datetime.now(UTC) - timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    usage.write_text("".join(json.dumps({
        "timestamp": (hour - timedelta(minutes=i)).isoformat(), "agent": "support-agent", "provider": "openai",
        "model": "gpt-4o-mini", "input_tokens": 20000, "output_tokens": 2000, "requests": 1, "request_id": f"r{i}",
    }) + "\n" for i in range(5)))
    base = [BRAIN, "--vault", str(vault), "--store", str(store)]
    ingest = subprocess.run([BRAIN, "ingest", str(usage), *base[1:]], capture_output=True, text=True, timeout=120)
    assert ingest.returncode == 0, ingest.stderr
    channels = tmp_path / "server-channels.toml"
    channels.write_text(f'ops = "json://127.0.0.1:{port}/ops"\n')
    os.chmod(channels, 0o600)
    server_env = {**os.environ, "BRAIN_CHANNELS_FILE": str(channels)}
    proc = subprocess.Popen([BRAIN, "serve", "--vault", str(vault), "--store", str(store), "--http", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=server_env)
    try:
        from brain.live.control import running_server

        deadline = time.monotonic() + 60
        while running_server(store) is None and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.05)
        r = subprocess.run([BRAIN, "alerts", "--json", "--vault", str(vault), "--store", str(store)],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        report = json.loads(r.stdout)
        assert [(i["outcome"], i["kind"], i["channel"]) for i in report["items"]] == [("sent", "budget", "ops")]
        assert [p for p, _ in got] == ["/ops"] and "Support Agent" in got[0][1]["title"]
    finally:
        proc.terminate()
        proc.wait(timeout=20)
