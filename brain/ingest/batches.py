"""Many usage files of one format read in one statement: a folder of small logs costs about what
one file of the same events does."""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb

from brain.ingest.canonical import (
    _JSON_PRESENT,
    FORMATS,
    Source,
    _csv_reader,
    _first_line,
    _json_reader,
    _lit,
    _picks,
    _present,
    _sniffed_csv_reader,
    _source_columns,
)

log = logging.getLogger(__name__)

# At most this many files are read in one statement (the file list is part of its SQL).
BATCH_MAX_FILES = 2000


def _batchable(s: Source) -> bool:
    """A file read whole by a typed reader (not stdin, not the line-exact reader, not an export)."""
    return s.format in FORMATS and not (s.malformed or s.bucketed or s.parts) and Path(s.source).is_absolute()


def batched(con: duckdb.DuckDBPyConnection, sources: list[Source]) -> list[Source]:
    """`sources` with the files of each format merged into batches, each where its first file was.

    A folder of small logs is then one planned read per format instead of one per file (2,000
    JSONL files: a statement each took ~15 ms, most of the time). CSV files are batched by header
    (`csv_header`), so that a batch needs no dialect sniffing. Files a batch cannot read together
    stay single.
    """
    groups: list[list[Source]] = []
    open_group: dict[tuple, list[Source]] = {}
    for s in sources:
        key = (s.format, s.header)
        group = open_group.get(key) if _batchable(s) else None
        if group is None or len(group) >= BATCH_MAX_FILES:
            group = []
            groups.append(group)
            if _batchable(s):
                open_group[key] = group
        group.append(s)
    out: list[Source] = []
    for group in groups:
        merged = batch(con, group) if len(group) > 1 else None
        out += [merged] if merged else group
    return out


def batch(con: duckdb.DuckDBPyConnection, parts: list[Source]) -> Source | None:
    """One source reading the files of `parts` (one format; CSV: one header) together, by column
    name; None when their columns do not fit together (each is then read on its own)."""
    if len(parts) == 1:
        return parts[0]
    fmt, named = parts[0].format, "filename = '_file'"
    files = "[" + ", ".join(_lit(p.source) for p in parts) + "]"
    line, header = "NULL::BIGINT", parts[0].header
    if fmt == "jsonl":
        src, present = _json_reader(files, named), _JSON_PRESENT
    elif header is not None:
        src, present = _csv_reader(files, header, named), _present(header[1])
    else:
        if fmt == "parquet":
            src = f"read_parquet({files}, union_by_name = true, file_row_number = true, {named})"
            line = "file_row_number + 1"
        else:
            src = _sniffed_csv_reader(files, "union_by_name = true", named)
        try:
            present = _present(_source_columns(con, src))
        except duckdb.Error as exc:
            log.info("reading %d %s files one by one: %s", len(parts), fmt, _first_line(exc))
            return None
    raw = f"(SELECT {_picks(present)}, {line} AS _line, _file FROM {src})"
    return Source(f"{len(parts)} {fmt} files", fmt, raw, parts=tuple(parts))


def split(con: duckdb.DuckDBPyConnection, s: Source, exc: BaseException) -> list[Source]:
    """A batch that failed to read, split: the file the error names on its own after the others
    (still a batch), or every file on its own when the error names none."""
    named = [p for p in s.parts if f'"{p.source}"' in str(exc)]
    if not named:
        return list(s.parts)
    rest = [p for p in s.parts if p is not named[0]]
    merged = batch(con, rest)
    return [merged, named[0]] if merged else [*rest, named[0]]
