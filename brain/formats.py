"""The names of the usage file formats `brain ingest` reads: names only, so that the CLI can offer
them without importing the readers (pricing, pyarrow: ~0.2 s of every command)."""

# Files in the canonical fields (DESIGN.md), by extension or `--format`.
CANONICAL_FORMATS = ("jsonl", "csv", "parquet")
# Formats whose rows are usage events (read_source) and those that are provider cost reports.
USAGE_FORMATS = ("otlp_json", "openai_usage", "anthropic_usage", "litellm")
COST_FORMATS = ("openai_costs", "anthropic_costs")
# Usage formats whose rows are provider-side buckets keyed by (bucket start, grouping): a later
# export of the same bucket replaces the stored one (ingest_table(..., bucketed=True)).
BUCKETED_FORMATS = frozenset({"openai_usage", "anthropic_usage"})
