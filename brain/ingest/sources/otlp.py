"""OTLP trace payloads (protobuf or JSON) -> canonical usage events, one per GenAI span with usage.

Reads the OpenTelemetry GenAI semantic conventions (`gen_ai.usage.*`, `gen_ai.request.model`,
`gen_ai.provider.name` / `gen_ai.system`, `gen_ai.agent.name` / `gen_ai.agent.id`), the older
`gen_ai.usage.prompt_tokens` names, OpenInference (`llm.token_count.*`, `llm.model_name`) and
OpenLLMetry (`llm.usage.*`). Spans without token usage are ignored, except a model call
(`gen_ai.operation.name` chat, embeddings...) that failed (status ERROR): it is a request with no
tokens, so the error share counts a retry loop of 429s. The run is the trace id; the
dedupe key is `gen_ai.response.id`, else the trace and span ids (so exporter retries dedupe), else
none: the store keys such a span by a hash of its content.

Nested spans, within one request (or one file), grouped by trace and linked by parent span id: a
span with usage that has descendants carrying usage, and is not itself a model call (an agent or
workflow operation such as `invoke_agent`, whose `gen_ai.usage.*` is the total of the calls below
it), contributes no usage of its own, so the calls are counted once. A span without
`gen_ai.agent.*` takes the agent of its nearest ancestor that has one (semconv puts the agent on
`invoke_agent`, not on its `chat` spans), before the resource's. An `invoke_agent` span with usage
and no usage-carrying descendant in the request keeps its usage. The limit: descendants that arrive
in a different request than their parent are not seen, so such a parent's totals are counted too.

A span whose token counts or start time cannot be trusted (not a number, fractional, negative,
implausibly large, an impossible time) is the receiver's to reject (`SpanBatch.rejected`, answered
as OTLP partial success). Read from a file (`keep_bad=True`) it is kept as a row with its raw
values instead, so that ingest quarantines it with the canonical reader's reason.

Over 400 lines on purpose: protobuf and JSON requests go through one span reader (`_take_span`)
with one set of attribute names and checks; splitting by encoding would duplicate them.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from brain.errors import IngestError
from brain.ingest.conform import CANONICAL_SCHEMA
from brain.ingest.sources import otlp_nesting as nesting

log = logging.getLogger(__name__)

_INPUT = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt",
          "llm.usage.prompt_tokens")  # fmt: skip
_OUTPUT = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens",
           "llm.token_count.completion", "llm.usage.completion_tokens")  # fmt: skip
_CACHE_READ = ("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens",
               "llm.token_count.prompt_details.cache_read", "llm.usage.cache_read_input_tokens")  # fmt: skip
_CACHE_WRITE = ("gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_creation_input_tokens",
                "llm.token_count.prompt_details.cache_write",
                "llm.usage.cache_creation_input_tokens")  # fmt: skip
_REASONING = ("gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.reasoning_tokens",
              "llm.token_count.completion_details.reasoning", "llm.usage.reasoning_tokens")  # fmt: skip
_MODEL = ("gen_ai.response.model", "gen_ai.request.model", "llm.model_name", "llm.response.model",
          "llm.request.model")  # fmt: skip
_PROVIDER = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")
_AGENT = ("gen_ai.agent.name", "gen_ai.agent.id")
_USAGE_KEYS = frozenset(_INPUT + _OUTPUT)
# Operations that are one model call (their usage is never a roll-up of the spans below them).
_MODEL_CALL_OPS = frozenset(("chat", "text_completion", "generate_content", "embeddings", "completion"))
_MODEL_CALL_KINDS = frozenset(("LLM", "EMBEDDING"))  # OpenInference span kinds

_STATUS_ERROR = 2
# The canonical reader's bound ("implausible"): no single call reports 10^15 tokens.
_MAX_TOKENS = 10**15
_MAX_START_NS = 2**63 - 1  # the latest time a nanosecond timestamp holds (2262)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class SpanBatch:
    """Columns of canonical events decoded from OTLP payloads, plus what was skipped and why."""

    columns: dict[str, list] = field(default_factory=lambda: {f.name: [] for f in CANONICAL_SCHEMA})
    spans_seen: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)
    keep_bad: bool = False  # keep untrusted spans as rows of raw values (for ingest to quarantine)
    rolled_up: int = 0  # spans whose usage is the total of the spans below them (not stored)
    # every span decoded, by (trace id, span id), until `_resolve_nesting` links them
    _spans: dict[tuple[str, str], nesting.Span] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.columns["timestamp"])

    def extend(self, other: SpanBatch) -> None:
        """Append another batch's rows and counts to this one."""
        for k, v in other.columns.items():
            self.columns[k].extend(v)
        self.spans_seen += other.spans_seen
        self.rejected += other.rejected
        self.rolled_up += other.rolled_up
        self.errors.extend(other.errors)

    def to_table(self) -> pa.Table:
        """The rows as a pyarrow Table in CANONICAL_SCHEMA.

        A column holding a raw value kept from an untrusted span (`keep_bad`) that does not fit
        its type is handed over as text instead (ISO times), for ingest to validate and quarantine.
        """
        arrays = [_column(f, self.columns[f.name]) for f in CANONICAL_SCHEMA]
        return pa.Table.from_arrays(arrays, names=CANONICAL_SCHEMA.names)


