"""Acknowledged and planned anomalies: kept in the store's `anomaly_acks`, or written by a person
into the anomaly's published note (`status: acknowledged|planned`, `ack_note`); they stop alerting."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime

from brain.anomaly.scan import Ack

ANOMALY_ID = re.compile(r"^[0-9a-f]{12}$")
ACK_STATUSES = ("acknowledged", "planned")
NOTE_STATUSES = ("open", *ACK_STATUSES)
NOTE_TYPE = "anomaly"  # the `type` of the notes `brain publish` writes per anomaly (brain.publish.anomaly_notes)


def load_acks(store) -> dict[str, Ack]:
    """Acknowledged and planned anomaly ids from the store."""
    rows = store.con.execute("SELECT anomaly_id, status, note FROM anomaly_acks").fetchall()
    return {r[0]: Ack(status=r[1], note=r[2] or "") for r in rows}


def _prop(properties: Mapping, key: str):
    """A property by name in any case or spelling Obsidian allows (`Status`, `ack note`, `ack-note`)."""
    for k, v in properties.items():
        if str(k).strip().lower().replace(" ", "_").replace("-", "_") == key:
            return v
    return None


def note_ack(properties: Mapping) -> tuple[str, Ack] | None:
    """(anomaly id, ack) a person wrote in an anomaly note's properties: `type: anomaly`, its
    `anomaly_id`, and `status: acknowledged` or `planned` with an optional `ack_note`. None for any
    other note, an anomaly note still `open`, or a status that is not one of those (`brain check`
    is the place to say so; an unreadable status never acknowledges anything)."""
    kind = _prop(properties, "type")
    if not isinstance(kind, str) or kind.strip().lower() != NOTE_TYPE:
        return None
    anomaly_id = _prop(properties, "anomaly_id")
    if not isinstance(anomaly_id, str) or not ANOMALY_ID.match(anomaly_id.strip().lower()):
        return None
    status = _prop(properties, "status")
    if not isinstance(status, str) or status.strip().lower() not in ACK_STATUSES:
        return None
    note = _prop(properties, "ack_note")
    text = "" if note is None else " ".join(str(note).split())
    return anomaly_id.strip().lower(), Ack(status=status.strip().lower(), note=text)


def note_acks(notes: Iterable[Mapping]) -> dict[str, Ack]:
    """Acks written in anomaly notes, from the properties of every note (see `note_ack`). An id
    acknowledged in several notes (published into two folders) takes the first in the given order."""
    out: dict[str, Ack] = {}
    for properties in notes:
        found = note_ack(properties)
        if found is not None:
            out.setdefault(*found)
    return out


def merge_acks(stored: Mapping[str, Ack], from_notes: Mapping[str, Ack]) -> dict[str, Ack]:
    """The store's acks with those written in anomaly notes over them: a note that says
    acknowledged or planned wins (its `ack_note`, or the store's note when it has none); a note
    that says open is no ack at all, so it never undoes a `brain anomalies ack`."""
    out = dict(stored)
    for anomaly_id, ack in from_notes.items():
        if ack.status not in ACK_STATUSES:
            continue
        before = stored.get(anomaly_id)
        note = ack.note or (before.note if before is not None else "")
        out[anomaly_id] = Ack(status=ack.status, note=note)
    return out


def record_ack(store, anomaly_id: str, status: str, note: str, when: datetime) -> None:
    """Store an ack (`acknowledged` or `planned`) for an anomaly id, through a running server's
    shared store when that is what `store` is."""

    def _record(target) -> None:
        with target.transaction() as con:
            con.execute("INSERT OR REPLACE INTO anomaly_acks VALUES (?, ?, ?, ?)", [anomaly_id, status, note, when])

    write = getattr(store, "write", None)  # a running server's shared store writes this way
    if write is not None:
        write(_record)
    else:
        _record(store)
