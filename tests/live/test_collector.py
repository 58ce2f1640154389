"""The OTLP/HTTP receiver in-process: encodings, OTLP error responses, batching into a real store."""

from __future__ import annotations

import gzip
import json
import urllib.error
import urllib.request

import pytest
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from brain.live.collector import start_collector
from brain.store.database import Store

pytestmark = pytest.mark.e2e


def _request(n: int, trace: int = 1, model: str = "gpt-4o-2024-08-06") -> bytes:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value="support-svc")))
    ss = rs.scope_spans.add()
    for i in range(n):
        span = ss.spans.add()
        span.trace_id = trace.to_bytes(16, "big")
        span.span_id = (i + 1).to_bytes(8, "big")
        span.start_time_unix_nano = 1_748_772_000_000_000_000
        for k, v in [("gen_ai.system", "openai"), ("gen_ai.request.model", model)]:
            span.attributes.append(KeyValue(key=k, value=AnyValue(string_value=v)))
        for k, v in [("gen_ai.usage.input_tokens", 1000), ("gen_ai.usage.output_tokens", 500)]:
            span.attributes.append(KeyValue(key=k, value=AnyValue(int_value=v)))
    return req.SerializeToString()


def _post(url: str, body: bytes, ctype: str, encoding: str | None = None) -> tuple[int, bytes, str]:
    headers = {"Content-Type": ctype}
    if encoding:
        headers["Content-Encoding"] = encoding
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read(), resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers.get("Content-Type", "")


@pytest.fixture
def collector(tmp_path):
    store_path = tmp_path / "usage.duckdb"
    c = start_collector(lambda: Store(store_path), host="127.0.0.1", port=0, flush_interval_s=0.05)
    c.store_path = store_path
    yield c
    c.stop()


def _events(store_path) -> list[tuple]:
    with Store(store_path) as store:
        return store.con.execute(
            "SELECT request_id, service_name, model, input_tokens, output_tokens, cost_est_usd "
            "FROM events ORDER BY request_id"
        ).fetchall()


def test_protobuf_plain_and_gzip_bodies_are_ingested(collector):
    status, body, ctype = _post(collector.endpoint, _request(3, trace=1), "application/x-protobuf")
    assert status == 200 and ctype == "application/x-protobuf"
    ExportTraceServiceResponse().ParseFromString(body)
    status, _, _ = _post(
        collector.endpoint, gzip.compress(_request(2, trace=2)), "application/x-protobuf", encoding="gzip"
    )
    assert status == 200
    collector.stop()
    rows = _events(collector.store_path)
    assert len(rows) == 5
    assert {r[1] for r in rows} == {"support-svc"}
    assert rows[0][5] == pytest.approx(1000 * 2.5e-6 + 500 * 10e-6)


def test_json_body_is_ingested_and_answered_in_json(collector):
    doc = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-svc"}}]},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "0af7651916cd43dd8448eb211c80319c",
                                "spanId": "b7ad6b7169203331",
                                "startTimeUnixNano": "1748772000000000000",
                                "attributes": [
                                    {"key": "gen_ai.provider.name", "value": {"stringValue": "openai"}},
                                    {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
                                    {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "100"}},
                                    {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "10"}},
                                ],
                            }
                        ]
                    }
                ],
            }
        ]
    }
    status, body, ctype = _post(collector.endpoint, json.dumps(doc).encode(), "application/json")
    assert (status, ctype) == (200, "application/json")
    assert json.loads(body) == {}
    assert collector.flush(timeout_s=10)
    assert collector.snapshot()["events_ingested"] == 1


def test_malformed_payloads_get_an_otlp_status_and_the_receiver_keeps_serving(collector):
    status, body, ctype = _post(collector.endpoint, b"\xff\xff\xff\xff", "application/x-protobuf")
    assert status == 400 and ctype == "application/x-protobuf"
    rpc = status_pb2.Status()
    rpc.ParseFromString(body)
    assert rpc.code == 3 and "not a valid OTLP protobuf" in rpc.message

    status, body, _ = _post(collector.endpoint, b"{broken", "application/json")
    assert status == 400 and json.loads(body)["code"] == 3

    status, _, _ = _post(collector.endpoint, b"not gzip", "application/x-protobuf", encoding="gzip")
    assert status == 400
    status, _, _ = _post(collector.endpoint, b"x", "text/plain")
    assert status == 415
    status, _, _ = _post(collector.endpoint.replace("/v1/traces", "/v1/metrics"), b"x", "application/json")
    assert status == 404

    status, _, _ = _post(collector.endpoint, _request(1), "application/x-protobuf")
    assert status == 200
    assert collector.flush(timeout_s=10)
    snap = collector.snapshot()
    assert (snap["bad_requests"], snap["events_ingested"]) == (3, 1)


def test_resent_spans_are_deduplicated(collector):
    body = _request(4, trace=9)
    for _ in range(2):
        assert _post(collector.endpoint, body, "application/x-protobuf")[0] == 200
        assert collector.flush(timeout_s=10)
    snap = collector.snapshot()
    assert (snap["events_ingested"], snap["events_duplicate"]) == (4, 4)


