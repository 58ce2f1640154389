"""End to end: `brain collect` as a real subprocess, spans sent by the real OpenTelemetry SDK."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request

import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from brain.facade import Brain
from brain.settings import Settings
from brain.store.database import Store

pytestmark = pytest.mark.e2e

VAULT = {
    "Agents/Support Agent.md": """
        ---
        type: agent
        agent_id: support-agent
        service_names: [support-svc]
        ---
        Answers tickets.
        """,
    "Agents/Research Agent.md": """
        ---
        type: agent
        agent_id: research-agent
        ---
        Reads papers.
        """,
}

_LAUNCH = "import sys; from brain.cli import main; sys.exit(main())"


@pytest.fixture
def collector_process(tmp_path):
    """`brain collect --port 0 --store <tmp>` running; yields (endpoint, store path)."""
    store_path = tmp_path / "usage.duckdb"
    proc = subprocess.Popen(
        [sys.executable, "-c", _LAUNCH, "collect", "--port", "0", "--store", str(store_path),
         "--vault", str(tmp_path), "--flush-interval", "0.2"],
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    line = proc.stderr.readline()  # blocks until the receiver is bound (or the process died)
    if "listening on" not in line:
        proc.kill()
        pytest.fail(f"brain collect did not start: {line}{proc.stderr.read()}")
    endpoint = line.split("listening on ", 1)[1].split(" ", 1)[0]
    yield proc, endpoint, store_path
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=30)


def _stop(proc) -> str:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return err


def _send_with_sdk(endpoint: str) -> None:
    """Spans as GenAI instrumentations set them: an agent run with chat calls and a tool call."""
    provider = TracerProvider(resource=Resource.create({"service.name": "support-svc"}))
    exporter = OTLPSpanExporter(endpoint=endpoint, compression=Compression.Gzip)
    provider.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=64))
    tracer = provider.get_tracer("opentelemetry.instrumentation.openai_v2")
    for run in range(10):
        with tracer.start_as_current_span("invoke_agent support", kind=SpanKind.INTERNAL):
            for call in range(3):
                with tracer.start_as_current_span("chat gpt-4o", kind=SpanKind.CLIENT) as span:
                    span.set_attribute("gen_ai.operation.name", "chat")
                    span.set_attribute("gen_ai.provider.name", "openai")
                    span.set_attribute("gen_ai.request.model", "gpt-4o")
                    span.set_attribute("gen_ai.response.model", "gpt-4o-2024-08-06")
                    span.set_attribute("gen_ai.response.id", f"chatcmpl-{run}-{call}")
                    span.set_attribute("gen_ai.usage.input_tokens", 1000)
                    span.set_attribute("gen_ai.usage.output_tokens", 200)
                    span.set_attribute("gen_ai.usage.cache_read.input_tokens", 400)
            with tracer.start_as_current_span("execute_tool search") as span:
                span.set_attribute("gen_ai.operation.name", "execute_tool")
        # one failed call from another agent, named on the span
        with tracer.start_as_current_span("chat claude", kind=SpanKind.CLIENT) as span:
            span.set_attribute("gen_ai.agent.name", "Research Agent")
            span.set_attribute("gen_ai.system", "anthropic")
            span.set_attribute("gen_ai.request.model", "claude-sonnet-4-20250514")
            span.set_attribute("gen_ai.usage.input_tokens", 3500)
            span.set_attribute("gen_ai.usage.output_tokens", 300)
            span.set_attribute("gen_ai.usage.cache_read.input_tokens", 2000)
            span.set_attribute("gen_ai.usage.cache_creation.input_tokens", 500)
            span.set_status(Status(StatusCode.ERROR, "overloaded"))
    assert provider.force_flush(30_000)
    provider.shutdown()


def _send_json(endpoint: str) -> None:
    doc = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "research-svc"}}]},
                "scopeSpans": [
                    {
                        "scope": {"name": "openinference.instrumentation.openai"},
                        "spans": [
                            {
                                "traceId": "0af7651916cd43dd8448eb211c80319c",
                                "spanId": "b7ad6b7169203331",
                                "name": "ChatCompletion",
                                "startTimeUnixNano": "1748772000000000000",
                                "attributes": [
                                    {"key": "llm.model_name", "value": {"stringValue": "gpt-4o-mini"}},
                                    {"key": "llm.provider", "value": {"stringValue": "openai"}},
                                    {"key": "gen_ai.agent.id", "value": {"stringValue": "research-agent"}},
                                    {"key": "llm.token_count.prompt", "value": {"intValue": "10000"}},
                                    {"key": "llm.token_count.completion", "value": {"intValue": "1000"}},
                                ],
                            }
                        ],
                    }
                ],
            }
        ]
    }
    req = urllib.request.Request(
        endpoint, data=json.dumps(doc).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200


def test_sdk_spans_land_attributed_with_the_right_cost(tmp_path, make_vault, collector_process):
    proc, endpoint, store_path = collector_process
    _send_with_sdk(endpoint)
    _send_json(endpoint)
    err = _stop(proc)
    assert "61 spans received, 41 events ingested" in err  # 30 chat + 10 failed + 1 JSON

    vault = make_vault(VAULT)
    identities = Brain.open(Settings(vault=vault, store=store_path)).identities()
    by_service = {s: i.agent_id for i in identities for s in i.service_names}
    by_name = {n.lower(): i.agent_id for i in identities for n in (i.name, i.agent_id, *i.aliases)}
    with Store(store_path) as store:
        rows = store.con.execute(
            "SELECT agent, service_name, model, status, count(*), sum(input_tokens), "
            "sum(cost_est_usd), count(DISTINCT run_id) FROM events GROUP BY ALL ORDER BY model"
        ).fetchall()
    attributed = {}
    for agent, service, model, status, n, tokens, cost, runs in rows:
        who = by_name.get((agent or "").lower()) or by_service.get(service) or "unattributed"
        attributed[(who, model, status)] = (n, tokens, cost, runs)

    support = attributed[("support-agent", "gpt-4o-2024-08-06", "ok")]
    assert support[:2] == (30, 30_000)
    assert support[2] == pytest.approx(30 * (600 * 2.5e-6 + 400 * 1.25e-6 + 200 * 10e-6))
    assert support[3] == 10  # one run per trace
    research = attributed[("research-agent", "claude-sonnet-4-20250514", "error")]
    assert research[:2] == (10, 35_000)
    assert research[2] == pytest.approx(10 * (1000 * 3e-6 + 2000 * 0.3e-6 + 500 * 3.75e-6 + 300 * 15e-6))
    mini = attributed[("research-agent", "gpt-4o-mini", "ok")]
    assert mini[2] == pytest.approx(10000 * 0.15e-6 + 1000 * 0.6e-6)


def test_resending_the_same_spans_does_not_double_count(collector_process):
    proc, endpoint, store_path = collector_process
    _send_json(endpoint)
    _send_json(endpoint)
    err = _stop(proc)
    assert "1 events ingested, 1 duplicates" in err


def test_sdk_nested_agent_totals_are_counted_once_on_the_agent(collector_process):
    """QA otlp2 bug 1: an `invoke_agent` span's usage totals were stored beside its `chat` spans'."""
    proc, endpoint, store_path = collector_process
    provider = TracerProvider(resource=Resource.create({"service.name": "orchestrator-svc"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    tracer = provider.get_tracer("opentelemetry.instrumentation.openai_agents")
    with tracer.start_as_current_span("invoke_agent Research Agent") as agent:
        agent.set_attributes({"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "Research Agent",
                              "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o"})  # fmt: skip
        for i in range(2):
            with tracer.start_as_current_span("chat gpt-4o", kind=SpanKind.CLIENT) as chat:
                chat.set_attributes({"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                                     "gen_ai.request.model": "gpt-4o", "gen_ai.response.id": f"chatcmpl-{i}",
                                     "gen_ai.usage.input_tokens": 1500, "gen_ai.usage.output_tokens": 300})  # fmt: skip
        agent.set_attributes({"gen_ai.usage.input_tokens": 3000, "gen_ai.usage.output_tokens": 600})
    assert provider.force_flush(30_000)
    provider.shutdown()
    _stop(proc)
    with Store(store_path) as store:
        rows = store.con.execute(
            "SELECT agent, count(*), sum(input_tokens), sum(output_tokens), sum(cost_est_usd) FROM events GROUP BY ALL"
        ).fetchall()
    assert [r[:4] for r in rows] == [("Research Agent", 2, 3000, 600)]
    assert rows[0][4] == pytest.approx(3000 * 2.5e-6 + 600 * 10e-6)
