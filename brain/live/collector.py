"""OTLP/HTTP trace receiver: GenAI spans in, usage events out, ingested in batches by one writer.

`start_collector(store_factory, host, port)` serves `POST /v1/traces` (protobuf or JSON, gzip or
deflate bodies, each at most `max_body_bytes` sent and decompressed) on a ThreadingHTTPServer. Request threads only decode; decoded rows go to a queue
that a single writer thread drains, calling `ingest_table` once per batch (every `batch_rows`
events or `flush_interval_s` seconds, and at stop), so DuckDB's single-writer rule holds and the
store is opened in that thread only. A full queue answers 503 so exporters retry; malformed
payloads answer 400 with an OTLP Status body. A batch that fails to ingest for any reason is
retried (store errors) or dropped, logged and counted in `ingest_failures`; the writer keeps
going. `GET /healthz` reports counters as JSON.

Over 400 lines on purpose: the HTTP handling, the batching writer and the OTLP status bodies
share the collector's counters and queue.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from brain.errors import BrainError, IngestError
from brain.ingest.sources.otlp import SpanBatch, decode_json_bytes, decode_protobuf

log = logging.getLogger(__name__)

TRACES_PATH = "/v1/traces"
_PROTOBUF = "application/x-protobuf"
_JSON = "application/json"
_INVALID_ARGUMENT = 3
_UNAVAILABLE = 14
_MAX_BODY_BYTES = 64 * 1024 * 1024


class _BodyTooLarge(IngestError):
    """A body larger than the receiver takes, as sent or once decompressed (answered 413)."""


@dataclass
class CollectorStats:
    """Counters since start: what arrived, what was ingested, what was refused."""

    requests: int = 0
    spans_received: int = 0
    events_received: int = 0
    events_ingested: int = 0
    events_duplicate: int = 0
    events_quarantined: int = 0
    spans_rejected: int = 0
    bad_requests: int = 0
    throttled_requests: int = 0
    batches: int = 0
    ingest_failures: int = 0
    events_dropped: int = 0
    pending_events: int = 0


def _status_protobuf(code: int, message: str) -> bytes:
    """google.rpc.Status {code, message} encoded by hand (two fields; no extra dependency)."""
    msg = message.encode("utf-8")
    out = bytearray(b"\x08") + _varint(code) + b"\x12" + _varint(len(msg)) + msg
    return bytes(out)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


class Collector:
    """The receiver and its writer thread; use start_collector() to build and start one."""

    def __init__(
        self,
        store_factory: Callable[[], Any],
        host: str = "127.0.0.1",
        port: int = 4318,
        batch_rows: int = 5000,
        flush_interval_s: float = 1.0,
        max_pending_rows: int = 500_000,
        max_ingest_attempts: int = 5,
        max_body_bytes: int = _MAX_BODY_BYTES,
    ):
        self._store_factory = store_factory
        self.batch_rows = batch_rows
        self.flush_interval_s = flush_interval_s
        self.max_pending_rows = max_pending_rows
        self.max_ingest_attempts = max_ingest_attempts
        self.max_body_bytes = max_body_bytes
        self.stats = CollectorStats()
        self._pending: list[SpanBatch] = []
        self._cond = threading.Condition()
        self._stopping = False
        self._writer_error: BaseException | None = None
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._http_thread = threading.Thread(target=self._server.serve_forever, name="otlp-http", daemon=True)
        self._writer = threading.Thread(target=self._write_loop, name="otlp-writer", daemon=True)
        self._store_ready = threading.Event()

    @property
    def host(self) -> str:
        """The address the receiver is bound to."""
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        """The bound port (useful when started on port 0)."""
        return self._server.server_address[1]

    @property
    def endpoint(self) -> str:
        """The traces URL an OTLP/HTTP exporter should be pointed at."""
        return f"http://{self.host}:{self.port}{TRACES_PATH}"

    def start(self) -> Collector:
        """Open the store in the writer thread, then start serving; raises if the store fails."""
        self._writer.start()
        self._store_ready.wait()
        if self._writer_error is not None:
            self._server.server_close()
            raise self._writer_error
        self._http_thread.start()
        log.info("OTLP receiver listening on %s", self.endpoint)
        return self

    def submit(self, batch: SpanBatch) -> bool:
        """Queue decoded events for the writer; False when the queue is full (caller answers 503)."""
        with self._cond:
            self.stats.requests += 1
            self.stats.spans_received += batch.spans_seen
            self.stats.spans_rejected += batch.rejected
            if not len(batch):
                return True
            if self.stats.pending_events + len(batch) > self.max_pending_rows or self._stopping:
                self.stats.throttled_requests += 1
                return False
            self._pending.append(batch)
            self.stats.pending_events += len(batch)
            self.stats.events_received += len(batch)
            if self.stats.pending_events >= self.batch_rows:
                self._cond.notify()
        return True

    def snapshot(self) -> dict:
        """A copy of the counters."""
        with self._cond:
            return asdict(self.stats)

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Ask the writer to ingest everything queued now; True once the queue is empty."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            self._flush_requested = True
            self._cond.notify()
            while self.stats.pending_events and time.monotonic() < deadline:
                self._cond.wait(timeout=max(0.0, deadline - time.monotonic()))
            return self.stats.pending_events == 0

    def stop(self) -> None:
        """Stop accepting requests, ingest what is queued, close the store (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        self._server.shutdown()
        self._server.server_close()
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._writer.join()
        log.info("OTLP receiver stopped: %s", self.snapshot())

    # --- writer thread ------------------------------------------------------------------

    _flush_requested = False
    _stopped = False

    def _take(self) -> SpanBatch | None:
        with self._cond:
            deadline = time.monotonic() + self.flush_interval_s
            while (
                self.stats.pending_events < self.batch_rows
                and not self._stopping
                and not self._flush_requested
            ):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(timeout=left)
            self._flush_requested = False
            if not self._pending:
                return None
            merged = SpanBatch()
            for b in self._pending:
                merged.extend(b)
            self._pending = []
            return merged

    def _write_loop(self) -> None:
        try:
            store = self._store_factory()
        except BaseException as exc:  # reported to start() in the caller's thread
            self._writer_error = exc
            self._store_ready.set()
            return
        self._store_ready.set()
        try:
            while True:
                batch = self._take()
                if batch is not None:
                    try:
                        self._ingest(store, batch)
                    except Exception:  # a bad batch must not stop the writer (it would drop all later spans)
                        log.exception("OTLP batch of %d events could not be ingested; dropped", len(batch))
                        with self._cond:
                            self.stats.ingest_failures += 1
                        self._drop(len(batch))
                with self._cond:
                    if self._stopping and not self._pending:
                        return
        finally:
            close = getattr(store, "close", None)
            if close is not None:
                close()

    def _drop(self, events: int) -> None:
        """Count `events` queued events as dropped (no longer pending)."""
        with self._cond:
            self.stats.events_dropped += events
            self.stats.pending_events -= events
            self._cond.notify_all()

    def _ingest(self, store, batch: SpanBatch) -> None:
        from brain.ingest import ingest_table

        table = batch.to_table()
        for attempt in range(1, self.max_ingest_attempts + 1):
            try:
                own = getattr(store, "ingest_table", None)  # a running server's shared store
                report = own(table, "otlp") if own else ingest_table(store, table, source="otlp")
            except BrainError as exc:
                with self._cond:
                    self.stats.ingest_failures += 1
                log.error("OTLP batch of %d events failed to ingest (attempt %d): %s", len(batch), attempt, exc)
                if attempt < self.max_ingest_attempts:
                    with self._cond:
                        self._cond.wait(timeout=self.flush_interval_s)
                    continue
                self._drop(len(batch))
                log.error("dropped %d OTLP events after %d failed ingests", len(batch), attempt)
                return
            with self._cond:
                self.stats.batches += 1
                self.stats.events_ingested += report.accepted
                self.stats.events_duplicate += report.duplicates
                self.stats.events_quarantined += report.quarantined
                self.stats.pending_events -= len(batch)
                self._cond.notify_all()
            log.debug("ingested OTLP batch: %d events, %d duplicates", report.accepted, report.duplicates)
            return


def _handler_for(collector: Collector) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "brain-otlp/1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            log.debug("%s %s", self.address_string(), format % args)

        def _send(self, code: int, body: bytes, ctype: str, headers: dict | None = None) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def _error(self, http_code: int, rpc_code: int, message: str, as_json: bool, headers=None) -> None:
            if as_json:
                body = json.dumps({"code": rpc_code, "message": message}).encode()
                self._send(http_code, body, _JSON, headers)
            else:
                self._send(http_code, _status_protobuf(rpc_code, message), _PROTOBUF, headers)

        def do_GET(self) -> None:  # noqa: N802 - stdlib naming
            if self.path.rstrip("/") == "/healthz":
                self._send(200, json.dumps(collector.snapshot()).encode(), _JSON)
            else:
                self._send(404, b'{"message": "not found"}', _JSON)

        def do_POST(self) -> None:  # noqa: N802 - stdlib naming
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            as_json = ctype == _JSON
            length = self.headers.get("Content-Length")
            if self.path.split("?")[0].rstrip("/") != TRACES_PATH:
                self._discard(length)
                self._error(404, 5, f"no OTLP endpoint at {self.path}; send traces to {TRACES_PATH}", as_json)
                return
            if length is None or not length.isdigit():
                self._error(411, _INVALID_ARGUMENT, "Content-Length is required", as_json)
                self.close_connection = True
                return
            limit = collector.max_body_bytes
            if int(length) > limit:
                self._error(413, _INVALID_ARGUMENT, f"body larger than {limit} bytes", as_json)
                self.close_connection = True
                return
            body = self.rfile.read(int(length))
            try:
                body = _decompress(body, (self.headers.get("Content-Encoding") or "").strip().lower(), limit)
                if ctype == _PROTOBUF:
                    batch = decode_protobuf(body)
                elif as_json:
                    batch = decode_json_bytes(body)
                else:
                    self._error(
                        415, _INVALID_ARGUMENT,
                        f"unsupported Content-Type {ctype!r}; use {_PROTOBUF} or {_JSON}", as_json=True,
                    )  # fmt: skip
                    return
            except IngestError as exc:  # not OTLP, or too large once decompressed (_BodyTooLarge)
                with collector._cond:
                    collector.stats.bad_requests += 1
                log.warning("refused OTLP request from %s: %s", self.client_address[0], exc)
                self._error(413 if isinstance(exc, _BodyTooLarge) else 400, _INVALID_ARGUMENT, str(exc), as_json)
                return
            for err in batch.errors[:3]:
                log.warning("OTLP span rejected: %s", err)
            if not collector.submit(batch):
                self._error(
                    503, _UNAVAILABLE, "receiver busy; retry later", as_json, headers={"Retry-After": "1"}
                )
                return
            self._send(200, _success_body(batch, as_json), _JSON if as_json else _PROTOBUF)

        def _discard(self, length: str | None) -> None:
            if length and length.isdigit() and int(length) <= collector.max_body_bytes:
                self.rfile.read(int(length))
            else:
                self.close_connection = True

    return Handler


def _decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """The body decoded, never more than `limit` bytes of it (_BodyTooLarge past that)."""
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise IngestError(f"unsupported Content-Encoding {encoding!r}; use gzip, deflate or none")
    out = bytearray()
    data = body
    try:
        while True:  # gzip may hold several members, one after another
            inflater = zlib.decompressobj(31 if encoding == "gzip" else 15)
            out += inflater.decompress(data, limit + 1 - len(out))
            if len(out) > limit:
                raise _BodyTooLarge(f"body larger than {limit} bytes once decompressed")
            if not inflater.eof:
                raise IngestError(f"body is not valid {encoding} (truncated)")
            data = inflater.unused_data
            if encoding == "deflate" or not data.strip(b"\0"):
                break
    except zlib.error as exc:
        raise IngestError(f"body is not valid {encoding} ({exc})") from exc
    return bytes(out)


def _success_body(batch: SpanBatch, as_json: bool) -> bytes:
    """ExportTraceServiceResponse, with partial_success when some spans were rejected."""
    message = "; ".join(batch.errors[:3])
    if as_json:
        if batch.rejected:
            return json.dumps(
                {"partialSuccess": {"rejectedSpans": str(batch.rejected), "errorMessage": message}}
            ).encode()
        return b"{}"
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    resp = ExportTraceServiceResponse()
    if batch.rejected:
        resp.partial_success.rejected_spans = batch.rejected
        resp.partial_success.error_message = message
    return resp.SerializeToString()


def start_collector(
    store_factory: Callable[[], Any],
    host: str = "127.0.0.1",
    port: int = 4318,
    **options: Any,
) -> Collector:
    """Start an OTLP/HTTP receiver writing to the store `store_factory()` opens; `.stop()` ends it."""
    return Collector(store_factory, host=host, port=port, **options).start()
