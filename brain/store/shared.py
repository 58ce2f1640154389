"""The usage store shared between processes: any number of readers, one writer at a time.

DuckDB lets one process write a database file, or several processes read it, never both at once.
Several `brain serve` processes run on one vault as a matter of course (Claude Desktop and Cursor
each start their own), beside `brain ingest` and CLI readers. So:

- a server opens the store read-only only to answer, and lets go of it once idle or as soon as a
  writer asks (`SharedStore`);
- a writer first takes its turn on `<store>.lock`, an OS file lock held only while it waits for
  the file: readers see the turn taken, close their handles and open no new ones; then it opens the
  file read-write, and readers wait until it is done (`open_store`);
- every server watches the file's stamp, so data written by any process is seen, and announced to
  its clients, by all of them.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from brain.errors import StoreError, StoreNeedsMigration
from brain.store.database import Store

try:
    import fcntl
except ImportError:  # Windows: no turns; writers wait for readers' idle release instead
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

LOCK_WAIT_S = 60.0  # longest a reader or writer waits for another process's write
IDLE_RELEASE_S = 5.0  # a read handle nobody used for this long is closed
TICK_S = 0.05  # how often a server looks for a waiting writer
STAMP_EVERY_S = 0.5  # how often a server looks for data another process wrote


def _is_lock_error(exc: BaseException) -> bool:
    cause = exc.__cause__ if isinstance(exc, StoreError) else exc
    return isinstance(cause, duckdb.IOException) and "lock" in str(cause).lower()


def file_stamp(path: Path) -> tuple:
    """What changes when any process writes the store: the database file and its write-ahead log."""
    out: list[tuple[int, int, int] | None] = []
    for p in (path, Path(f"{path}.wal")):
        try:
            st = os.stat(p)
        except OSError:
            out.append(None)
            continue
        out.append((st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(out)


class WriterTurn:
    """`<store>.lock`: a writer holds it while it waits to open the store read-write; readers that
    see it held let go of the file. POSIX file locks, so a writer that dies releases it."""

    def __init__(self, store_path: str | os.PathLike):
        self.path = Path(f"{store_path}.lock")
        self._probe: int | None = None

    @contextmanager
    def take(self, deadline: float) -> Iterator[None]:
        """Hold the turn, after any other writer's (waiting until `deadline`)."""
        fd = None
        if fcntl is not None:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError:  # no folder yet, or a read-only one: nobody to ask, just open
                fd = None
        try:
            delay = 0.01
            while fd is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise StoreError(f"another writer kept {self.path.with_suffix('')} busy too long; try again") from None
                    time.sleep(delay)
                    delay = min(delay * 2, 0.2)
            yield
        finally:
            if fd is not None:
                os.close(fd)  # releases the lock

    def wanted(self) -> bool:
        """True while a writer, in any process, waits for readers to let go of the store."""
        if fcntl is None:
            return False
        if self._probe is not None and not self._probes_current_file():
            os.close(self._probe)  # the file was deleted (and maybe made again): probe the new one
            self._probe = None
        if self._probe is None:
            try:
                self._probe = os.open(self.path, os.O_RDONLY)  # no writer has made it: nobody waits
            except OSError:
                return False
        try:
            fcntl.flock(self._probe, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:
            return False
        fcntl.flock(self._probe, fcntl.LOCK_UN)
        return False

    def _probes_current_file(self) -> bool:
        assert self._probe is not None
        try:
            here, there = os.fstat(self._probe), os.stat(self.path)
        except OSError:
            return False
        return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)

    def close(self) -> None:
        """Close the probe."""
        if self._probe is not None:
            os.close(self._probe)
            self._probe = None


