"""Which format a usage file is in, and how to read a non-canonical one into canonical events."""

from __future__ import annotations

import importlib
import json
import logging
from pathlib import Path

import pyarrow as pa

from brain.errors import IngestError
from brain.ingest.formats import BUCKETED_FORMATS, COST_FORMATS, SOURCES, USAGE_FORMATS

log = logging.getLogger(__name__)

_SNIFF_BYTES = 256 * 1024

def _sniff_json(path: Path) -> object | None:
    """The first JSON document of a file (whole file, first array item or first line), or None."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(_SNIFF_BYTES)
    except OSError as exc:
        raise IngestError(f"{path}: cannot read file: {exc.strerror or exc}") from exc
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff").strip()
    if not text or text[0] not in "{[":
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    first_line = text.split("\n", 1)[0].strip()
    try:
        return json.loads(first_line)
    except json.JSONDecodeError:
        pass
    if text[0] == "[":  # a large array cut by the sniff window: decode its first item
        try:
            obj, _ = json.JSONDecoder().raw_decode(text[1:].lstrip())
            return [obj]
        except json.JSONDecodeError:
            return None
    return None


def _first_result(doc: object) -> dict | None:
    """The first usage/cost result object of an OpenAI/Anthropic report page or bucket."""
    if isinstance(doc, list):
        doc = doc[0] if doc else None
    if not isinstance(doc, dict):
        return None
    data = doc.get("data")
    buckets = data if isinstance(data, list) else [doc]
    for b in buckets:
        if isinstance(b, dict) and isinstance(b.get("results"), list) and b["results"]:
            first = b["results"][0]
            return first if isinstance(first, dict) else None
    return None


def _format_of_json(doc: object) -> str | None:
    first = doc[0] if isinstance(doc, list) and doc else doc
    if not isinstance(first, dict):
        return None
    if "resourceSpans" in first or "resource_spans" in first:
        return "otlp_json"
    result = _first_result(first)
    if result is not None:
        obj = str(result.get("object", ""))
        if obj.startswith("organization.usage.completions") or "num_model_requests" in result:
            return "openai_usage"
        if obj.startswith("organization.costs") or (
            isinstance(result.get("amount"), dict) and "line_item" in result
        ):
            return "openai_costs"
        if "uncached_input_tokens" in result or "cache_read_input_tokens" in result:
            return "anthropic_usage"
        if isinstance(result.get("amount"), str) and "currency" in result:
            return "anthropic_costs"
        return None
    if isinstance(first.get("data"), list):  # a page of buckets that are all empty
        bucket = first["data"][0] if first["data"] else {}
        if isinstance(bucket, dict) and bucket.get("object") == "bucket":
            return "openai_usage" if "start_time" in bucket else None
        if isinstance(bucket, dict) and "starting_at" in bucket:
            return "anthropic_usage"
        return None
    if "request_id" in first and ("spend" in first or "prompt_tokens" in first) and "startTime" in first:
        return "litellm"
    return None


def _csv_header(path: Path) -> list[str]:
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as fh:
            line = fh.readline()
    except OSError as exc:
        raise IngestError(f"{path}: cannot read file: {exc.strerror or exc}") from exc
    return [c.strip().strip('"').strip() for c in line.strip().split(",")]


def detect_format(path: str | Path) -> str | None:
    """Name the non-canonical format of a usage file, or None (canonical or unknown)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".json", ".jsonl", ".ndjson"):
        doc = _sniff_json(path)
        return _format_of_json(doc) if doc is not None else None
    if suffix == ".csv":
        header = set(_csv_header(path))
        if {"request_id", "startTime"} <= header and ({"spend", "prompt_tokens"} & header):
            return "litellm"
    return None


def _reader(fmt: str, kind: str, path: Path):
    """The registered reader of `fmt` (brain.ingest.formats.SOURCES), imported on first use."""
    source = SOURCES.get(fmt)
    if source is None:
        raise IngestError(f"{path}: unknown format {fmt!r}; known: {', '.join(USAGE_FORMATS + COST_FORMATS)}")
    if source.kind != kind:
        if kind == "usage":
            raise IngestError(
                f"{path}: is a {fmt.replace('_', ' ')} report, not usage events; "
                "it is imported as provider-reported cost (see ingest_source)"
            )
        raise IngestError(f"{path}: {fmt!r} is not a cost report format")
    module, _, function = source.reader.partition(":")
    return getattr(importlib.import_module(module), function)


def read_source(path: str | Path, fmt: str) -> pa.Table:
    """Read a file of a non-canonical usage format into canonical events (CANONICAL_SCHEMA)."""
    path = Path(path)
    if not path.is_file():
        raise IngestError(f"{path}: no such file")
    return _reader(fmt, "usage", path)(path)


def read_cost_source(path: str | Path, fmt: str) -> pa.Table:
    """Read a provider cost report (OpenAI costs, Anthropic cost report) into provider cost rows."""
    path = Path(path)
    if not path.is_file():
        raise IngestError(f"{path}: no such file")
    return _reader(fmt, "cost", path)(path)


def ingest_source(store, path: str | Path, fmt: str):
    """Ingest a non-canonical file: usage formats through ingest_table, cost reports into provider_costs."""
    path = Path(path)
    if fmt in COST_FORMATS:
        from brain.ingest.sources.provider_costs import import_provider_costs

        return import_provider_costs(store, read_cost_source(path, fmt), source=str(path))
    from brain.ingest import ingest_table

    return ingest_table(store, read_source(path, fmt), source=str(path), bucketed=fmt in BUCKETED_FORMATS)
