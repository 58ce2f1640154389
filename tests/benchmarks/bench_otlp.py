"""Benchmark: `brain collect` (real subprocess) fed by the OpenTelemetry SDK's OTLP/HTTP exporter.

Prints spans/s end to end (first span created -> last event committed in the store) and checks
that every span was counted. Run: .venv/bin/python tests/benchmarks/bench_otlp.py [--spans N]
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind

_LAUNCH = "import sys; from brain.cli import main; sys.exit(main())"


def _health(endpoint: str) -> dict:
    with urllib.request.urlopen(endpoint.replace("/v1/traces", "/healthz"), timeout=10) as resp:
        return json.loads(resp.read())


def run(spans: int, compression: str) -> dict:
    """Start the receiver, send `spans` GenAI spans through the SDK, wait until all are stored."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "usage.duckdb"
        proc = subprocess.Popen(
            [sys.executable, "-c", _LAUNCH, "collect", "--port", "0", "--store", str(store),
             "--vault", tmp, "--batch-rows", "20000", "--flush-interval", "0.5"],
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        line = proc.stderr.readline()
        endpoint = line.split("listening on ", 1)[1].split(" ", 1)[0]
        provider = TracerProvider(resource=Resource.create({"service.name": "bench-svc"}))
        exporter = OTLPSpanExporter(
            endpoint=endpoint, compression=Compression.Gzip if compression == "gzip" else Compression.NoCompression
        )
        provider.add_span_processor(
            BatchSpanProcessor(exporter, max_queue_size=spans + 1, max_export_batch_size=1024, schedule_delay_millis=50)
        )
        tracer = provider.get_tracer("bench")
        t0 = time.perf_counter()
        for i in range(spans):
            with tracer.start_as_current_span("chat gpt-4o", kind=SpanKind.CLIENT) as span:
                span.set_attribute("gen_ai.operation.name", "chat")
                span.set_attribute("gen_ai.provider.name", "openai")
                span.set_attribute("gen_ai.request.model", "gpt-4o-2024-08-06")
                span.set_attribute("gen_ai.agent.name", f"agent-{i % 20}")
                span.set_attribute("gen_ai.usage.input_tokens", 1000 + i % 97)
                span.set_attribute("gen_ai.usage.output_tokens", 200 + i % 13)
        t_created = time.perf_counter()
        provider.force_flush(600_000)
        t_sent = time.perf_counter()
        deadline = time.monotonic() + 600
        health = _health(endpoint)
        while health["events_ingested"] + health["events_duplicate"] < spans and time.monotonic() < deadline:
            time.sleep(0.05)  # benchmark script, not a test: poll the receiver's counters
            health = _health(endpoint)
        t_stored = time.perf_counter()
        provider.shutdown()
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=120)
        import duckdb

        con = duckdb.connect(str(store), read_only=True)
        stored = con.execute("SELECT count(*) FROM events").fetchall()[0][0]
        con.close()
    return {
        "spans": spans,
        "compression": compression,
        "create_s": round(t_created - t0, 3),
        "sent_s": round(t_sent - t0, 3),
        "stored_s": round(t_stored - t0, 3),
        "spans_per_s_end_to_end": round(spans / (t_stored - t0)),
        "spans_received": health["spans_received"],
        "events_stored": stored,
        "lost": spans - stored,
        "batches": health["batches"],
    }


def run_raw(spans: int, per_request: int = 1000, clients: int = 4) -> dict:
    """Receiver capacity alone: pre-encoded OTLP protobuf bodies POSTed by `clients` threads."""
    from concurrent.futures import ThreadPoolExecutor

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    bodies = []
    for r in range(spans // per_request):
        req = ExportTraceServiceRequest()
        ss = req.resource_spans.add().scope_spans.add()
        for i in range(per_request):
            span = ss.spans.add()
            span.trace_id = (r + 1).to_bytes(16, "big")
            span.span_id = (i + 1).to_bytes(8, "big")
            span.start_time_unix_nano = 1_748_772_000_000_000_000 + i
            span.attributes.extend([
                KeyValue(key="gen_ai.request.model", value=AnyValue(string_value="gpt-4o-2024-08-06")),
                KeyValue(key="gen_ai.provider.name", value=AnyValue(string_value="openai")),
                KeyValue(key="gen_ai.usage.input_tokens", value=AnyValue(int_value=1000)),
                KeyValue(key="gen_ai.usage.output_tokens", value=AnyValue(int_value=200)),
            ])
        bodies.append(req.SerializeToString())
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "usage.duckdb"
        proc = subprocess.Popen(
            [sys.executable, "-c", _LAUNCH, "collect", "--port", "0", "--store", str(store),
             "--vault", tmp, "--batch-rows", "20000", "--flush-interval", "0.5"],
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        endpoint = proc.stderr.readline().split("listening on ", 1)[1].split(" ", 1)[0]

        def post(body: bytes) -> int:
            req = urllib.request.Request(
                endpoint, data=body, headers={"Content-Type": "application/x-protobuf"}, method="POST"
            )
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status

        t0 = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            statuses = list(pool.map(post, bodies))
        t_sent = time.perf_counter()
        health = _health(endpoint)
        while health["events_ingested"] < len(bodies) * per_request:
            time.sleep(0.05)  # benchmark script, not a test: poll the receiver's counters
            health = _health(endpoint)
        t_stored = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=120)
    total = len(bodies) * per_request
    return {
        "mode": f"raw protobuf, {clients} clients, {per_request} spans/request",
        "spans": total,
        "http_200": statuses.count(200),
        "received_s": round(t_sent - t0, 3),
        "stored_s": round(t_stored - t0, 3),
        "spans_per_s_received": round(total / (t_sent - t0)),
        "spans_per_s_stored": round(total / (t_stored - t0)),
        "lost": total - health["events_ingested"],
    }


def main() -> None:
    """Parse arguments, run the benchmark, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spans", type=int, default=50_000)
    parser.add_argument("--compression", choices=["gzip", "none"], default="gzip")
    parser.add_argument("--raw", action="store_true", help="also measure the receiver alone (pre-encoded bodies)")
    args = parser.parse_args()
    results = [run(args.spans, args.compression)]
    if args.raw:
        results.append(run_raw(args.spans))
    for result in results:
        for k, v in result.items():
            print(f"{k:>24}: {v}")
        print()


if __name__ == "__main__":
    main()