def _take_span(
    out: SpanBatch,
    keys: Iterable[str],
    get: Callable[[str], Any],
    res_get: Callable[[str], Any],
    ids: tuple[str, str, str],
    start: Any,
    error: bool,
) -> None:
    """One decoded span (attribute `keys`, values by `get`; ids: trace, span, parent): its row if it
    carries usage, and what `_resolve_nesting` needs of it."""
    trace_id, span_id, parent_id = ids
    rows_before = len(out)
    if _USAGE_KEYS & set(keys) or (error and _failed_model_call(get)):
        _add_span(out, get, res_get, trace_id, span_id, start, error)
    else:
        out.spans_seen += 1
    if not span_id:
        return
    span = out._spans.get((trace_id, span_id))
    if span is None:
        op = get("gen_ai.operation.name")
        span = out._spans[(trace_id, span_id)] = nesting.Span(
            parent_id=parent_id,
            agent=_str(_first(get, _AGENT)),
            model_call=(str(op).lower() in _MODEL_CALL_OPS if op is not None
                        else get("openinference.span.kind") in _MODEL_CALL_KINDS
                        or get("llm.request.type") is not None),  # fmt: skip
            has_usage=_first(get, _INPUT) is not None or _first(get, _OUTPUT) is not None,
        )
    if len(out) > rows_before:
        span.rows.append(rows_before)


def _failed_model_call(get: Callable[[str], Any]) -> bool:
    """A model call that failed before it used tokens (a 429, a timeout): a request with no tokens,
    kept so that the error share and request counts see it."""
    op = get("gen_ai.operation.name")
    return op is not None and str(op).lower() in _MODEL_CALL_OPS and _first(get, _MODEL) is not None


def _resolve_nesting(out: SpanBatch) -> None:
    """Drop roll-up spans' rows and give agent-less spans their nearest ancestor's agent (module docstring)."""
    spans, out._spans = out._spans, {}
    out.rolled_up += nesting.resolve(spans, out.columns)


def _column(f: pa.Field, values: list) -> pa.Array:
    if f.name == "timestamp":
        if all(isinstance(v, int) and 0 <= v <= _MAX_START_NS for v in values):
            return pa.array(values, pa.int64()).cast(pa.timestamp("ns", tz="UTC")).cast(f.type, safe=False)
        return pa.array([_iso(v) for v in values], pa.string())
    try:
        return pa.array(values, f.type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())


