"""A live brain: the server's shared store, ingest through the running server, and background refresh.

DuckDB lets one process write a database file, or several processes read it. The running server
therefore holds the store read-only between writes, so `brain spend` and other CLI readers work
beside it, and every write (a `brain ingest`, OTLP spans) goes through the server: it switches to
read-write for that one write, serialised, then back. `brain ingest` finds a running server
through `.brain/server.json` (loopback port + secret token, mode 0600) and hands it the files;
without a server it writes the file directly, waiting for another writer to finish.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb

from brain.errors import BrainError, IngestError, StoreError, StoreNeedsMigration
from brain.store import Store

log = logging.getLogger(__name__)

SERVER_FILE = "server.json"
LOCK_WAIT_S = 60.0
PROBE_TIMEOUT_S = 2.0  # a live server's control endpoint answers at once, even while it writes


def _is_lock_error(exc: BaseException) -> bool:
    cause = exc.__cause__ if isinstance(exc, StoreError) else exc
    return isinstance(cause, duckdb.IOException) and "lock" in str(cause).lower()


def open_store(path: Path, read_only: bool = False, wait_s: float = LOCK_WAIT_S, create: bool = False) -> Store:
    """Open the store, waiting (with backoff) while another process holds its write lock."""
    deadline = time.monotonic() + wait_s
    delay = 0.02
    while True:
        try:
            if read_only and create and not Path(path).exists():
                Store(path).close()  # create it with its schema, then reopen read-only
            try:
                return Store(path, read_only=read_only)
            except StoreNeedsMigration:
                log.warning("upgrading usage store %s to the current schema", path)
                Store(path).close()  # made by an older version: migrate once, then reopen
                return Store(path, read_only=read_only)
        except StoreError as exc:
            if not _is_lock_error(exc) or time.monotonic() >= deadline:
                if _is_lock_error(exc):
                    raise StoreError(
                        f"usage store {path} stayed locked by another process for {wait_s:.0f} s; "
                        "is a `brain collect` or another writer running?"
                    ) from exc
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


class SharedStore:
    """The server's store: read-only between writes so CLI readers share the file; one write at a time."""

    def __init__(self, path: str | os.PathLike, lock: threading.RLock | None = None):
        self.path = Path(path)
        self.read_only = True
        self.version = 0  # bumps after every write, so caches know the data changed
        self._lock = lock or threading.RLock()  # held by readers; taken to swap connections
        self._write_lock = threading.Lock()
        open_store(self.path).close()  # create or migrate once
        self._store = open_store(self.path, read_only=True, create=True)
        self.listeners: list[Callable[[Any], None]] = []

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The current connection (read-only except while a write runs)."""
        return self._store.con

    def transaction(self):
        """A transaction on the current connection."""
        return self._store.transaction()

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._store.close()

    def write(self, fn: Callable[[Store], Any]) -> Any:
        """Run fn(store) with a writable store; readers keep answering from the same database."""
        with self._write_lock:
            with self._lock:
                self._store.close()
                try:
                    self._store = open_store(self.path, read_only=False)
                except BaseException:
                    self._store = open_store(self.path, read_only=True)
                    raise
                writer = Store(self.path, con=self._store.con.cursor())
            try:
                result = fn(writer)
            finally:
                writer.con.close()
                with self._lock:
                    self._store.close()
                    self._store = open_store(self.path, read_only=True)
                    self.version += 1
            for listener in list(self.listeners):
                try:
                    listener(result)
                except Exception:
                    log.exception("store listener failed")
            return result

    def ingest_table(self, table, source: str):
        """Ingest a canonical Arrow table through the write path (the OTLP collector uses this)."""
        from brain.ingest import ingest_table

        return self.write(lambda st: ingest_table(st, table, source=source))


# ---------------------------------------------------------------------------------------------
# Ingest orchestration (shared by the CLI and the server)


def _expand_folders(paths: Sequence[str], failed: list[dict]) -> list[str]:
    """`paths` with each folder replaced by the usage files under it; an empty folder is reported."""
    from brain.ingest import FileReport
    from brain.ingest.canonical import USAGE_EXTENSIONS, usage_files_in

    out: list[str] = []
    for p in paths:
        if p == "-" or not Path(p).is_dir():
            out.append(p)
            continue
        found = usage_files_in(Path(p))
        if not found:
            error = f"{p} is a folder with no usage files in it ({', '.join(USAGE_EXTENSIONS)})"
            failed.append(dict(FileReport(str(Path(p).resolve()), "folder", error=error).__dict__))
        log.info("%s: %d usage file(s) in the folder", p, len(found))
        out += [str(f) for f in found]
    return out


def ingest_paths(store: Store, paths: Sequence[str], fmt: str | None = None, progress=None) -> dict:
    """Ingest files: canonical ones in one transaction, provider exports through their adapters."""
    from brain.ingest import FileReport, ingest_files
    from brain.ingest.canonical import FORMATS as CANONICAL_FORMATS
    from brain.ingest.detect import detect_format, ingest_source

    canonical: list[tuple[str, str | None]] = []
    other: list[tuple[str, str | None]] = []
    files: list[dict] = []
    for f in _expand_folders(paths, files):
        detected = fmt
        if detected is None and f != "-":
            try:
                detected = detect_format(f)
            except BrainError:
                detected = None
        (canonical if detected in (None, *CANONICAL_FORMATS) else other).append((f, detected))
    if canonical:
        forced = fmt if fmt in CANONICAL_FORMATS else None
        report = ingest_files(store, [f for f, _ in canonical], format=forced, progress=progress)
        files += [dict(fr.__dict__) for fr in report.files]
    for f, f_fmt in other:
        f = str(Path(f).resolve())  # the name its rows and quarantine lines keep, as canonical files do
        try:
            rep = ingest_source(store, f, f_fmt or "")
        except BrainError as exc:
            files.append(dict(FileReport(f, f_fmt or "", error=str(exc)).__dict__))
            continue
        d = rep.to_dict() if hasattr(rep, "to_dict") else dict(rep.__dict__)
        files.append({"source": f, "format": f_fmt, **{k: v for k, v in d.items() if isinstance(v, (int, float, str)) or v is None}})
    totals = {k: sum(int(x.get(k) or 0) for x in files) for k in ("accepted", "replaced", "duplicates", "quarantined")}
    return {**totals, "files": files}


# ---------------------------------------------------------------------------------------------
# The control endpoint of a running server, and its client


def server_file(store_path: Path) -> Path:
    """Where a running server announces itself: next to its store."""
    return Path(store_path).parent / SERVER_FILE


class ControlServer:
    """Loopback HTTP endpoint through which `brain ingest` hands files to the running server."""

    def __init__(self, shared: SharedStore, host: str = "127.0.0.1", port: int = 0, handlers: dict | None = None,
                 command: str = "serve"):
        self.shared = shared
        self.command = command  # the `brain` command that owns the store: serve or collect
        self.handlers: dict[str, Callable[[dict], dict]] = {"/ingest": self._ingest, **(handlers or {})}
        self.token = secrets.token_urlsafe(24)
        self._http = ThreadingHTTPServer((host, port), _control_handler(self))
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, name="brain-control", daemon=True)
        self.file = server_file(shared.path)

    def _ingest(self, req: dict) -> dict:
        paths = [str(p) for p in req.get("paths") or []]
        if not paths:
            raise IngestError("no paths to ingest")
        return self.shared.write(lambda st: ingest_paths(st, paths, req.get("format")))

    @property
    def port(self) -> int:
        """The bound port."""
        return self._http.server_address[1]

    def start(self) -> ControlServer:
        """Serve and announce this server in `.brain/server.json` (owner-only permissions)."""
        self._thread.start()
        self.file.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps({"pid": os.getpid(), "port": self.port, "token": self.token, "store": str(self.shared.path),
                           "command": self.command})
        fd, tmp = tempfile.mkstemp(prefix=".server-", dir=self.file.parent)
        with os.fdopen(fd, "w") as f:
            f.write(data)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.file)
        return self

    def stop(self) -> None:
        """Stop serving and withdraw the announcement (if it is still ours)."""
        try:
            if json.loads(self.file.read_text()).get("token") == self.token:
                self.file.unlink()
        except (OSError, ValueError):
            pass
        self._http.shutdown()
        self._http.server_close()


def _control_handler(control: ControlServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
            log.debug("control: " + format, *args)

        def _reply(self, code: int, body: dict) -> None:
            raw = json.dumps(body, default=str).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _authorised(self) -> bool:
            given = self.headers.get("Authorization", "")
            return secrets.compare_digest(given, f"Bearer {control.token}")

        def do_GET(self) -> None:  # noqa: N802 - stdlib naming
            if not self._authorised():
                return self._reply(401, {"error": "unauthorised"})
            self._reply(200, {"ok": True, "pid": os.getpid(), "store_version": control.shared.version})

        def do_POST(self) -> None:  # noqa: N802 - stdlib naming
            if not self._authorised():
                return self._reply(401, {"error": "unauthorised"})
            handler = control.handlers.get(self.path)
            if handler is None:
                return self._reply(404, {"error": f"no such endpoint {self.path}"})
            try:
                req = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                result = handler(req)
            except BrainError as exc:
                return self._reply(422, {"error": str(exc)})
            except Exception as exc:  # reported to the client; the server keeps running
                log.exception("ingest through the server failed")
                return self._reply(500, {"error": f"{type(exc).__name__}: {exc}"})
            self._reply(200, result)

    return Handler


def running_server(store_path: Path, probe: bool = True) -> dict | None:
    """The announcement of a live server on this store, or None.

    A file left behind by a server that is gone is ignored: its pid is dead, or (the pid reused by
    another program) its port refuses the connection or answers as someone else; with `probe`,
    the port is asked, and a stale file is reported in a log line.
    """
    f = server_file(store_path)
    try:
        info = json.loads(f.read_text())
        pid = int(info["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if Path(info.get("store", "")).resolve() != Path(store_path).resolve():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    if probe and not _answers(info):
        log.warning("ignoring %s: the server it names (pid %s, port %s) is gone", f, pid, info.get("port"))
        return None
    return info


def _answers(info: dict) -> bool:
    """True when the announced control endpoint answers as that server (or is merely slow to)."""
    req = urllib.request.Request(
        f"http://127.0.0.1:{info.get('port')}/", headers={"Authorization": f"Bearer {info.get('token')}"}
    )
    try:
        with urllib.request.urlopen(req, timeout=PROBE_TIMEOUT_S) as resp:  # noqa: S310 - loopback only
            return json.loads(resp.read()).get("pid") == info.get("pid")
    except TimeoutError:
        return True  # there but busy: not proof that it is gone
    except urllib.error.URLError as exc:
        return isinstance(exc.reason, TimeoutError)  # refused (or another program's port): gone
    except (OSError, ValueError, AttributeError):
        return False


def remote_ingest(info: dict, paths: Sequence[str], fmt: str | None = None, timeout_s: float = 3600) -> dict:
    """Ask a running server to ingest files (absolute paths); returns its report."""
    return remote_call(info, "/ingest", {"paths": [str(Path(p).resolve()) for p in paths], "format": fmt}, timeout_s)


def remote_call(info: dict, endpoint: str, payload: dict, timeout_s: float = 3600) -> dict:
    """POST a request to a running server's control endpoint; BrainError on refusal."""
    body = json.dumps(payload).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{info['port']}{endpoint}",
        data=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {info['token']}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # noqa: S310 - loopback only
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        try:
            msg = json.loads(exc.read()).get("error")
        except ValueError:
            msg = str(exc)
        raise BrainError(f"the running server refused it: {msg}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise BrainError(f"cannot reach the running server on port {info['port']}: {exc}") from None


def stdin_to_file(directory: Path) -> Path:
    """Copy JSONL from stdin to a temporary file the server can read."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="stdin-", suffix=".jsonl", dir=directory)
    with os.fdopen(fd, "wb") as f:
        while chunk := sys.stdin.buffer.read(1 << 20):
            f.write(chunk)
    return Path(tmp)


# ---------------------------------------------------------------------------------------------
# The running server's background work


class Debounced:
    """Run `fn` in a background thread once things go quiet for `delay_s` after a trigger."""

    def __init__(self, fn: Callable[[], Any], delay_s: float = 2.0, name: str = "brain-debounced"):
        self.fn = fn
        self.delay_s = delay_s
        self.runs = 0
        self._due: float | None = None
        self._cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def trigger(self) -> None:
        """Ask for a run after the quiet period."""
        with self._cond:
            self._due = time.monotonic() + self.delay_s
            self._cond.notify_all()

    def stop(self) -> None:
        """Stop the thread (a pending run is dropped)."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stop and (self._due is None or time.monotonic() < self._due):
                    self._cond.wait(None if self._due is None else max(0.0, self._due - time.monotonic()))
                if self._stop:
                    return
                self._due = None
            try:
                self.fn()
            except Exception:
                log.exception("background refresh failed; will retry on the next change")
            with self._cond:
                self.runs += 1
                self._cond.notify_all()


class LiveBrain:
    """Keeps a served Brain current: vault watcher, shared store + control endpoint, OTLP, publish."""

    def __init__(
        self,
        brain,
        watch: bool = True,
        publish_folder: str | None = None,
        otlp: tuple[str, int] | None = None,
        on_vault_change: Callable[[Any], None] | None = None,
        on_store_change: Callable[[], None] | None = None,
    ):
        self.brain = brain
        self.watch = watch
        self.publish_folder = publish_folder
        self.otlp = otlp
        self.on_vault_change = on_vault_change
        self.on_store_change = on_store_change
        self.shared: SharedStore | None = None
        self.control: ControlServer | None = None
        self.watcher: Any = None
        self.collector: Any = None
        self.publisher: Debounced | None = None

    def start(self) -> LiveBrain:
        """Open the shared store, announce the control endpoint, and start the background work."""
        brain = self.brain
        self.shared = SharedStore(brain.settings.store_path, lock=brain._lock)
        old = brain.__dict__.pop("store", None)
        if old is not None:
            old.close()
        brain.__dict__["store"] = self.shared
        self.shared.listeners.append(self._store_changed)
        self.control = ControlServer(self.shared, handlers={"/ack": self._ack}).start()
        if self.publish_folder:
            from brain.publish import publish

            folder = self.publish_folder
            self.publisher = Debounced(lambda: publish(brain, folder=folder), delay_s=2.0, name="brain-publish")
            self.publisher.trigger()
        if self.watch:
            from brain.watch import VaultWatcher

            self.watcher = VaultWatcher(brain.graph, brain.settings.vault, lock=brain._lock, on_change=self._vault_changed).start()
        if self.otlp:
            from brain.collector import start_collector

            shared = self.shared
            self.collector = start_collector(lambda: NoCloseStore(shared), host=self.otlp[0], port=self.otlp[1])
            log.warning("OTLP receiver on %s", self.collector.endpoint)
        return self

    def _ack(self, req: dict) -> dict:
        from brain.anomaly import acknowledge

        a = acknowledge(self.brain, str(req.get("id", "")), note=str(req.get("note", "")), planned=bool(req.get("planned")))
        return a.to_dict()

    def stop(self) -> None:
        """Stop everything started, flushing OTLP spans first."""
        for part in (self.collector, self.watcher, self.publisher):
            if part is not None:
                try:
                    part.stop()
                except Exception:
                    log.exception("stopping %r failed", part)
        if self.control is not None:
            self.control.stop()

    def _vault_changed(self, change) -> None:
        folder = (self.publish_folder or "").strip("/") + "/"
        ids = change.added | change.removed | change.modified
        if self.publisher is not None and any(not i.startswith(folder) for i in ids):
            self.publisher.trigger()
        if self.on_vault_change is not None:
            self.on_vault_change(change)

    def _store_changed(self, _result) -> None:
        if self.publisher is not None:
            self.publisher.trigger()
        if self.on_store_change is not None:
            self.on_store_change()


class NoCloseStore:
    """The shared store as the OTLP writer sees it: it ingests through the server and never closes it."""

    def __init__(self, shared: SharedStore):
        self._shared = shared

    def ingest_table(self, table, source: str):
        return self._shared.ingest_table(table, source)

    def close(self) -> None:
        pass
