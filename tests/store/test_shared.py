"""The store shared by a running server's readers and writers (brain.store.shared): reads beside a
waiting write, the writer turn's lock file, reads outside the readers' lock, and a store an older
version made, upgraded when a reader opens it."""

from __future__ import annotations

import subprocess
import time

import duckdb
import pytest


@pytest.mark.e2e
def test_a_write_waiting_for_another_process_leaves_this_process_reading(tmp_path):
    """A server's write that waits for the file (a read-only DuckDB shell holds it) must not hold
    up that server's own readers."""
    import sys
    import threading

    from brain.store.database import Store
    from brain.store.shared import SharedStore

    path = tmp_path / "u.duckdb"
    Store(path).close()
    shared = SharedStore(path)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
         "print('open', flush=True); sys.stdin.read()", str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        outcome: list = []
        writer = threading.Thread(target=lambda: outcome.append(
            shared.write(lambda st: st.con.execute("SELECT 42").fetchall()[0][0], wait_s=60)))
        writer.start()
        reads = 0
        for _ in range(20):  # the write is waiting all along: the other process still holds the file
            with shared._lock:
                reads += shared.con.execute("SELECT count(*) FROM events").fetchall()[0][0] == 0
            time.sleep(0.05)
        assert reads == 20 and writer.is_alive() and not outcome
        holder.stdin.close()  # the shell goes: the write gets the file
        holder.wait(10)
        writer.join(30)
        assert outcome == [42]
    finally:
        if holder.poll() is None:
            holder.kill()
        shared.close()


def test_a_writer_turn_taken_on_a_recreated_lock_file_is_seen(tmp_path):
    """Deleting <store>.lock while servers run (it looks stale) must not hide later writers from them."""
    from brain.store.shared import WriterTurn

    path = tmp_path / "u.duckdb"
    reader = WriterTurn(path)
    with WriterTurn(path).take(time.monotonic() + 5):
        assert reader.wanted()
    assert not reader.wanted()
    (tmp_path / "u.duckdb.lock").unlink()
    with WriterTurn(path).take(time.monotonic() + 5):  # makes the file again
        assert reader.wanted()
    reader.close()


def test_a_read_outside_the_lock_keeps_its_connection_until_it_ends_and_a_write_waits_for_it(tmp_path):
    """`SharedStore.reading()`: a long query (an anomaly scan) runs without the readers' lock; the
    idle release skips it, a write of this process waits for it to end (and no new one starts
    meanwhile), then goes ahead."""
    import threading

    from brain.store.database import Store
    from brain.store.shared import SharedStore

    path = tmp_path / "u.duckdb"
    Store(path).close()
    lock = threading.RLock()
    shared = SharedStore(path, lock=lock, idle_s=0)
    acks = "SELECT count(*) FROM anomaly_acks"
    try:
        outcome: list = []
        with shared.reading() as store:
            assert store.con.execute(acks).fetchall() == [(0,)]
            other = threading.Thread(target=lambda: outcome.append(lock.acquire(timeout=30) and lock.release()))
            other.start()
            other.join(30)
            assert outcome == [None]  # the lock was free while the read went on
            shared._let_go_unless_in_use()  # idle: the watcher would let go, but not under a read
            assert store.con.execute(acks).fetchall() == [(0,)]
            writer = threading.Thread(target=lambda: outcome.append(shared.write(lambda st: st.con.execute(
                "INSERT INTO anomaly_acks VALUES ('0123456789ab', 'acknowledged', '', now())").fetchall())))
            writer.start()
            assert shared.waiting_for_readers.wait(30)
            assert store.con.execute(acks).fetchall() == [(0,)]  # still open while the write waits
            assert writer.is_alive() and outcome == [None]
        writer.join(30)
        assert not writer.is_alive() and len(outcome) == 2
        with shared.reading() as store:
            assert store.con.execute(acks).fetchall() == [(1,)]
    finally:
        shared.close()


def test_a_reader_never_waits_for_the_turn_its_own_process_is_taking(tmp_path, monkeypatch):
    """Between its writer taking the turn and opening the file, a read of the same process that
    reopens its handle must not wait for that turn: it would hold the lock the writer's tries need."""
    import threading
    from contextlib import contextmanager

    from brain.store.database import Store
    from brain.store.shared import SharedStore, WriterTurn

    path = tmp_path / "u.duckdb"
    Store(path).close()
    shared = SharedStore(path)
    taken, go = threading.Event(), threading.Event()
    take = WriterTurn.take

    @contextmanager
    def take_then_pause(self, deadline):
        with take(self, deadline):
            taken.set()
            go.wait(30)
            yield

    monkeypatch.setattr(WriterTurn, "take", take_then_pause)
    outcome: list = []
    writer = threading.Thread(target=lambda: outcome.append(shared.write(lambda st: 42, wait_s=30)))
    writer.start()
    try:
        assert taken.wait(10)
        with shared._lock:
            shared._let_go()  # the read handle let go of, as when a writer waits
        read: list = []
        reader = threading.Thread(target=lambda: read.append(shared.con.execute("SELECT 1").fetchall()))
        reader.start()
        reader.join(10)
        assert read == [[(1,)]] and writer.is_alive()  # answered while the writer still holds the turn
    finally:
        go.set()
        writer.join(30)
        shared.close()
    assert outcome == [42]


def test_a_store_from_an_older_version_is_upgraded_on_a_read_only_open(tmp_path):
    """A reader (CLI, benchmark) meeting a store made before the latest migration upgrades it once."""
    import datetime as dt

    from brain.store.database import MIGRATIONS
    from brain.store.shared import open_store

    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)")
    for name, fn in MIGRATIONS[:-1]:  # everything but the newest migration
        fn(con)
        con.execute("INSERT INTO schema_migrations VALUES (?, ?)", [name, dt.datetime.now(dt.UTC)])
    con.close()
    store = open_store(path, read_only=True)
    try:
        assert store.read_only
        assert store.applied_migrations() == sorted(name for name, _ in MIGRATIONS)
    finally:
        store.close()
