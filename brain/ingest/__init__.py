"""Usage in: read -> validate -> quarantine -> dedupe -> insert -> rollups, bulk and atomic.

pipeline (ingest_files, ingest_table) · canonical (the canonical JSONL/CSV/Parquet reader and its
validation) · batches, dedupe, quarantine, rollups, overlap · formats (the registry of source
formats) · detect (which format a file is in) · conform (the canonical Arrow schema adapters hand
over) · sources/ (one module per non-canonical format).
"""

from brain.ingest.pipeline import (
    FileReport,
    IngestReport,
    ingest_files,
    ingest_table,
    overlapping_sources,
)

__all__ = ["FileReport", "IngestReport", "ingest_files", "ingest_table", "overlapping_sources"]