def _iso(ns: Any) -> str:
    if isinstance(ns, int) and 0 <= ns <= _MAX_START_NS:
        return (_EPOCH + timedelta(microseconds=ns // 1000)).isoformat()
    return str(ns)


def _first(get: Callable[[str], Any], keys: Iterable[str]) -> Any:
    for k in keys:
        v = get(k)
        if v is not None and v != "":
            return v
    return None


def _int(v: Any) -> int | None:
    """A token count, or ValueError naming why it cannot be trusted (the canonical reader's rules)."""
    if v is None:
        return None
    if isinstance(v, bool):
        raise ValueError(f"boolean {v!r}")
    try:
        n = v if isinstance(v, int) else int(v) if isinstance(v, str) else None
    except ValueError:
        n = None
    if n is None:
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"non-numeric {v!r}") from None
        if not math.isfinite(f) or abs(f) >= _MAX_TOKENS:
            raise ValueError(f"implausible {v!r}")
        if f != math.trunc(f):
            raise ValueError(f"non-integer {v!r}")
        n = int(f)
    if n < 0:
        raise ValueError(f"negative {n}")
    if n >= _MAX_TOKENS:
        raise ValueError(f"implausible {n}")
    return n


def _raw_count(v: Any) -> Any:
    if v is None:
        return 0
    return v if isinstance(v, int) and not isinstance(v, bool) else str(v)


def _start_ns(v: Any) -> int:
    """A span's start time in ns since the epoch, or ValueError when no timestamp can hold it."""
    if v is None or v == "":
        return 0
    if isinstance(v, bool):
        raise ValueError(f"start time {v!r} is not a number")
    try:
        n = int(v)
    except (TypeError, ValueError):
        raise ValueError(f"start time {v!r} is not a whole number of nanoseconds") from None
    if not 0 <= n <= _MAX_START_NS:
        raise ValueError(f"implausible start time {v!r} ns")
    return n


def _add_span(
    out: SpanBatch,
    get: Callable[[str], Any],
    resource_get: Callable[[str], Any],
    trace_id: str,
    span_id: str,
    raw_start: Any,
    is_error: bool,
) -> None:
    """Append one span's usage event to `out`, or nothing when the span carries no usage."""
    out.spans_seen += 1
    raw_in, raw_out = _first(get, _INPUT), _first(get, _OUTPUT)
    if raw_in is None and raw_out is None:
        if not (is_error and _failed_model_call(get)):
            return
        raw_in = raw_out = 0
    raw = [raw_in, raw_out, _first(get, _CACHE_READ), _first(get, _CACHE_WRITE), _first(get, _REASONING)]
    why = None  # why the span cannot be trusted (its token counts first, then its start time)
    try:
        inp, outp, cache_read, cache_write, reasoning = (_int(v) or 0 for v in raw)
    except ValueError as exc:
        why = f"bad token count ({exc})"
    try:
        start_ns = _start_ns(raw_start)
    except ValueError as exc:
        why, start_ns = why or str(exc), raw_start
    if why:
        out.rejected += 1
        out.errors.append(f"span {span_id or '?'} of trace {trace_id or '?'}: {why}")
        if not out.keep_bad:
            return
        # raw values, as text where not whole numbers, for ingest's validation to name
        inp, outp, cache_read, cache_write, reasoning = (_raw_count(v) for v in raw)
    elif inp < cache_read + cache_write:  # cache parts reported disjoint (Anthropic style): add them
        inp += cache_read + cache_write
    response_id = get("gen_ai.response.id")
    c = out.columns
    c["timestamp"].append(start_ns)
    c["agent"].append(_str(_first(get, _AGENT) or _first(resource_get, _AGENT)))
    c["api_key_id"].append(None)
    c["service_name"].append(_str(resource_get("service.name")))
    c["provider"].append(_str(_first(get, _PROVIDER)))
    c["model"].append(_str(_first(get, _MODEL)))
    c["input_tokens"].append(inp)
    c["output_tokens"].append(outp)
    c["cache_read_tokens"].append(cache_read)
    c["cache_write_tokens"].append(cache_write)
    c["reasoning_tokens"].append(reasoning)
    c["requests"].append(1)
    c["run_id"].append(trace_id or None)
    if response_id:
        c["request_id"].append(str(response_id))
    else:  # no ids: no key, so the store keys the span by its content
        c["request_id"].append(f"otel:{trace_id}:{span_id}" if span_id else None)
    c["status"].append("error" if is_error or get("error.type") else "ok")
    c["cost_usd"].append(None)


def _str(v: Any) -> str | None:
    return None if v is None else str(v)


# --- protobuf -------------------------------------------------------------------------------


def _pb_value(v) -> Any:
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    val = getattr(v, kind)
    if kind == "array_value":
        return [_pb_value(x) for x in val.values]
    if kind == "kvlist_value":
        return {kv.key: _pb_value(kv.value) for kv in val.values}
    return val


def decode_protobuf(body: bytes) -> SpanBatch:
    """Decode an OTLP ExportTraceServiceRequest (protobuf) into usage events (untrusted spans rejected)."""
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    req = ExportTraceServiceRequest()
    try:
        req.ParseFromString(body)
    except DecodeError as exc:
        raise IngestError(f"not a valid OTLP protobuf trace request ({exc})") from exc
    out = SpanBatch()
    for rs in req.resource_spans:
        res_attrs = {kv.key: kv.value for kv in rs.resource.attributes}

        def res_get(k, _a=res_attrs):
            v = _a.get(k)
            return None if v is None else _pb_value(v)

        for ss in rs.scope_spans:
            for span in ss.spans:
                attrs = {kv.key: kv.value for kv in span.attributes}

                def get(k, _a=attrs):
                    v = _a.get(k)
                    return None if v is None else _pb_value(v)

                ids = (span.trace_id.hex(), span.span_id.hex(), span.parent_span_id.hex())
                _take_span(out, attrs.keys(), get, res_get, ids, span.start_time_unix_nano,
                           span.status.code == _STATUS_ERROR)  # fmt: skip
    _resolve_nesting(out)
    return out


# --- JSON -----------------------------------------------------------------------------------


def _json_value(v: Any) -> Any:
    if not isinstance(v, dict):
        return v
    for key, val in v.items():
        if key in ("stringValue", "string_value", "boolValue", "bool_value", "doubleValue", "double_value"):
            return val
        if key in ("intValue", "int_value"):  # a decimal string; what is not one is left to _int
            try:
                return int(val) if isinstance(val, str | int) and not isinstance(val, bool) else val
            except ValueError:
                return val
        if key in ("arrayValue", "array_value"):
            return [_json_value(x) for x in (val or {}).get("values", [])]
        if key in ("kvlistValue", "kvlist_value"):
            return _json_attrs((val or {}).get("values", []))
        if key in ("bytesValue", "bytes_value"):
            return val
    return None


def _json_attrs(items: Any) -> dict:
    if not isinstance(items, list):
        raise ValueError("attributes must be a list")
    out = {}
    for kv in items:
        if not isinstance(kv, dict) or "key" not in kv:
            raise ValueError("attribute without a key")
        out[kv["key"]] = kv.get("value")
    return out


def _pick(d: dict, *names: str) -> Any:
    for n in names:
        if n in d:
            return d[n]
    return None


def _json_id(v: Any) -> str:
    """OTLP/JSON ids are hex strings; accept base64 too (protobuf JSON mapping)."""
    if not v:
        return ""
    s = str(v)
    if all(ch in "0123456789abcdefABCDEF" for ch in s):
        return s.lower()
    import base64
    import binascii

    try:
        return base64.b64decode(s, validate=True).hex()
    except (binascii.Error, ValueError):
        return s


def _status_is_error(status: Any) -> bool:
    if not isinstance(status, dict):
        return False
    code = status.get("code")
    return code == _STATUS_ERROR or code == "STATUS_CODE_ERROR" or code == "2"


def decode_json(doc: Any, keep_bad: bool = False) -> SpanBatch:
    """Decode an OTLP/JSON ExportTraceServiceRequest (already parsed) into usage events.

    Untrusted spans are rejected, or kept as rows of raw values with `keep_bad` (module docstring).
    """
    out = SpanBatch(keep_bad=keep_bad)
    _decode_json_into(out, doc)
    _resolve_nesting(out)
    return out


def _decode_json_into(out: SpanBatch, doc: Any) -> None:
    """Add one OTLP/JSON request's events to `out` (nesting is resolved by the caller)."""
    if not isinstance(doc, dict):
        raise IngestError("OTLP JSON body must be an object with resourceSpans")
    resource_spans = _pick(doc, "resourceSpans", "resource_spans")
    if resource_spans is None:
        raise IngestError("OTLP JSON body has no resourceSpans")
    try:
        for rs in resource_spans:
            resource = rs.get("resource") or {}
            res_attrs = _json_attrs(resource.get("attributes", []))

            def res_get(k, _a=res_attrs):
                return _json_value(_a.get(k))

            scopes = _pick(rs, "scopeSpans", "scope_spans", "instrumentationLibrarySpans") or []
            for ss in scopes:
                for span in ss.get("spans", []) or []:
                    attrs = _json_attrs(span.get("attributes", []))

                    def get(k, _a=attrs):
                        return _json_value(_a.get(k))

                    ids = (_json_id(_pick(span, "traceId", "trace_id")), _json_id(_pick(span, "spanId", "span_id")),
                           _json_id(_pick(span, "parentSpanId", "parent_span_id")))  # fmt: skip
                    _take_span(out, attrs.keys(), get, res_get, ids,
                               _pick(span, "startTimeUnixNano", "start_time_unix_nano"),
                               _status_is_error(span.get("status")))  # fmt: skip
    except (AttributeError, TypeError, ValueError) as exc:
        raise IngestError(f"malformed OTLP JSON trace request ({exc})") from exc


def decode_json_bytes(body: bytes) -> SpanBatch:
    """Parse and decode an OTLP/JSON request body."""
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IngestError(f"OTLP JSON body is not valid JSON ({exc})") from exc
    return decode_json(doc)


def read_otlp_json_file(path: str | Path) -> pa.Table:
    """Read a file of OTLP/JSON trace requests (one document, or one per line) into events.

    Untrusted spans are kept as rows of their raw values (the columns that cannot hold them as
    text), so that ingest quarantines them with a reason and keeps the spans around them.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise IngestError(f"{path}: cannot read file ({exc})") from exc
    batch = SpanBatch(keep_bad=True)
    try:
        docs = [json.loads(text)]
    except json.JSONDecodeError:
        docs = []
        for n, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    docs.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise IngestError(f"{path}: line {n} is not valid JSON ({exc.msg})") from exc
    for n, doc in enumerate(docs, start=1):
        for one in doc if isinstance(doc, list) else [doc]:
            try:
                _decode_json_into(batch, one)
            except IngestError as exc:
                where = f"document {n}: " if len(docs) > 1 else ""
                raise IngestError(f"{path}: {where}{exc}") from exc
    _resolve_nesting(batch)  # the file's spans as one request: a trace may span its documents
    for err in batch.errors[:3]:
        log.info("%s: untrusted span, left to quarantine: %s", path, err)
    return batch.to_table()
