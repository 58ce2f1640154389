"""A live brain: `brain serve` (real subprocess, real mcp client) sees hand edits, new notes and
usage ingested by another process, and CLI readers work beside it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from brain.live.control import running_server
from brain.publish.notes import cost_note_name

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]
BRAIN = str(Path(sys.executable).parent / "brain")


async def test_ingest_beside_the_server_is_seen_within_seconds(tmp_path, make_company, usage_file, ingest, wait):
    vault = make_company(tmp_path / "vault")
    store = tmp_path / "usage.duckdb"
    first = usage_file(tmp_path / "first.parquet", 10_000)
    assert ingest(vault, store, first).returncode == 0  # no server yet: written directly
    big = usage_file(tmp_path / "big.parquet", 1_000_000, prefix="big")
    params = StdioServerParameters(command=BRAIN, args=["serve", "--vault", str(vault), "--store", str(store)])
    async with Client(params) as client:
        before = await client.call_tool("agent_costs", {"name": "Support Agent", "days": 30})
        assert not before.is_error
        spend_before = before.structured_content["spend_usd"]
        assert running_server(store) is not None
        proc = subprocess.Popen(
            [BRAIN, "ingest", str(big), "--vault", str(vault), "--store", str(store), "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        answers = 0
        while proc.poll() is None:  # the server keeps answering while the ingest runs
            during = await client.call_tool("agent_costs", {"name": "Support Agent", "days": 30})
            assert not during.is_error, during.content
            answers += 1
            await anyio.sleep(0.05)
        out, err = proc.communicate()
        assert proc.returncode == 0, err
        assert json.loads(out)["accepted"] == 1_000_000
        assert "running server" in err
        assert answers >= 1

        async def grown():
            r = await client.call_tool("agent_costs", {"name": "Support Agent", "days": 30})
            return r.structured_content["spend_usd"] > spend_before * 50 and r

        assert await wait(grown, 60.0), "new spend never became visible"
        # a CLI reader works beside the running server
        spend = subprocess.run([BRAIN, "spend", "--vault", str(vault), "--store", str(store), "--json"], capture_output=True, text=True, timeout=120)
        assert spend.returncode == 0, spend.stderr
        assert json.loads(spend.stdout)["total_usd"] > 0
        # several ingests at once are serialised by the server
        a = usage_file(tmp_path / "a.parquet", 20_000, prefix="a")
        b = usage_file(tmp_path / "b.parquet", 20_000, prefix="b")
        pa_, pb = (subprocess.Popen([BRAIN, "ingest", str(f), "--vault", str(vault), "--store", str(store), "--json"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for f in (a, b))
        outs = [p.communicate(timeout=300) for p in (pa_, pb)]
        assert [p.returncode for p in (pa_, pb)] == [0, 0], outs
        assert [json.loads(o)["accepted"] for o, _ in outs] == [20_000, 20_000]
    assert running_server(store) is None  # the announcement is withdrawn on exit


async def test_hand_edits_and_new_notes_reach_the_client(tmp_path, make_company, wait):
    vault = make_company(tmp_path / "vault")
    params = StdioServerParameters(command=BRAIN, args=["serve", "--vault", str(vault), "--store", str(tmp_path / "u.duckdb")])
    async with Client(params) as client, client.listen(resources_list_changed=True) as sub:
        own = await client.call_tool("owner_of", {"name": "Support Agent"})
        old_person = own.structured_content["person"]
        note = vault / "Agents" / "Support Agent.md"
        text = note.read_text(encoding="utf-8")
        assert "[[Ada Lovelace]]" in text and old_person == "Ada Lovelace"
        note.write_text(text.replace("[[Ada Lovelace]]", "[[Alan Turing]]"), encoding="utf-8")

        async def moved():
            r = await client.call_tool("owner_of", {"name": "Support Agent"})
            return r.structured_content["person"] == "Alan Turing"

        assert await wait(moved, 60.0)  # latency is measured in tests/benchmarks/bench_live.py
        (vault / "Tools" / "Brand New Tool.md").write_text("---\ntype: tool\n---\nnew\n", encoding="utf-8")
        with anyio.fail_after(60):
            event = await sub.__anext__()
        assert type(event).__name__ == "ResourcesListChanged"
        found = await client.call_tool("get_node", {"name": "Brand New Tool"})
        assert not found.is_error
        assert (found.structured_content["id"], found.structured_content["type"]) == ("Tools/Brand New Tool", "tool")


async def test_vault_replaced_and_note_trashed_while_serving(tmp_path, make_company, wait):
    """QA live2 #2 and #1 through `brain serve`: the vault folder deleted and restored at its path is
    watched again, and a note moved to .trash no longer satisfies links to it."""
    vault = make_company(tmp_path / "vault")
    backup = shutil.copytree(vault, tmp_path / "backup", symlinks=True)
    params = StdioServerParameters(command=BRAIN, args=["serve", "--vault", str(vault), "--store", str(tmp_path / "u.duckdb")])
    async with Client(params) as client:
        notes = (await client.call_tool("graph_stats", {})).structured_content["notes"]
        shutil.rmtree(vault)  # rm -rf vault && git clone ... vault
        shutil.copytree(backup, vault, symlinks=True)
        (vault / "Tools" / "After Restore.md").write_text("---\ntype: tool\n---\n", encoding="utf-8")

        async def restored():
            stats = (await client.call_tool("graph_stats", {})).structured_content
            return stats["notes"] == notes + 1

        assert await wait(restored, 60.0)
        (vault / ".trash").mkdir()
        (vault / "Tools" / "After Restore.md").write_text("---\ntype: tool\n---\n[[Vector Store]]\n", encoding="utf-8")
        os.rename(vault / "Tools" / "Vector Store.md", vault / ".trash" / "Vector Store.md")

        async def broken():  # as on a cold load: a broken link, not a link to a file in .trash
            r = await client.call_tool("inventory_gaps", {"limit": 200})
            return any(g["kind"] == "broken_link" and "'Vector Store'" in g["message"]
                       for g in r.structured_content["items"])

        assert await wait(broken, 60.0)


def test_ack_goes_through_the_running_server(tmp_path, make_company):
    """Without a server the CLI writes the ack itself; with one, it asks the server (no lock error)."""
    vault = make_company(tmp_path / "vault")
    store = tmp_path / "u.duckdb"
    env = {**os.environ}
    proc = subprocess.Popen([BRAIN, "serve", "--vault", str(vault), "--store", str(store), "--http", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 60
        while running_server(store) is None and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.05)
        assert running_server(store) is not None
        r = subprocess.run([BRAIN, "anomalies", "ack", "0123456789ab", "--note", "x", "--vault", str(vault), "--store", str(store)],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 1 and "no anomaly" in r.stderr and "lock" not in r.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=20)


async def test_serve_with_otlp_and_publish_keeps_costs_current(tmp_path, make_company, wait, free_port, post_otlp_when_up):
    """Spans sent to `brain serve --otlp` land through the server; --publish refreshes Brain/ after."""

    vault = make_company(tmp_path / "vault")
    store = tmp_path / "u.duckdb"
    port = free_port()
    ts = int(time.time() - 3600) * 1_000_000_000
    doc = {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "whatever-svc"}}]},
        "scopeSpans": [{"scope": {"name": "test"}, "spans": [{
            "traceId": f"{i:032x}", "spanId": f"{i:016x}", "name": "chat", "startTimeUnixNano": str(ts + i),
            "attributes": [
                {"key": "gen_ai.agent.name", "value": {"stringValue": "support-agent"}},
                {"key": "gen_ai.provider.name", "value": {"stringValue": "openai"}},
                {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
                {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "100000"}},
                {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "10000"}},
            ]} for i in range(1, 201)]}]}]}
    args = ["serve", "--vault", str(vault), "--store", str(store), "--otlp", "--otlp-port", str(port), "--publish"]
    async with Client(StdioServerParameters(command=BRAIN, args=args)) as client:
        await post_otlp_when_up(port, doc, "OTLP receiver did not come up")

        async def landed():
            r = await client.call_tool("agent_costs", {"name": "Support Agent", "days": 7})
            return r.structured_content["requests"] >= 200 and r

        card = await wait(landed, 60.0)
        assert card, "OTLP spans not visible through the server"
        # 200 calls x (100k in + 10k out) on gpt-4o-mini: 200 x ($0.015 + $0.006) = $4.20
        assert abs(card.structured_content["spend_usd"] - 4.2) < 1e-6
        note = vault / "Brain" / "Costs" / f"{cost_note_name('Support Agent')}.md"

        def published_spend():
            if not note.exists():
                return None
            text = note.read_text(encoding="utf-8")
            line = next((ln for ln in text.splitlines() if ln.startswith("spend_usd:")), "")
            return float(line.split(":", 1)[1]) if line else None

        end = time.monotonic() + 60
        while (published_spend() or 0) < 4.2 - 1e-3:
            assert time.monotonic() < end, f"cost note not refreshed: {published_spend()}"
            await anyio.sleep(0.1)
        assert abs(published_spend() - 4.2) < 1e-3  # the served figure, not merely as much


def test_collect_shares_the_store_and_refuses_a_served_one(tmp_path, make_company, usage_file, ingest, free_port):
    """`brain collect` keeps the store readable and takes `brain ingest` through it; it will not
    start on a store a running `brain serve` owns."""
    vault = make_company(tmp_path / "vault")
    store = tmp_path / "u.duckdb"
    proc = subprocess.Popen([BRAIN, "collect", "--vault", str(vault), "--store", str(store), "--port", str(free_port())],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while running_server(store) is None:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() is not None else "slow"
            time.sleep(0.05)
        r = ingest(vault, store, usage_file(tmp_path / "x.parquet", 5_000))
        assert r.returncode == 0 and json.loads(r.stdout)["accepted"] == 5_000, r.stderr
        assert "running server" in r.stderr
        s = subprocess.run([BRAIN, "spend", "--vault", str(vault), "--store", str(store), "--json"], capture_output=True, text=True, timeout=120)
        assert s.returncode == 0 and json.loads(s.stdout)["total_usd"] > 0, s.stderr
        second = subprocess.run([BRAIN, "collect", "--vault", str(vault), "--store", str(store), "--port", str(free_port())],
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 1 and "owns" in second.stderr and len(second.stderr.strip().splitlines()) == 1
    finally:
        proc.terminate()
        proc.wait(timeout=20)