def _retry(path: Path, opener: Callable[[], Store], deadline: float, wait_s: float, turn: WriterTurn | None = None) -> Store:
    """opener() until it gets the file (a reader also holds back while a writer waits for its turn)."""
    delay = 0.02
    while True:
        if turn is not None and turn.wanted() and time.monotonic() < deadline:
            time.sleep(delay)
            delay = min(delay * 2, 0.25)
            continue
        try:
            return opener()
        except StoreError as exc:
            if not _is_lock_error(exc):
                raise
            if time.monotonic() >= deadline:
                raise StoreError(
                    f"usage store {path} stayed locked by another process for {wait_s:.0f} s; "
                    "is a `brain collect` or another writer running?"
                ) from exc
        time.sleep(delay)
        delay = min(delay * 2, 0.25)


def open_store(
    path: str | os.PathLike, read_only: bool = False, wait_s: float = LOCK_WAIT_S, create: bool = False,
    yield_to_writers: bool = True,
) -> Store:
    """Open the store, waiting (with backoff) while another process writes it.

    A writer takes its turn first, so that running servers let go of their read handles. A
    read-only open creates the store with `create`, and migrates one made by an older version.
    `yield_to_writers=False`: a reader of the process whose writer holds the turn does not wait
    for it.
    """
    path = Path(path)
    deadline = time.monotonic() + wait_s
    turn = WriterTurn(path)
    try:
        if not read_only:
            with turn.take(deadline):
                return _retry(path, lambda: Store(path), deadline, wait_s)
        if create and not path.exists():
            with turn.take(deadline):  # create it with its schema, then reopen read-only
                _retry(path, lambda: Store(path), deadline, wait_s).close()
        try:
            return _retry(path, lambda: Store(path, read_only=True), deadline, wait_s, turn if yield_to_writers else None)
        except StoreNeedsMigration:
            log.warning("upgrading usage store %s to the current schema", path)
            with turn.take(deadline):  # made by an older version: migrate once, then reopen
                _retry(path, lambda: Store(path), deadline, wait_s).close()
            return _retry(path, lambda: Store(path, read_only=True), deadline, wait_s, turn)
    finally:
        turn.close()


