"""OTLP decoding: GenAI semconv, OpenInference and OpenLLMetry spans become canonical events."""

from __future__ import annotations

import json

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from brain.errors import IngestError
from brain.ingest.sources.otlp import decode_json_bytes, decode_protobuf, read_otlp_json_file

TRACE = bytes.fromhex("5b8efff798038103d269b633813fc60c")


def _kv(key, value) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def _request(spans: list[dict], resource: dict | None = None) -> bytes:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    for k, v in (resource or {"service.name": "support-svc"}).items():
        rs.resource.attributes.append(_kv(k, v))
    ss = rs.scope_spans.add()
    for i, spec in enumerate(spans):
        span = ss.spans.add()
        span.trace_id = spec.pop("_trace", TRACE)
        span.span_id = (i + 1).to_bytes(8, "big")
        if parent := spec.pop("_parent", None):  # the 1-based index of the parent span
            span.parent_span_id = parent.to_bytes(8, "big")
        span.name = spec.pop("_name", "chat")
        span.start_time_unix_nano = 1_748_772_000_000_000_000 + i
        if spec.pop("_error", False):
            span.status.code = Status.STATUS_CODE_ERROR
        for k, v in spec.items():
            span.attributes.append(_kv(k, v))
    return req.SerializeToString()


def test_genai_semconv_span_maps_every_field():
    body = _request(
        [
            {
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.response.model": "gpt-4o-2024-08-06",
                "gen_ai.agent.name": "Support Agent",
                "gen_ai.usage.input_tokens": 1000,
                "gen_ai.usage.output_tokens": 500,
                "gen_ai.usage.cache_read.input_tokens": 800,
                "gen_ai.usage.reasoning.output_tokens": 100,
            }
        ]
    )
    row = decode_protobuf(body).to_table().to_pylist()[0]
    assert row["agent"] == "Support Agent"
    assert row["service_name"] == "support-svc"
    assert row["provider"] == "openai"
    assert row["model"] == "gpt-4o-2024-08-06"  # the response model wins over the request model
    assert (row["input_tokens"], row["output_tokens"]) == (1000, 500)
    assert (row["cache_read_tokens"], row["reasoning_tokens"]) == (800, 100)
    assert row["run_id"] == TRACE.hex()
    assert row["request_id"] == f"otel:{TRACE.hex()}:0000000000000001"
    assert row["status"] == "ok"
    assert row["timestamp"].isoformat().startswith("2025-06-01T10:00:00")


