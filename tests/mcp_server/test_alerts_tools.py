"""The alert tools and resources through the SDK's in-memory client: alerts, budgets, and the write
tools set_budget and ack_anomaly (byte-preserving, only with allow_writes)."""

from __future__ import annotations

import json
import math

import pytest
from mcp import Client

from brain.errors import BrainError
from mcp_server import build_server

pytestmark = pytest.mark.anyio


@pytest.fixture
async def writer(brain):
    async with Client(build_server(brain, allow_writes=True)) as c:
        yield c


@pytest.fixture
async def cwriter(costed):
    async with Client(build_server(costed, allow_writes=True)) as c:
        yield c


async def _read(client, uri: str) -> dict:
    return json.loads((await client.read_resource(uri)).contents[0].text)


# -- listing ----------------------------------------------------------------------------------------


async def test_alert_tools_are_read_only_and_the_writes_need_allow_writes(client, writer, vault, fail):
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert {"alerts", "budgets"} <= set(tools) and not {"set_budget", "ack_anomaly"} & set(tools)
    for name in ("alerts", "budgets"):
        assert tools[name].annotations.read_only_hint is True and tools[name].output_schema is not None
    written = {t.name: t for t in (await writer.list_tools()).tools}
    for name in ("set_budget", "ack_anomaly"):
        assert written[name].annotations.read_only_hint is False
        assert written[name].annotations.destructive_hint is False
    before = (vault / "Agents" / "Support Agent.md").read_bytes()
    assert "set_budget" in await fail(client, "set_budget", name="Support Agent", usd=100)
    assert "ack_anomaly" in await fail(client, "ack_anomaly", id="0123456789ab")
    assert (vault / "Agents" / "Support Agent.md").read_bytes() == before


# -- budgets ----------------------------------------------------------------------------------------


async def test_set_budget_adds_one_line_and_budgets_shows_it(writer, vault, call):
    empty = await call(writer, "budgets")
    assert empty["count"] == 0 and "budget_usd_per_month" in empty["note"]
    path = vault / "Agents" / "Support Agent.md"
    before = path.read_bytes()
    out = await call(writer, "set_budget", name="Support Bot", usd=500)
    assert out["path"] == "Agents/Support Agent.md" and "$500.00" in out["summary"]
    assert path.read_bytes() == before.replace(b"status: active\n", b"status: active\nbudget_usd_per_month: 500\n")
    team = vault / "Teams" / "Platform.md"
    await call(writer, "set_budget", name="platform", usd=20.5, period="day")
    assert team.read_bytes() == b"---\ntype: team\nbudget_usd_per_day: 20.5\n---\n"
    rows = {(b["name"], b["period"]): b for b in (await call(writer, "budgets"))["budgets"]}
    assert set(rows) == {("Support Agent", "month"), ("Platform", "day")}
    assert (rows["Support Agent", "month"]["budget_usd"], rows["Support Agent", "month"]["kind"]) == (500, "agent")
    assert rows["Platform", "day"]["budget_usd"] == 20.5
    assert (await _read(writer, "brain://budgets"))["budgets"] == (await call(writer, "budgets"))["budgets"]


async def test_set_budget_replaces_a_budget_keeping_every_other_byte(writer, vault, brain, call):
    path = vault / "People" / "Alan Turing.md"
    path.write_bytes(b"---\r\ntype: person\r\nbudget_usd_per_month: 100   # agreed with finance\r\nrole: founder\r\n---\r\nBody.\r\n")
    brain.refresh_note("People/Alan Turing.md")  # what the vault watcher of a served brain does
    await call(writer, "set_budget", name="Alan Turing", usd=250.75)
    assert path.read_bytes() == (
        b"---\r\ntype: person\r\nbudget_usd_per_month: 250.75   # agreed with finance\r\nrole: founder\r\n---\r\nBody.\r\n")
    again = await call(writer, "set_budget", name="Alan Turing", usd=250.75)
    assert "already" in again["summary"]


async def test_set_budget_refuses_bad_values_and_wrong_notes(writer, vault, brain, fail):
    path = vault / "Agents" / "Support Agent.md"
    before = path.read_bytes()
    assert "above 0" in await fail(writer, "set_budget", name="Support Agent", usd=-5)
    assert "above 0" in await fail(writer, "set_budget", name="Support Agent", usd=0)
    assert "usd" in await fail(writer, "set_budget", name="Support Agent", usd="lots")
    assert "period" in await fail(writer, "set_budget", name="Support Agent", usd=5, period="week")
    assert "budgets go on agent, team or person notes" in await fail(writer, "set_budget", name="Vector Store", usd=5)
    assert "did you mean 'Support Agent'" in await fail(writer, "set_budget", name="Suport Agent", usd=5)
    for bad in (math.nan, math.inf, -0.01, True, "12"):
        with pytest.raises(BrainError, match="above 0"):
            brain.set_budget("Support Agent", bad if bad != "12" else "twelve")
    assert path.read_bytes() == before


