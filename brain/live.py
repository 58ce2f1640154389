"""A live brain: ingest through a running server, its control endpoint, and background refresh.

DuckDB lets one process write a database file, or several processes read it. Every running server
(there may be several on one vault: Claude Desktop and Cursor each start one) therefore holds the
store read-only only while it answers and lets go of it for writers (brain.shared_store). One of
them announces itself in `.brain/server.json` (loopback port + secret token, mode 0600) and takes
the hand-offs: `brain ingest` gives it the files, and it writes them while its clients keep
answering; the others defer to it, and one of them takes over when it goes. Without a live server
`brain ingest` writes the file directly, after the servers let go of it.
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

from brain.errors import BrainError, IngestError
from brain.files import replacing
from brain.shared_store import SharedStore
from brain.store import Store

log = logging.getLogger(__name__)

SERVER_FILE = "server.json"
PROBE_TIMEOUT_S = 2.0  # a live server's control endpoint answers at once, even while it writes
CLAIM_EVERY_S = 2.0  # how often a server that defers checks that the announced one is still there


# ---------------------------------------------------------------------------------------------
# Ingest orchestration (shared by the CLI and the server)


def _expand_folders(paths: Sequence[str], failed: list[dict]) -> list[str]:
    """`paths` with each folder replaced by the usage files under it; an empty folder is reported.

    A file named twice (directly and inside a folder given too, or two ways) is read once, at its
    first place."""
    from brain.ingest import FileReport
    from brain.ingest.canonical import USAGE_EXTENSIONS, usage_files_in

    out: list[str] = []
    seen: set[Path] = set()

    def add(f: str) -> None:
        key = Path(f).resolve() if f != "-" else Path("-")
        if key not in seen:
            seen.add(key)
            out.append(f)

    for p in paths:
        if p == "-" or not Path(p).is_dir():
            add(p)
            continue
        found = usage_files_in(Path(p))
        if not found:
            error = f"{p} is a folder with no usage files in it ({', '.join(USAGE_EXTENSIONS)})"
            failed.append(dict(FileReport(str(Path(p).resolve()), "folder", error=error).__dict__))
        log.info("%s: %d usage file(s) in the folder", p, len(found))
        for f in found:
            add(str(f))
    return out


def ingest_paths(store: Store, paths: Sequence[str], fmt: str | None = None, progress=None) -> dict:
    """Ingest files: canonical ones in one transaction, provider exports through their adapters."""
    from brain.formats import CANONICAL_FORMATS
    from brain.ingest import FileReport, ingest_files
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
        with replacing(self.file, prefix=".server-") as (f, tmp):
            f.write(data.encode())
            os.chmod(tmp, 0o600)
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


def running_server(store_path: Path, probe: bool = True, slow_is_gone: bool = False) -> dict | None:
    """The announcement of a live server on this store, or None.

    A file left behind by a server that is gone is ignored: its pid is dead, or (the pid reused by
    another program) its port refuses the connection or answers as someone else; with `probe`,
    the port is asked, and a stale file is reported in a log line. `slow_is_gone`: a server that
    does not answer within PROBE_TIMEOUT_S (suspended, hung) is not one to hand work to either.
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
    if probe and not _answers(info, slow_is_gone):
        log.warning("ignoring %s: the server it names (pid %s, port %s) is gone or does not answer",
                    f, pid, info.get("port"))
        return None
    return info


def _answers(info: dict, slow_is_gone: bool = False) -> bool:
    """True when the announced control endpoint answers as that server (or, unless `slow_is_gone`,
    is merely slow to)."""
    req = urllib.request.Request(
        f"http://127.0.0.1:{info.get('port')}/", headers={"Authorization": f"Bearer {info.get('token')}"}
    )
    try:
        with urllib.request.urlopen(req, timeout=PROBE_TIMEOUT_S) as resp:  # noqa: S310 - loopback only
            return json.loads(resp.read()).get("pid") == info.get("pid")
    except TimeoutError:
        return not slow_is_gone  # there but busy: not proof that it is gone
    except urllib.error.URLError as exc:  # refused (or another program's port): gone
        return isinstance(exc.reason, TimeoutError) and not slow_is_gone
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


class Every:
    """Run `fn` every `interval_s` in a background thread until stopped."""

    def __init__(self, fn: Callable[[], Any], interval_s: float, name: str):
        self._stop = threading.Event()
        self._fn = fn
        self._interval_s = interval_s
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self._fn()
            except Exception:
                log.exception("periodic %s failed; will retry", self._thread.name)

    def stop(self) -> None:
        """Stop the thread (waiting for a run in progress)."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)


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
        self.claimer: Every | None = None
        self._claim_lock = threading.Lock()
        self._stopped = False

    def start(self) -> LiveBrain:
        """Open the shared store, take the hand-offs unless another server does, start the background work."""
        brain = self.brain
        self.shared = SharedStore(brain.settings.store_path, lock=brain._lock)
        old = brain.__dict__.pop("store", None)
        if old is not None:
            old.close()
        brain.__dict__["store"] = self.shared
        self.shared.listeners.append(self._store_changed)
        self.claim()
        self.claimer = Every(self.claim, CLAIM_EVERY_S, name="brain-claim")
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

    def claim(self) -> None:
        """Announce this server in server.json unless another live one is announced; step back when
        another announced itself after us (two started at once: the last one written keeps it)."""
        assert self.shared is not None
        with self._claim_lock:
            if self._stopped:
                return
            info = running_server(self.shared.path)
            if self.control is None and info is None:
                self.control = ControlServer(self.shared, handlers={"/ack": self._ack}).start()
                log.info("taking the writes handed to %s (pid %d, control port %d)", self.shared.path, os.getpid(), self.control.port)
            elif self.control is not None and info is not None and info.get("token") != self.control.token:
                log.info("server pid %s takes the writes handed to %s; this one defers to it", info.get("pid"), self.shared.path)
                self.control.stop()
                self.control = None

    def _ack(self, req: dict) -> dict:
        from brain.anomaly import acknowledge

        a = acknowledge(self.brain, str(req.get("id", "")), note=str(req.get("note", "")), planned=bool(req.get("planned")))
        return a.to_dict()

    def stop(self) -> None:
        """Stop everything started, flushing OTLP spans first, and withdraw the announcement (twice is harmless)."""
        with self._claim_lock:
            self._stopped = True
        parts, self.claimer, self.collector, self.watcher, self.publisher = (
            (self.claimer, self.collector, self.watcher, self.publisher), None, None, None, None)
        for part in parts:
            if part is not None:
                try:
                    part.stop()
                except Exception:
                    log.exception("stopping %r failed", part)
        control, self.control = self.control, None
        if control is not None:
            control.stop()

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
