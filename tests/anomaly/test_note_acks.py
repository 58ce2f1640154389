"""Acks written in anomaly notes: which properties count, how they merge with the store's, and a
scan over a real vault folder and DuckDB store applying them."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from brain.anomaly import ScanInputs, detect_anomalies
from brain.anomaly.acks import merge_acks, note_ack, note_acks
from brain.anomaly.scan import Ack
from brain.facade import Brain
from brain.ingest import ingest_table
from brain.settings import Settings

NOW = dt.datetime(2026, 11, 20, 15, 0, tzinfo=dt.UTC)
ID = "0123456789ab"


def _props(**kw) -> dict:
    return {"type": "anomaly", "anomaly_id": ID, **kw}


@pytest.mark.parametrize(("props", "expected"), [
    (_props(status="acknowledged", ack_note="known, launch"), Ack("acknowledged", "known, launch")),
    (_props(status="  Planned ", ack_note=None), Ack("planned", "")),
    ({"Type": "Anomaly", "Anomaly ID": ID.upper(), "Status": "acknowledged", "ack-note": "a\n  b"}, Ack("acknowledged", "a b")),
    (_props(status="acknowledged", ack_note=42), Ack("acknowledged", "42")),
])
def test_a_note_saying_acknowledged_or_planned_is_an_ack(props, expected):
    assert note_ack(props) == (ID, expected)


@pytest.mark.parametrize("props", [
    _props(status="open"),
    _props(status="acknowleged"),  # a typo acknowledges nothing
    _props(status=None),
    _props(status=["acknowledged"]),
    _props(),
    {**_props(status="acknowledged"), "anomaly_id": "not-an-id"},
    {**_props(status="acknowledged"), "anomaly_id": None},
    {**_props(status="acknowledged"), "type": "agent"},
    {"status": "acknowledged", "anomaly_id": ID},
])
def test_anything_else_is_not(props):
    assert note_ack(props) is None


def test_note_acks_keeps_the_first_note_of_an_id():
    acks = note_acks([_props(status="open"), _props(status="planned", ack_note="first"), _props(status="acknowledged")])
    assert acks == {ID: Ack("planned", "first")}


def test_a_note_wins_when_it_acknowledges_and_never_undoes_a_store_ack():
    stored = {"aaaaaaaaaaaa": Ack("acknowledged", "from the CLI"), "bbbbbbbbbbbb": Ack("acknowledged", "kept"),
              "cccccccccccc": Ack("acknowledged", "store note")}
    notes = {"aaaaaaaaaaaa": Ack("planned", "from the note"), "bbbbbbbbbbbb": Ack("open", ""),
             "cccccccccccc": Ack("acknowledged", ""), "dddddddddddd": Ack("acknowledged", "only here")}
    assert merge_acks(stored, notes) == {
        "aaaaaaaaaaaa": Ack("planned", "from the note"),
        "bbbbbbbbbbbb": Ack("acknowledged", "kept"),
        "cccccccccccc": Ack("acknowledged", "store note"),  # a note without text keeps the store's
        "dddddddddddd": Ack("acknowledged", "only here"),
    }
    assert merge_acks({}, {}) == {}


# -- over a real store -----------------------------------------------------------------------------


def _usage(now: dt.datetime) -> pa.Table:
    """30 days of hourly Support Agent usage, 100x for five hours before `now`."""
    hours, requests = [], []
    hour = now - dt.timedelta(days=30)
    while hour < now - dt.timedelta(hours=1):
        hours.append(hour)
        requests.append(2000 if now - dt.timedelta(hours=7) <= hour < now - dt.timedelta(hours=2) else 20)
        hour += dt.timedelta(hours=1)
    n = len(hours)
    return pa.table({
        "timestamp": pa.array(hours, pa.timestamp("us", tz="UTC")),
        "agent": ["support-agent"] * n, "provider": ["openai"] * n, "model": ["gpt-4o"] * n,
        "input_tokens": [2000 * r for r in requests], "output_tokens": [200 * r for r in requests],
        "requests": requests, "request_id": [f"r{i}" for i in range(n)], "status": ["ok"] * n,
    })


@pytest.fixture
def brain(tmp_path, make_company):
    root = make_company(tmp_path / "vault")
    b = Brain.open(Settings(vault=root, store=tmp_path / "usage.duckdb"))
    ingest_table(b.store, _usage(NOW), "test-usage")
    yield b
    b.close()


def _reopen(brain: Brain) -> Brain:
    brain.close()
    return Brain.open(brain.settings)


def test_a_scan_applies_acks_from_notes_over_the_stores(brain):
    (found,) = brain.anomalies(days=7, now=NOW)
    assert found["status"] == "open"
    inputs = brain.scan_inputs()
    as_noted = ScanInputs(inputs.store, inputs.graph, inputs.identities, inputs.price_notes,
                          note_acks={found["id"]: Ack("planned", "the launch")})
    (scanned,) = detect_anomalies(as_noted, days=7, now=NOW)
    assert (scanned.status, scanned.note) == ("planned", "the launch")
    (plain,) = detect_anomalies(inputs, days=7, now=NOW)
    assert plain.status == "open"


def test_a_persons_own_anomaly_note_acknowledges_through_the_vault(brain):
    (found,) = brain.anomalies(days=7, now=NOW)
    note = brain.root / "Reviews" / "Support spike.md"
    note.parent.mkdir()
    note.write_text(f"---\ntype: anomaly\nanomaly_id: {found['id']}\nstatus: acknowledged\nack_note: load test\n---\n"
                    "We ran a load test.\n", encoding="utf-8")
    brain = _reopen(brain)
    assert brain.note_acks() == {found["id"]: Ack("acknowledged", "load test")}
    (again,) = brain.anomalies(days=7, now=NOW)
    assert (again["status"], again["note"]) == ("acknowledged", "load test")
    note.write_text(note.read_text(encoding="utf-8").replace("status: acknowledged", "status: open"), encoding="utf-8")
    brain = _reopen(brain)
    assert brain.anomalies(days=7, now=NOW)[0]["status"] == "open"  # no store ack: open again
    brain.acknowledge(found["id"], note="from the CLI", now=NOW)
    (acked,) = brain.anomalies(days=7, now=NOW)
    assert (acked["status"], acked["note"]) == ("acknowledged", "from the CLI")  # the note saying open does not undo it
    brain.close()