# -- anomalies: acknowledged in the store and in their notes, both ways -----------------------------


async def test_alerts_lists_deliveries_and_what_stands_to_alert(cwriter, call, fail):
    out = await call(cwriter, "alerts")
    assert out["deliveries"] == [] and out["status"] is None
    standing = out["open"]
    assert [a["agent"] for a in standing["anomalies"]] == ["Support Agent"]
    assert standing["min_severity"] == "warn" and standing["budgets"] == []
    assert (await call(cwriter, "alerts", status="sent"))["deliveries"] == []
    assert "status" in await fail(cwriter, "alerts", status="delivered")
    assert (await _read(cwriter, "brain://alerts"))["anomalies"] == standing["anomalies"]


async def test_ack_anomaly_without_a_published_note_acknowledges_in_the_store(cwriter, call):
    (a,) = (await call(cwriter, "alerts"))["open"]["anomalies"]
    out = await call(cwriter, "ack_anomaly", id=a["id"], note="launch week")
    assert (out["status"], out["note"], out["notes_written"], out["note_problems"]) == ("acknowledged", "launch week", [], [])
    assert (await call(cwriter, "alerts"))["open"]["anomalies"] == []
    listed = (await call(cwriter, "anomalies", include_acknowledged=True))["anomalies"]
    assert [(x["id"], x["status"], x["note"]) for x in listed] == [(a["id"], "acknowledged", "launch week")]


async def test_ack_anomaly_sets_status_and_ack_note_in_the_published_note(cwriter, costed, call):
    costed.publish()
    (a,) = (await call(cwriter, "alerts"))["open"]["anomalies"]
    path = costed.root / "Brain" / "Anomalies" / f"{a['id']} Support Agent.md"
    before = path.read_bytes()
    out = await call(cwriter, "ack_anomaly", id=a["id"], note="  a planned\nload test ", planned=True)
    assert out["notes_written"] == [f"Brain/Anomalies/{a['id']} Support Agent.md"] and out["status"] == "planned"
    assert path.read_bytes() == before.replace(b"status: open\n", b"status: planned\n").replace(
        b'ack_note: ""\n', b'ack_note: "a planned load test"\n')
    assert costed.note_acks()[a["id"]].status == "planned"
    again = costed.publish()  # the person-side values stay as they are
    assert path.relative_to(costed.root).as_posix() not in again.kept
    text = path.read_text(encoding="utf-8")
    assert "status: planned\n" in text and 'ack_note: "a planned load test"\n' in text


async def test_a_hand_ack_in_the_note_shows_in_the_tools(cwriter, costed, call):
    costed.publish()
    (a,) = (await call(cwriter, "alerts"))["open"]["anomalies"]
    rel = f"Brain/Anomalies/{a['id']} Support Agent.md"
    path = costed.root / rel
    path.write_text(path.read_text(encoding="utf-8").replace("status: open\n", "status: acknowledged\n")
                    .replace('ack_note: ""\n', "ack_note: known, launch\n"), encoding="utf-8")
    costed.refresh_note(rel)  # what the vault watcher of a served brain does
    assert (await call(cwriter, "alerts"))["open"]["anomalies"] == []
    listed = (await call(cwriter, "anomalies", include_acknowledged=True))["anomalies"]
    assert [(x["id"], x["status"], x["note"]) for x in listed] == [(a["id"], "acknowledged", "known, launch")]


async def test_ack_anomaly_of_an_unknown_id_says_so(cwriter, fail):
    assert "anomaly" in await fail(cwriter, "ack_anomaly", id="0123456789ab")


async def test_ack_anomaly_holds_when_its_note_cannot_be_written(cwriter, costed, call):
    costed.publish()
    (a,) = (await call(cwriter, "alerts"))["open"]["anomalies"]
    path = costed.root / "Brain" / "Anomalies" / f"{a['id']} Support Agent.md"
    before = path.read_bytes()
    path.chmod(0o444)
    try:
        out = await call(cwriter, "ack_anomaly", id=a["id"], note="launch week")
    finally:
        path.chmod(0o644)
    assert out["status"] == "acknowledged" and out["notes_written"] == []
    assert len(out["note_problems"]) == 1 and "read-only" in out["note_problems"][0]
    assert path.read_bytes() == before
    assert (await call(cwriter, "alerts"))["open"]["anomalies"] == []