def test_spans_without_usage_are_ignored_and_errors_kept():
    body = _request(
        [
            {"_name": "tool", "gen_ai.operation.name": "execute_tool"},
            {"gen_ai.system": "anthropic", "gen_ai.request.model": "claude-sonnet-4-20250514",
             "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 0, "_error": True},
        ]
    )  # fmt: skip
    batch = decode_protobuf(body)
    assert batch.spans_seen == 2
    rows = batch.to_table().to_pylist()
    assert len(rows) == 1
    assert rows[0]["status"] == "error"
    assert rows[0]["provider"] == "anthropic"


def test_openinference_and_openllmetry_variants():
    body = _request(
        [
            {"llm.model_name": "gpt-4o-mini", "llm.provider": "openai",
             "llm.token_count.prompt": 300, "llm.token_count.completion": 20,
             "llm.token_count.prompt_details.cache_read": 100,
             "llm.token_count.completion_details.reasoning": 5},
            {"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o",
             "llm.usage.prompt_tokens": 70, "llm.usage.completion_tokens": 7},
            {"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o",
             "gen_ai.usage.prompt_tokens": 40, "gen_ai.usage.completion_tokens": 4},
        ]
    )  # fmt: skip
    rows = decode_protobuf(body).to_table().to_pylist()
    assert [(r["model"], r["input_tokens"], r["output_tokens"]) for r in rows] == [
        ("gpt-4o-mini", 300, 20),
        ("gpt-4o", 70, 7),
        ("gpt-4o", 40, 4),
    ]
    assert (rows[0]["cache_read_tokens"], rows[0]["reasoning_tokens"]) == (100, 5)


def test_disjoint_cache_counts_are_added_into_input():
    body = _request(
        [{"gen_ai.system": "anthropic", "gen_ai.request.model": "claude-sonnet-4-20250514",
          "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 300,
          "gen_ai.usage.cache_read.input_tokens": 2000,
          "gen_ai.usage.cache_creation.input_tokens": 500}]
    )  # fmt: skip
    row = decode_protobuf(body).to_table().to_pylist()[0]
    assert row["input_tokens"] == 3500


def test_agent_falls_back_to_resource_agent_then_service_name():
    body = _request(
        [{"gen_ai.usage.input_tokens": 1, "gen_ai.usage.output_tokens": 1, "gen_ai.request.model": "m"}],
        resource={"service.name": "billing-svc", "gen_ai.agent.id": "billing-agent"},
    )
    row = decode_protobuf(body).to_table().to_pylist()[0]
    assert (row["agent"], row["service_name"]) == ("billing-agent", "billing-svc")


def test_response_id_is_the_dedupe_key_when_present():
    body = _request(
        [{"gen_ai.response.id": "chatcmpl-9", "gen_ai.usage.input_tokens": 1,
          "gen_ai.usage.output_tokens": 1, "gen_ai.request.model": "m"}]
    )  # fmt: skip
    assert decode_protobuf(body).to_table().to_pylist()[0]["request_id"] == "chatcmpl-9"


def test_bad_token_value_rejects_only_that_span():
    body = _request(
        [
            {"gen_ai.usage.input_tokens": "lots", "gen_ai.usage.output_tokens": 1, "gen_ai.request.model": "m"},
            {"gen_ai.usage.input_tokens": 5, "gen_ai.usage.output_tokens": 1, "gen_ai.request.model": "m"},
        ]
    )
    batch = decode_protobuf(body)
    assert batch.rejected == 1
    assert len(batch) == 1
    assert "bad token count" in batch.errors[0]


def test_garbage_protobuf_is_an_ingest_error():
    with pytest.raises(IngestError, match="not a valid OTLP protobuf"):
        decode_protobuf(b"\xff\xff\xff\xff")


def test_json_body_matches_protobuf_body():
    doc = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "support-svc"}}]},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": TRACE.hex(),
                                "spanId": "0000000000000001",
                                "startTimeUnixNano": "1748772000000000000",
                                "attributes": [
                                    {"key": "gen_ai.system", "value": {"stringValue": "openai"}},
                                    {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
                                    {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "12"}},
                                    {"key": "gen_ai.usage.output_tokens", "value": {"intValue": 3}},
                                ],
                                "status": {"code": "STATUS_CODE_ERROR"},
                            }
                        ]
                    }
                ],
            }
        ]
    }
    row = decode_json_bytes(json.dumps(doc).encode()).to_table().to_pylist()[0]
    assert (row["input_tokens"], row["output_tokens"], row["status"]) == (12, 3, "error")
    assert row["request_id"] == f"otel:{TRACE.hex()}:0000000000000001"


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"resourceSpans": 5}'])
def test_malformed_json_bodies_are_ingest_errors(body):
    problem = {b"{not json": "OTLP JSON body is not valid JSON", b"[1, 2]": "OTLP JSON body must be an object with resourceSpans",
               b'{"resourceSpans": 5}': "malformed OTLP JSON trace request"}[body]
    with pytest.raises(IngestError, match=problem):
        decode_json_bytes(body)


def _json_doc(spans: list[dict]) -> bytes:
    """An OTLP/JSON request of spans given as {attribute: OTLP AnyValue} (plus `_start`, `_ids`)."""
    out = []
    for i, spec in enumerate(spans):
        span = {"startTimeUnixNano": spec.pop("_start", "1748772000000000000")}
        if spec.pop("_ids", True):
            span.update(traceId=TRACE.hex(), spanId=f"{i + 1:016x}")
        span["attributes"] = [{"key": k, "value": v} for k, v in spec.items()]
        out.append(span)
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": out}]}]}).encode()


def _tokens(value: dict, **extra) -> dict:
    return {"gen_ai.request.model": {"stringValue": "gpt-4o"}, "gen_ai.usage.input_tokens": value,
            "gen_ai.usage.output_tokens": {"intValue": "5"}, **extra}


