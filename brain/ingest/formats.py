"""The registry of usage file formats `brain ingest` reads: each non-canonical format is one entry
naming its reader as "module:function" (imported on first use), so the CLI can offer the names
without importing the readers (pricing, pyarrow: ~0.2 s of every command), and a new format is a
new entry and a module in brain/ingest/sources/."""

from __future__ import annotations

from typing import NamedTuple


class SourceFormat(NamedTuple):
    """A registered format: its reader, whether its rows are usage or provider cost, and whether
    its usage rows are provider-side buckets (a later export of a bucket replaces the stored one)."""

    reader: str
    kind: str = "usage"
    bucketed: bool = False


SOURCES = {
    "otlp_json": SourceFormat("brain.ingest.sources.otlp:read_otlp_json_file"),
    "openai_usage": SourceFormat("brain.ingest.sources.openai_export:read_openai_usage", bucketed=True),
    "anthropic_usage": SourceFormat("brain.ingest.sources.anthropic_export:read_anthropic_usage", bucketed=True),
    "litellm": SourceFormat("brain.ingest.sources.litellm:read_litellm_spend_logs"),
    "openai_costs": SourceFormat("brain.ingest.sources.openai_export:read_openai_costs", kind="cost"),
    "anthropic_costs": SourceFormat("brain.ingest.sources.anthropic_export:read_anthropic_costs", kind="cost"),
}

# Files in the canonical fields (DESIGN.md), by extension or `--format`: read by brain.ingest.canonical.
CANONICAL_FORMATS = ("jsonl", "csv", "parquet")
# Formats whose rows are usage events (read_source) and those that are provider cost reports.
USAGE_FORMATS = tuple(name for name, s in SOURCES.items() if s.kind == "usage")
COST_FORMATS = tuple(name for name, s in SOURCES.items() if s.kind == "cost")
# Usage formats whose rows are provider-side buckets keyed by (bucket start, grouping): a later
# export of the same bucket replaces the stored one (ingest_table(..., bucketed=True)).
BUCKETED_FORMATS = frozenset(name for name, s in SOURCES.items() if s.bucketed)
