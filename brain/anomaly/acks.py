"""Acknowledged and planned anomalies: kept in the store's `anomaly_acks`, they stop alerting."""

from __future__ import annotations

import re
from datetime import datetime

from brain.anomaly.scan import Ack

ANOMALY_ID = re.compile(r"^[0-9a-f]{12}$")


def load_acks(store) -> dict[str, Ack]:
    """Acknowledged and planned anomaly ids from the store."""
    rows = store.con.execute("SELECT anomaly_id, status, note FROM anomaly_acks").fetchall()
    return {r[0]: Ack(status=r[1], note=r[2] or "") for r in rows}


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