def test_fractional_token_counts_are_rejected_not_truncated():
    good = _tokens({"intValue": "7"})
    body = _json_doc([_tokens({"doubleValue": 1000.7}), _tokens({"stringValue": "1000.7"}),
                      _tokens({"intValue": 1000.5}), _tokens({"doubleValue": 1000.0}), good])
    batch = decode_json_bytes(body)
    assert batch.rejected == 3
    assert all("non-integer" in e for e in batch.errors)
    assert batch.to_table().column("input_tokens").to_pylist() == [1000, 7]

    req = ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    for n, value in enumerate([1000.7, 1000.0]):
        span = ss.spans.add()
        span.trace_id, span.span_id = TRACE, (n + 1).to_bytes(8, "big")
        span.start_time_unix_nano = 1_748_772_000_000_000_000
        span.attributes.append(_kv("gen_ai.request.model", "gpt-4o"))
        span.attributes.append(KeyValue(key="gen_ai.usage.input_tokens", value=AnyValue(double_value=value)))
    batch = decode_protobuf(req.SerializeToString())
    assert batch.rejected == 1 and "non-integer" in batch.errors[0]
    assert batch.to_table().column("input_tokens").to_pylist() == [1000]


def test_out_of_range_numbers_reject_only_their_span():
    body = _json_doc([
        _tokens({"intValue": "100000000000000000000"}),
        _tokens({"intValue": "7"}, _start="100000000000000000000"),
        _tokens({"intValue": "8"}),
    ])
    batch = decode_json_bytes(body)
    assert batch.rejected == 2
    assert "implausible" in batch.errors[0] and "start time" in batch.errors[1]
    assert batch.to_table().column("input_tokens").to_pylist() == [8]

    req = ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    for n, start in enumerate([2**64 - 1, 1_748_772_000_000_000_000]):
        span = ss.spans.add()
        span.trace_id, span.span_id, span.start_time_unix_nano = TRACE, (n + 1).to_bytes(8, "big"), start
        for kv in (_kv("gen_ai.request.model", "m"), _kv("gen_ai.usage.input_tokens", 1)):
            span.attributes.append(kv)
    batch = decode_protobuf(req.SerializeToString())
    assert batch.rejected == 1 and "start time" in batch.errors[0]
    assert batch.to_table().num_rows == 1


def test_a_malformed_int_value_rejects_only_its_span():
    batch = decode_json_bytes(_json_doc([_tokens({"intValue": "abc"}), _tokens({"intValue": "9"})]))
    assert (batch.rejected, len(batch)) == (1, 1)
    assert "non-numeric 'abc'" in batch.errors[0]


def test_spans_without_ids_are_keyed_by_their_content(tmp_path):
    from brain.ingest import ingest_table
    from brain.store.database import Store

    body = _json_doc([_tokens({"intValue": "1"}, _ids=False), _tokens({"intValue": "2"}, _ids=False)])
    table = decode_json_bytes(body).to_table()
    assert table.column("request_id").to_pylist() == [None, None]
    with Store(tmp_path / "u.duckdb") as store:
        assert ingest_table(store, table, source="otlp").accepted == 2
        assert ingest_table(store, table, source="otlp").duplicates == 2  # a resend still dedupes


# --- nested spans (QA otlp2 bug 1) -----------------------------------------------------------

_AGENT_SPAN = {"gen_ai.operation.name": "invoke_agent", "gen_ai.provider.name": "openai",
               "gen_ai.agent.name": "Research Agent", "gen_ai.request.model": "gpt-4o"}  # fmt: skip
_CHAT = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
         "gen_ai.usage.input_tokens": 1500, "gen_ai.usage.output_tokens": 300}  # fmt: skip
_TOTALS = {"gen_ai.usage.input_tokens": 3000, "gen_ai.usage.output_tokens": 600}


def _rows(spans: list[dict]) -> list[dict]:
    return decode_protobuf(_request(spans, {"service.name": "orchestrator-svc"})).to_table().to_pylist()


def test_invoke_agent_totals_are_not_counted_on_top_of_its_chat_spans_which_take_its_agent():
    batch = decode_protobuf(_request(
        [{**_AGENT_SPAN, **_TOTALS}, {**_CHAT, "_parent": 1}, {**_CHAT, "_parent": 1}],
        {"service.name": "orchestrator-svc"},
    ))  # fmt: skip
    rows = batch.to_table().to_pylist()
    assert [(r["agent"], r["input_tokens"], r["output_tokens"]) for r in rows] == [("Research Agent", 1500, 300)] * 2
    assert {r["service_name"] for r in rows} == {"orchestrator-svc"}
    assert (batch.spans_seen, batch.rolled_up, len(batch)) == (3, 1, 2)


