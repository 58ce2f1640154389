"""The parts the brain writes by hand where a library exists, each beside that library, in one run.

Run: .venv/bin/python -m tests.benchmarks.bench_handwritten [--notes 10000] [--spans 20000] [--repeat 5]
(the libraries come with the `bench` extra: pip install -e '.[bench]'). Medians of --repeat passes.

1. Frontmatter: `split_frontmatter` + `parse_frontmatter` (the fast reader for flat frontmatter,
   else the YAML 1.2 loader), beside python-frontmatter with a YAML 1.2 handler and as shipped,
   and the YAML 1.2 loader alone (what the fast reader saves) and ruamel.yaml (a YAML 1.2 library).
   Then, on frontmatter Obsidian reads in a given way, which reader reads it so.
2. OTLP/JSON: the brain's walker (`decode_json_bytes`) beside protobuf's `json_format.Parse` into
   an ExportTraceServiceRequest followed by the protobuf decoder, on the same spans.
3. HTTP: import time of the standard library's http.server beside starlette + uvicorn (what the
   control endpoint and the OTLP receiver would load with an ASGI stack), in fresh processes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import frontmatter
from frontmatter.default_handlers import YAMLHandler

from brain.vault.reader import normalise_value, parse_frontmatter, split_frontmatter
from brain.vault.yaml12 import load_yaml
from tests.benchmarks.gen_vault import generate_vault


class Yaml12Handler(YAMLHandler):
    """python-frontmatter's YAML handler, loading with the brain's YAML 1.2 loader."""

    def load(self, fm: str, **kwargs: object):
        return load_yaml(fm)


def brain_read(text: str) -> dict:
    fm, _body, _line = split_frontmatter(text)
    return parse_frontmatter(fm)[0] if fm is not None else {}


def loader_only(text: str) -> dict:
    fm, _body, _line = split_frontmatter(text)
    data = load_yaml(fm) if fm else None
    return {str(k): normalise_value(v) for k, v in (data or {}).items()}


def ruamel_reader():
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=False)

    def read(text: str) -> dict:
        fm, _body, _line = split_frontmatter(text)
        data = yaml.load(fm) if fm else None
        return {str(k): normalise_value(v) for k, v in (data or {}).items()}
    return read


def pf_read(handler):
    def read(text: str) -> dict:
        post = frontmatter.loads(text, handler=handler) if handler else frontmatter.loads(text)
        return {str(k): normalise_value(v) for k, v in post.metadata.items()}
    return read


# What Obsidian shows for each frontmatter block.
CASES = {
    "octal-looking number is 755 (YAML 1.2), not 493": ("---\nmode: 0755\n---\n", {"mode": 755}),
    "yes/no stay text": ("---\nenabled: yes\n---\n", {"enabled": "yes"}),
    "a time stays text, not 750 minutes": ("---\nat: 12:30\n---\n", {"at": "12:30"}),
    "a 4-dash line opens no frontmatter": ("----\ntype: agent\n----\n# body\n", {}),
}


def timed(fn, items, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for x in items:
            fn(x)
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def bench_frontmatter(notes: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        generate_vault(Path(tmp), notes=notes)
        texts = [p.read_text(encoding="utf-8") for p in sorted(Path(tmp).rglob("*.md"))]
    readers = {
        "brain (fast reader + YAML 1.2 loader)": brain_read,
        "brain's YAML 1.2 loader alone": loader_only,
        "ruamel.yaml (YAML 1.2, C loader)": ruamel_reader(),
        "python-frontmatter + YAML 1.2 handler": pf_read(Yaml12Handler()),
        "python-frontmatter as shipped (YAML 1.1)": pf_read(None),
    }
    expected = [brain_read(t) for t in texts]
    print(f"1. frontmatter of {len(texts):,} notes, median of {repeat} passes")
    base = None
    for name, fn in readers.items():
        s = timed(fn, texts, repeat)
        base = base or s
        same = sum(fn(t) == e for t, e in zip(texts, expected, strict=True))
        print(f"   {name:42s} {s * 1000:7.0f} ms {s / base:5.1f}x   same properties as brain: {same:,}/{len(texts):,}")
    print("   as Obsidian reads it:")
    labels = ("brain", "loader", "ruamel", "pf+1.2", "pf")
    for case, (text, want) in CASES.items():
        marks = "  ".join(f"{label} {'ok' if fn(text) == want else 'NO'}" for label, fn in zip(labels, readers.values(), strict=True))
        print(f"   {case:50s} {marks}")


def otlp_json(spans: int) -> bytes:
    attrs = lambda i: [  # noqa: E731
        {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
        {"key": "gen_ai.provider.name", "value": {"stringValue": "openai"}},
        {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
        {"key": "gen_ai.response.id", "value": {"stringValue": f"chatcmpl-{i}"}},
        {"key": "gen_ai.usage.input_tokens", "value": {"intValue": str(1000 + i % 97)}},
        {"key": "gen_ai.usage.output_tokens", "value": {"intValue": 200 + i % 31}},
    ]
    doc = {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
        "scopeSpans": [{"scope": {"name": "bench"}, "spans": [
            {"traceId": f"{i // 4:032x}", "spanId": f"{i + 1:016x}", "name": "chat gpt-4o", "kind": 3,
             "startTimeUnixNano": str(1_748_772_000_000_000_000 + i * 1_000_000),
             "endTimeUnixNano": str(1_748_772_000_500_000_000 + i * 1_000_000),
             "attributes": attrs(i), "status": {}}
            for i in range(spans)]}]}]}
    return json.dumps(doc).encode()


def bench_otlp(spans: int, repeat: int) -> None:
    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from brain.ingest.sources.otlp import decode_json_bytes, decode_protobuf

    body = otlp_json(spans)

    def library(b: bytes):
        msg = json_format.Parse(b, ExportTraceServiceRequest())
        return decode_protobuf(msg.SerializeToString())

    ours = timed(decode_json_bytes, [body], repeat)
    print(f"2. OTLP/JSON, {spans:,} GenAI spans in one request, median of {repeat}")
    print(f"   brain's walker (decode_json_bytes)         {ours * 1000:7.0f} ms  {spans / ours:,.0f} spans/s "
          f"-> {len(decode_json_bytes(body)):,} events")
    theirs = timed(library, [body], repeat)
    mine, other = decode_json_bytes(body).to_table(), library(body).to_table()
    same_runs = sum(a == b for a, b in zip(mine.column("run_id").to_pylist(), other.column("run_id").to_pylist(), strict=True))
    print(f"   protobuf json_format.Parse + decode        {theirs * 1000:7.0f} ms  {theirs / ours:5.1f}x "
          f"-> {other.num_rows:,} events, run ids as sent: {same_runs:,}/{mine.num_rows:,}")
    print("   (OTLP/JSON writes trace and span ids as hex; proto3 JSON reads them as base64)")


def bench_http(repeat: int) -> None:
    def import_ms(modules: str) -> float:
        runs = []
        for _ in range(repeat):
            code = f"import time; t = time.perf_counter(); import {modules}; print(time.perf_counter() - t)"
            runs.append(float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout))
        return statistics.median(runs) * 1000

    print(f"3. HTTP server import time in a fresh process, median of {repeat}")
    std = import_ms("http.server")
    asgi = import_ms("starlette.applications, starlette.routing, uvicorn")
    print(f"   http.server (ThreadingHTTPServer)           {std:7.1f} ms")
    print(f"   starlette + uvicorn                         {asgi:7.1f} ms  {asgi / std:5.1f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--notes", type=int, default=10_000)
    ap.add_argument("--spans", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    bench_frontmatter(args.notes, args.repeat)
    bench_otlp(args.spans, args.repeat)
    bench_http(args.repeat)


if __name__ == "__main__":
    main()