class SharedStore:
    """A server's store: read-only handles opened on demand and let go of when idle or when a writer
    waits, one write at a time, and `version` changing whenever any process wrote the file.

    Readers use `con` while holding `lock` (the Brain's lock), or a cursor from `reading()` without
    it (a long query then holds up no one); the store closes and swaps its connection only under
    that lock, and only once no `reading()` is active.
    """

    def __init__(self, path: str | os.PathLike, lock: threading.RLock | None = None, idle_s: float = IDLE_RELEASE_S):
        self.path = Path(path)
        self.idle_s = idle_s
        self.listeners: list[Callable[[Any], None]] = []  # called after a write here or elsewhere
        self._lock = lock or threading.RLock()
        self._write_lock = threading.Lock()
        self._store: Store | None = None
        self._writing = False
        self._taking_turn = False  # this process's writer holds the turn: its readers need not wait
        self._closed = False
        self._writes = 0
        self._used_at = 0.0
        self._readers = 0  # active `reading()` blocks; changed under `_lock` + `_no_readers` (down: `_no_readers` only)
        self._no_readers = threading.Condition(threading.Lock())
        self.waiting_for_readers = threading.Event()  # set while a write or close waits for `reading()` blocks
        self._turn = WriterTurn(self.path)
        open_store(self.path, read_only=True, create=True).close()  # create when missing, migrate when behind
        self._stamp = file_stamp(self.path)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="brain-store", daemon=True)
        self._thread.start()

    @property
    def read_only(self) -> bool:
        """False only while a write runs."""
        return not self._writing

    @property
    def version(self) -> tuple:
        """Changes after every write, by this process or any other, so caches know the data changed."""
        return (self._writes, file_stamp(self.path))

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The connection to read with: read-only (opened now if let go of), or the writer's while a write runs."""
        with self._lock:
            if self._store is None:
                if self._closed:
                    raise StoreError(f"usage store {self.path} is closed: the server is stopping")
                self._store = open_store(self.path, read_only=True, yield_to_writers=not self._taking_turn)
            self._used_at = time.monotonic()
            return self._store.con

    @contextmanager
    def reading(self) -> Iterator[Store]:
        """The store on a cursor of the current connection, usable without `lock` until the block
        ends: the connection is not let go of meanwhile (a write or close waits for the block; no
        new block starts while one waits, since it holds `lock`). The block must not take `lock`."""
        with self._lock:
            cursor = self.con.cursor()
            with self._no_readers:
                self._readers += 1
        try:
            yield Store(self.path, read_only=True, con=cursor)
        finally:
            try:
                cursor.close()
            finally:
                with self._no_readers:
                    self._readers -= 1
                    self._no_readers.notify_all()

    def transaction(self):
        """A transaction on the current connection."""
        with self._lock:
            self.con  # noqa: B018 - open it if let go of
            assert self._store is not None
            return self._store.transaction()

    def close(self) -> None:
        """Stop watching and close the connection."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        with self._lock:
            self._closed = True
            self._let_go()
        self._turn.close()

    def write(self, fn: Callable[[Store], Any], wait_s: float = LOCK_WAIT_S) -> Any:
        """Run fn(store) with the store open read-write; this process's readers keep answering from it.

        While another process still holds the file, this process's readers keep answering from
        their read handle: each try to open it read-write holds their lock only for that try.
        """
        with self._write_lock:
            writer = self._open_writer(wait_s)
            try:
                result = fn(writer)
            finally:
                writer.con.close()
                with self._lock:
                    self._let_go()  # the next read reopens it read-only
                    self._writing = False
                    self._writes += 1
                    self._stamp = file_stamp(self.path)
            self._changed(result)
            return result

    def _open_writer(self, wait_s: float) -> Store:
        """Take the writers' turn, then open the file read-write as soon as no other process holds it.

        Each try holds this process's readers' lock only for that try; between tries they reopen
        the file read-only and keep answering.
        """
        deadline = time.monotonic() + wait_s

        def attempt() -> Store:
            with self._lock:
                if self._closed:
                    raise StoreError(f"usage store {self.path} is closed: the server is stopping")
                self._let_go()
                self._store = Store(self.path)
                self._writing = True
                return Store(self.path, con=self._store.con.cursor())

        turn = WriterTurn(self.path)
        # set before the turn is taken: a reader of this process that reopens meanwhile must not wait
        # for the turn its own writer takes (it would hold the lock the writer's tries need, to the deadline)
        self._taking_turn = True
        try:
            with turn.take(deadline):
                return _retry(self.path, attempt, deadline, wait_s)
        finally:
            self._taking_turn = False
            turn.close()

    def _let_go(self) -> None:
        """Close the connection once no `reading()` uses it (the caller holds the lock: none starts)."""
        if self._store is not None:
            with self._no_readers:
                if self._readers:
                    self.waiting_for_readers.set()
                    self._no_readers.wait_for(lambda: not self._readers)
                    self.waiting_for_readers.clear()
            self._store.close()
            self._store = None

    def _changed(self, result: Any) -> None:
        for listener in list(self.listeners):
            try:
                listener(result)
            except Exception:
                log.exception("store listener failed")

    def _should_let_go(self) -> bool:
        return time.monotonic() - self._used_at > self.idle_s or (self._turn.wanted() and not self._taking_turn)

    def _let_go_unless_in_use(self) -> None:
        if self._lock.acquire(blocking=False):  # never while a reader uses it
            try:
                if not self._writing and not self._readers:
                    self._let_go()
            finally:
                self._lock.release()

    def _watch(self) -> None:
        """Let go of an idle handle or one a writer waits for; report data other processes wrote."""
        checked = 0.0
        seen = self._stamp
        while not self._stop.wait(TICK_S):
            if self._store is not None and not self._writing and self._should_let_go():
                self._let_go_unless_in_use()
            if time.monotonic() - checked < STAMP_EVERY_S or self._writing:
                continue
            checked = time.monotonic()
            stamp = file_stamp(self.path)
            # report a change once the file is still again (a long write elsewhere is one change)
            if stamp == seen and stamp != self._stamp:
                self._stamp = stamp
                log.debug("usage store %s changed in another process", self.path)
                self._changed(None)
            seen = stamp