def test_an_invoke_agent_span_with_usage_and_no_model_calls_below_it_keeps_its_usage():
    rows = _rows([{**_AGENT_SPAN, **_TOTALS}, {"gen_ai.operation.name": "execute_tool", "_parent": 1}])
    assert [(r["agent"], r["input_tokens"]) for r in rows] == [("Research Agent", 3000)]


def test_the_nearest_agent_above_names_a_call_through_spans_without_usage_and_nested_agents_roll_up():
    rows = _rows([
        {**_AGENT_SPAN, **_TOTALS},  # 1: outer agent, totals of everything below
        {"gen_ai.operation.name": "execute_tool", "_parent": 1},  # 2: no usage, no agent
        {**_CHAT, "_parent": 2},  # 3: Research Agent's call, through the tool span
        {**_AGENT_SPAN, "gen_ai.agent.name": "Billing Bot", "gen_ai.usage.input_tokens": 1500, "_parent": 1},
        {**_CHAT, "_parent": 4},  # 5: Billing Bot's call
        {**_CHAT, "gen_ai.agent.name": "Own Agent", "_parent": 4},  # 6: a span's own agent wins
    ])  # fmt: skip
    assert [(r["agent"], r["input_tokens"]) for r in rows] == [
        ("Research Agent", 1500), ("Billing Bot", 1500), ("Own Agent", 1500)]  # fmt: skip


def test_a_chat_span_is_never_a_roll_up_and_other_traces_are_not_descendants():
    other_trace = bytes.fromhex("00000000000000000000000000000001")
    rows = _rows([
        {**_CHAT, "gen_ai.usage.input_tokens": 100},  # 1: a model call with a model call below it
        {**_CHAT, "_parent": 1},
        {**_AGENT_SPAN, **_TOTALS, "_trace": other_trace},  # 3: parent id 3 in this trace is not it
        {**_CHAT, "_parent": 3},
    ])  # fmt: skip
    assert [r["input_tokens"] for r in rows] == [100, 1500, 3000, 1500]
    assert rows[3]["agent"] is None  # no span 3 in its own trace: the resource has no agent either


def test_a_parent_and_its_children_in_different_requests_are_not_seen_as_nested():
    parent = decode_protobuf(_request([{**_AGENT_SPAN, **_TOTALS}])).to_table().to_pylist()
    assert [r["input_tokens"] for r in parent] == [3000]  # the documented limit: counted


def _json_span(span_id: str, attrs: dict, parent: str = "") -> dict:
    return {
        "traceId": TRACE.hex(), "spanId": span_id, "parentSpanId": parent, "startTimeUnixNano": "1748772000000000000",
        "attributes": [{"key": k, "value": {"intValue": str(v)} if isinstance(v, int) else {"stringValue": v}}
                       for k, v in attrs.items()],
    }  # fmt: skip


def _one_request(*spans: dict) -> dict:
    return {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": list(spans)}]}]}


def test_otlp_json_nesting_is_resolved_per_request_and_across_the_documents_of_a_file(tmp_path):
    parent = _json_span("00000000000000aa", {**_AGENT_SPAN, **_TOTALS})
    child = _json_span("00000000000000bb", _CHAT, parent="00000000000000aa")
    rows = decode_json_bytes(json.dumps(_one_request(parent, child)).encode()).to_table().to_pylist()
    assert [(r["agent"], r["input_tokens"]) for r in rows] == [("Research Agent", 1500)]

    path = tmp_path / "traces.jsonl"
    path.write_text(json.dumps(_one_request(parent)) + "\n" + json.dumps(_one_request(child)) + "\n")
    rows = read_otlp_json_file(path).to_pylist()
    assert [(r["agent"], r["input_tokens"]) for r in rows] == [("Research Agent", 1500)]


def test_a_failed_model_call_without_tokens_is_an_error_request_and_other_tokenless_spans_are_not():
    # a 429: the call failed before it used tokens; a retry loop of them must show in the error share
    rows = _rows([
        {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
         "error.type": "429", "_error": True},
        {"_name": "GET /health", "http.request.method": "GET", "_error": True},  # not GenAI
        {**_AGENT_SPAN, "_error": True},  # an agent operation that failed: its calls are its spans
        {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"},  # no tokens, no failure
    ])
    assert [(r["model"], r["input_tokens"], r["output_tokens"], r["requests"], r["status"]) for r in rows] == [
        ("gpt-4o", 0, 0, 1, "error")]