def test_batches_group_many_requests_into_few_ingests(tmp_path):
    store_path = tmp_path / "usage.duckdb"
    c = start_collector(lambda: Store(store_path), port=0, batch_rows=50, flush_interval_s=30)
    try:
        for t in range(10):
            assert _post(c.endpoint, _request(10, trace=t + 1), "application/x-protobuf")[0] == 200
        assert c.flush(timeout_s=10)
    finally:
        c.stop()
    snap = c.snapshot()
    assert snap["events_ingested"] == 100
    assert snap["batches"] <= 3


def test_healthz_reports_counters(collector):
    with urllib.request.urlopen(collector.endpoint.replace("/v1/traces", "/healthz"), timeout=10) as resp:
        health = json.loads(resp.read())
        assert health["events_ingested"] == 0
    assert health == collector.snapshot()  # every counter, as the collector holds them
    assert {"requests", "spans_received", "events_ingested", "bad_requests", "pending_events"} <= set(health)
    assert set(health.values()) == {0}  # nothing sent yet


def test_receiver_binds_loopback_by_default(tmp_path):
    c = start_collector(lambda: Store(tmp_path / "u.duckdb"), port=0)
    try:
        assert c.host == "127.0.0.1"
    finally:
        c.stop()


def _json_spans(*inputs: str, start: str = "1748772000000000000", trace: int = 1) -> bytes:
    """One OTLP/JSON request: a span per input_tokens intValue; the first starts at `start`."""
    spans = [
        {
            "traceId": f"{trace:032x}",
            "spanId": f"{i + 1:016x}",
            "startTimeUnixNano": start if i == 0 else "1748772000000000000",
            "attributes": [
                {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
                {"key": "gen_ai.usage.input_tokens", "value": {"intValue": n}},
                {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "1"}},
            ],
        }
        for i, n in enumerate(inputs)
    ]
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}).encode()


def test_out_of_range_and_malformed_values_are_rejected_per_span_and_later_spans_land(collector):
    for body in (_json_spans("100000000000000000000", "10", trace=1),
                 _json_spans("11", "12", start="100000000000000000000", trace=2), _json_spans("abc", "13", trace=3)):
        status, resp, _ = _post(collector.endpoint, body, "application/json")
        assert status == 200
        partial = json.loads(resp)["partialSuccess"]
        assert partial["rejectedSpans"] == "1" and partial["errorMessage"]
    req = ExportTraceServiceRequest.FromString(_request(2, trace=5))
    req.resource_spans[0].scope_spans[0].spans[0].start_time_unix_nano = 2**64 - 1
    status, resp, _ = _post(collector.endpoint, req.SerializeToString(), "application/x-protobuf")
    assert status == 200 and ExportTraceServiceResponse.FromString(resp).partial_success.rejected_spans == 1
    assert collector.flush(timeout_s=10)
    assert _post(collector.endpoint, _request(1, trace=6), "application/x-protobuf")[0] == 200
    assert collector.flush(timeout_s=10)
    snap = collector.snapshot()
    assert (snap["spans_rejected"], snap["events_ingested"], snap["ingest_failures"]) == (4, 5, 0)
    collector.stop()
    assert sorted(r[3] for r in _events(collector.store_path)) == [10, 12, 13, 1000, 1000]


class _FailsOnce:
    """A store whose first ingest raises what a store error is not (the writer must survive it)."""

    def __init__(self, path):
        self.store = Store(path)
        self.calls = 0

    def ingest_table(self, table, source):
        from brain.ingest import ingest_table

        self.calls += 1
        if self.calls == 1:
            raise OverflowError("Python int too large to convert to C long")
        return ingest_table(self.store, table, source=source)

    def close(self):
        self.store.close()


def test_a_batch_that_fails_to_ingest_is_counted_and_the_writer_keeps_going(tmp_path):
    c = start_collector(lambda: _FailsOnce(tmp_path / "u.duckdb"), port=0, flush_interval_s=0.05)
    try:
        assert _post(c.endpoint, _request(2, trace=1), "application/x-protobuf")[0] == 200
        assert c.flush(timeout_s=10)
        assert _post(c.endpoint, _request(3, trace=2), "application/x-protobuf")[0] == 200
        assert c.flush(timeout_s=10)
        with urllib.request.urlopen(c.endpoint.replace("/v1/traces", "/healthz"), timeout=10) as resp:
            health = json.loads(resp.read())
    finally:
        c.stop()
    assert (health["ingest_failures"], health["events_dropped"], health["events_ingested"]) == (1, 2, 3)
    assert len(_events(tmp_path / "u.duckdb")) == 3


def test_a_compressed_body_is_capped_once_decompressed(tmp_path):
    import zlib

    c = start_collector(lambda: Store(tmp_path / "u.duckdb"), port=0, flush_interval_s=0.05, max_body_bytes=100_000)
    try:
        bomb = b"\n" * 200_000  # compresses to a few hundred bytes
        for encoding, packed in (("gzip", gzip.compress(bomb)), ("deflate", zlib.compress(bomb))):
            assert len(packed) < 100_000
            status, body, _ = _post(c.endpoint, packed, "application/x-protobuf", encoding=encoding)
            assert status == 413
            rpc = status_pb2.Status()
            rpc.ParseFromString(body)
            assert "decompressed" in rpc.message
        ok = gzip.compress(_request(2)) + gzip.compress(b"")  # two gzip members, within the limit
        assert _post(c.endpoint, ok, "application/x-protobuf", encoding="gzip")[0] == 200
        assert c.flush(timeout_s=10)
        assert c.snapshot()["events_ingested"] == 2
    finally:
        c.stop()
