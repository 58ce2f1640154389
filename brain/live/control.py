"""The control endpoint of a running server, and its client: how `brain ingest` and `brain anomalies
ack` hand their writes to the server that holds the store.

DuckDB lets one process write a database file, or several processes read it. Every running server
(there may be several on one vault: Claude Desktop and Cursor each start one) therefore holds the
store read-only only while it answers and lets go of it for writers (brain.store.shared). One of
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
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from brain.errors import BrainError, IngestError
from brain.files import replacing
from brain.ingest.paths import ingest_paths
from brain.store.shared import SharedStore

log = logging.getLogger(__name__)

SERVER_FILE = "server.json"
PROBE_TIMEOUT_S = 2.0  # a live server's control endpoint answers at once, even while it writes


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
