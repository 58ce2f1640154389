"""Usage in: read -> validate -> quarantine -> dedupe -> insert -> rollups, bulk and atomic.

pipeline (ingest_files, ingest_table) · canonical (the canonical JSONL/CSV/Parquet reader and its
validation) · batches, dedupe, quarantine, rollups, overlap · formats (the registry of source
formats) · detect (which format a file is in) · conform (the canonical Arrow schema adapters hand
over) · paths (folders and files as `brain ingest` takes them) · sources/ (one module per
non-canonical format).

Re-exported lazily: the CLI reads `brain.ingest.formats` to build its parser and must not load the
pipeline (DuckDB, pyarrow, genai-prices: ~0.3 s) to do so.
"""

from typing import TYPE_CHECKING

from brain.exports import lazy

if TYPE_CHECKING:
    from brain.ingest.pipeline import FileReport as FileReport
    from brain.ingest.pipeline import IngestReport as IngestReport
    from brain.ingest.pipeline import ingest_files as ingest_files
    from brain.ingest.pipeline import ingest_table as ingest_table
    from brain.ingest.pipeline import overlapping_sources as overlapping_sources

__all__ = ["FileReport", "IngestReport", "ingest_files", "ingest_table", "overlapping_sources"]

__getattr__ = lazy(__name__, dict.fromkeys(__all__, "brain.ingest.pipeline"))
