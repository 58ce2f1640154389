"""Delivery records in the store (`alert_deliveries`, migration 0009_alerts): what was sent, to
which channel, when, with which result. They make a pass idempotent: a message is marked
'sending' (committed) before Apprise is called and 'sent' or 'failed' after, so a crash between
the two leaves 'sending', which the next pass sends again (at most one duplicate, never a missed
alert); 'failed' is retried with backoff. Writes go through a running server's shared store
(`store.write(fn)`) when that is what `store` is."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from brain.alerts.messages import Message

TABLE = "alert_deliveries"
STATUSES = ("held", "sending", "sent", "failed", "digested")
DELIVERED = ("sending", "sent", "failed", "digested")  # handed to delivery: never decided again
MAX_BACKOFF_MIN = 60

_COLUMNS = ("key", "channel", "kind", "ref", "severity", "title", "body", "status", "attempts",
            "first_attempt_at", "last_attempt_at", "next_attempt_at", "error", "sent_at", "digest_key", "created_at")


@dataclass(frozen=True)
class Delivery:
    """One recorded message for one channel."""

    key: str
    channel: str
    kind: str
    ref: str
    severity: str | None
    title: str
    body: str
    status: str  # one of STATUSES
    attempts: int
    first_attempt_at: datetime | None
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    error: str | None
    sent_at: datetime | None
    digest_key: str | None
    created_at: datetime

    @property
    def urgent(self) -> bool:
        """A critical anomaly or budget message: sent through quiet hours."""
        return self.severity == "critical" and self.kind in ("new", "update", "budget")

    def to_dict(self) -> dict:
        """JSON-ready dict (times as ISO strings)."""
        out = asdict(self)
        for k, v in out.items():
            if isinstance(v, datetime):
                out[k] = v.astimezone(UTC).isoformat().replace("+00:00", "Z")
        return out


def backoff(attempts: int) -> timedelta:
    """Wait before the next try after `attempts` failed ones: 1, 2, 4 ... minutes, at most an hour."""
    return timedelta(minutes=min(MAX_BACKOFF_MIN, 2 ** max(0, min(attempts, 12) - 1)))


@contextmanager
def _reading(store) -> Iterator[Any]:
    reading = getattr(store, "reading", None)  # a running server's shared store
    if reading is None:
        yield store
    else:
        with reading() as st:
            yield st


def load_deliveries(store, status: str | None = None) -> list[Delivery]:
    """Every recorded delivery (or those with `status`), oldest first."""
    sql = f"SELECT {', '.join(_COLUMNS)} FROM {TABLE}"
    params: list = []
    if status is not None:
        sql += " WHERE status = ?"
        params.append(status)
    with _reading(store) as st:
        rows = st.con.execute(sql + " ORDER BY created_at, key, channel", params).fetchall()
    return [Delivery(*r) for r in rows]


def write(store, fn: Callable[[Any], Any]) -> Any:
    """fn(con) in one transaction, through a running server's shared store when `store` is one."""

    def _in_transaction(target) -> Any:
        with target.transaction() as con:
            return fn(con)

    shared_write = getattr(store, "write", None)
    return shared_write(_in_transaction) if shared_write is not None else _in_transaction(store)


_UPSERT = f"""INSERT INTO {TABLE} ({', '.join(_COLUMNS)})
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?)
    ON CONFLICT (key, channel) DO UPDATE SET kind = excluded.kind, ref = excluded.ref,
        severity = excluded.severity, title = excluded.title, body = excluded.body,
        status = excluded.status, attempts = {TABLE}.attempts + excluded.attempts,
        first_attempt_at = coalesce({TABLE}.first_attempt_at, excluded.first_attempt_at),
        last_attempt_at = coalesce(excluded.last_attempt_at, {TABLE}.last_attempt_at),
        next_attempt_at = excluded.next_attempt_at, digest_key = excluded.digest_key"""


def _upsert(con, m: Message, status: str, now: datetime, next_at: datetime | None = None,
            digest_key: str | None = None) -> None:
    tried = status == "sending"
    con.execute(_UPSERT, [m.key, m.channel, m.kind, m.ref, m.severity, m.title, m.body, status, int(tried),
                          now if tried else None, now if tried else None, next_at, digest_key, now])


@dataclass(frozen=True)
class Plan:
    """What one pass writes before it calls Apprise."""

    holds: tuple[tuple[Message, datetime | None], ...] = ()  # owed, waiting (quiet hours, digest)
    drops: tuple[tuple[str, str], ...] = ()  # held rows no longer owed (acknowledged, rerouted)
    digested: tuple[tuple[Message, str], ...] = ()  # held items going out in a digest (its key)
    sending: tuple[Message, ...] = ()  # new messages, marked 'sending'
    retries: tuple[tuple[str, str], ...] = ()  # recorded (key, channel) failed or left 'sending'


def apply_plan(store, plan: Plan, now: datetime) -> None:
    """Record holds, drops and digested items, and mark every message about to go 'sending', in
    one transaction committed before any is sent."""

    def _apply(con) -> None:
        for key, channel in plan.drops:
            con.execute(f"DELETE FROM {TABLE} WHERE key = ? AND channel = ? AND status = 'held'", [key, channel])
        for m, until in plan.holds:
            _upsert(con, m, "held", now, next_at=until)
        for m, digest_key in plan.digested:
            _upsert(con, m, "digested", now, digest_key=digest_key)
        for m in plan.sending:
            _upsert(con, m, "sending", now)
        for key, channel in plan.retries:
            con.execute(
                f"""UPDATE {TABLE} SET status = 'sending', attempts = attempts + 1, last_attempt_at = ?,
                    first_attempt_at = coalesce(first_attempt_at, ?) WHERE key = ? AND channel = ?""",
                [now, now, key, channel])

    if plan.drops or plan.holds or plan.digested or plan.sending or plan.retries:
        write(store, _apply)


def record_results(store, results: Iterable[tuple[str, str, bool, str | None]], now: datetime) -> None:
    """Record each (key, channel, ok, error): 'sent', or 'failed' with the next try after backoff."""
    results = list(results)

    def _record(con) -> None:
        for key, channel, ok, error in results:
            if ok:
                con.execute(f"""UPDATE {TABLE} SET status = 'sent', sent_at = ?, error = NULL, next_attempt_at = NULL
                                WHERE key = ? AND channel = ?""", [now, key, channel])
                con.execute(f"UPDATE {TABLE} SET sent_at = ? WHERE digest_key = ? AND channel = ?", [now, key, channel])
                continue
            attempts = con.execute(f"SELECT attempts FROM {TABLE} WHERE key = ? AND channel = ?",
                                   [key, channel]).fetchone()
            next_at = now + backoff(attempts[0] if attempts else 1)
            con.execute(f"UPDATE {TABLE} SET status = 'failed', error = ?, next_attempt_at = ? WHERE key = ? AND channel = ?",
                        [error, next_at, key, channel])

    if results:
        write(store, _record)


def due_retries(deliveries: Iterable[Delivery], now: datetime) -> list[Delivery]:
    """Recorded messages to send again now: failed ones whose backoff is over, and any left
    'sending' by a pass that stopped between sending and recording."""
    return [d for d in deliveries if d.status == "sending"
            or (d.status == "failed" and (d.next_attempt_at is None or d.next_attempt_at <= now))]
