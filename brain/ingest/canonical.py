"""Canonical JSONL / CSV / Parquet / Arrow sources: read with DuckDB, type and validate set-based.

Over 400 lines on purpose: the three readers and their tolerant fallbacks share one typed column
list and one validation expression per rule, which must stay identical across them.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import itertools
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from brain.errors import IngestError
from brain.ingest.formats import CANONICAL_FORMATS
from brain.store.database import CANONICAL_COLUMNS, TOKEN_COLUMNS

log = logging.getLogger(__name__)

FORMATS = CANONICAL_FORMATS
_EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
USAGE_EXTENSIONS = tuple(_EXTENSIONS)
_COMPRESSED = (".gz", ".zst", ".gzip")
CANONICAL_NAMES = tuple(name for name, _ in CANONICAL_COLUMNS)
_STATUS_OK = ("ok", "success", "succeeded", "200")
_STATUS_ERROR = ("error", "failed", "failure", "err")
# Rows more than this far ahead of the ingest clock cannot be trusted.
FUTURE_SLACK = "INTERVAL 1 DAY"


def detect_format(path: str, forced: str | None = None) -> str:
    """The canonical format of a path: `forced`, else from its extension (.gz/.zst allowed)."""
    if forced:
        if forced not in FORMATS:
            raise IngestError(f"unknown format {forced!r}; use one of {', '.join(FORMATS)}")
        return forced
    if path == "-":
        return "jsonl"
    fmt = _format_of_name(path)
    if fmt is None:
        raise IngestError(f"cannot tell the format of {path}; pass --format jsonl|csv|parquet")
    return fmt


def _format_of_name(path: str | Path) -> str | None:
    """The canonical format a file name's extension says, looking past a compression suffix."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    while suffixes and suffixes[-1] in _COMPRESSED:
        suffixes.pop()
    return _EXTENSIONS.get(suffixes[-1]) if suffixes else None


# How many leading bytes of a text file are checked for NUL bytes (the sign of a binary file).
_TEXT_CHECK_BYTES = 64 * 1024


def usage_files_in(folder: Path) -> list[Path]:
    """The usage files under a folder, sorted: every file with a known extension (compressed too),
    in sub-folders as well, skipping hidden files and folders (`.brain/`, `.git/`)."""
    found = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).parts
        if not any(part.startswith(".") for part in rel) and p.is_file() and _format_of_name(p):
            found.append(p)
    return found


def check_file(path: str) -> None:
    """Refuse a path that is not an existing file (a folder is expanded by `brain ingest`, not here)."""
    if Path(path).is_dir():
        raise IngestError(f"{path} is a folder: pass its files (`brain ingest` expands folders)")
    if not Path(path).exists():
        raise IngestError(f"no such file: {path}")


def check_text(path: str, fmt: str) -> None:
    """Refuse a JSONL/CSV file whose first bytes hold a NUL byte (a binary file given by mistake)."""
    if fmt not in ("jsonl", "csv") or path.lower().endswith(".zst"):
        return
    try:
        if path.lower().endswith((".gz", ".gzip")):
            with gzip.open(path, "rb") as fh:
                head = fh.read(_TEXT_CHECK_BYTES)
        else:
            with open(path, "rb") as fh:
                head = fh.read(_TEXT_CHECK_BYTES)
    except (OSError, EOFError) as exc:
        raise IngestError(f"cannot read {path}: {exc}") from exc
    at = head.find(b"\0")
    if at >= 0:
        raise IngestError(f"{path} is a binary file, not {fmt} text (a NUL byte at byte {at}); nothing read from it")


def ends_in_a_partial_line(path: str) -> bool:
    """True when an uncompressed JSONL file's last line is cut off (no newline, not valid JSON): a
    log copied while being written. Such a file goes straight to the line-exact reader instead of
    failing the typed read at its very end."""
    if path.lower().endswith(_COMPRESSED):
        return False
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - _TEXT_CHECK_BYTES))
            tail = fh.read()
    except OSError:
        return False
    if not tail.strip() or tail.endswith(b"\n"):
        return False
    last = tail.rsplit(b"\n", 1)[-1]
    try:
        json.loads(last)
    except ValueError:
        return True
    return False


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _source_columns(con: duckdb.DuckDBPyConnection, relation_sql: str) -> list[str]:
    return [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {relation_sql}").fetchall()]


# How the fast JSONL reader types each canonical field: the timestamp as TIMESTAMPTZ, every other
# field as text, numbers too (validation casts them, as for CSV): a DOUBLE column would take
# `true` as 1 and a JSON array as a failed read. A line that does not fit (malformed JSON, a
# timestamp that does not parse) fails the read, and the file is read again with the line-exact
# reader, which quarantines such lines.
_JSON_TYPES = {c: "TIMESTAMPTZ" if c == "timestamp" else "VARCHAR" for c in CANONICAL_NAMES}
_JSON_PRESENT = {c: c for c in CANONICAL_NAMES}
_INTEGER_TYPES = frozenset(("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
                            "UINTEGER", "UBIGINT", "UHUGEINT"))
_TIMESTAMP_TYPES = frozenset(("TIMESTAMP WITH TIME ZONE", "TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS",
                              "TIMESTAMP_NS", "DATE"))


def file_source(con: duckdb.DuckDBPyConnection, path: str, source: str, fmt: str) -> Source:
    """The Source of one usage file (`path` is read, `source` names it in the store): its raw
    canonical columns (raw values, NULL where absent) plus `_line`, and a line-numbered read.

    `_line` in `raw` is the 1-based row of a Parquet file and NULL for text formats: numbering
    lines makes the read single-threaded, so ingest numbers them (`lines`) only when it has rows
    to quarantine. Each file's schema (or CSV header) is read once, here.
    """
    lit = _lit(path)
    if fmt == "jsonl":  # the reader is told every column: nothing to look up (a file it cannot read fails the insert)
        raw = f"(SELECT {_picks(_JSON_PRESENT)}, NULL::BIGINT AS _line FROM {_json_reader(lit)})"
        return Source(source, fmt, raw, lines=jsonl_lines_relation(path), jsonl=path)
    if fmt == "csv":
        header = csv_header(path)
        if header is not None:  # the dialect is known: no sniffing (~15 ms a file), nothing to look up
            src, present = _csv_reader(lit, header), _present(header[1])
        else:
            src = _sniffed_csv_reader(lit)
            present = _columns(con, path, fmt, src)
        picks = _picks(present)
        return Source(source, fmt, f"(SELECT {picks}, NULL::BIGINT AS _line FROM {src})",
                      lines=f"(SELECT {picks}, row_number() OVER () + 1 AS _line FROM {src})", header=header)
    present = _columns(con, path, fmt, f"read_parquet({lit})")
    # a file with its own `file_row_number` column cannot get DuckDB's: no row numbers then
    src, line = (f"read_parquet({lit})", "NULL::BIGINT") if "file_row_number" in present else (
        f"read_parquet({lit}, file_row_number = true)", "file_row_number + 1")
    return Source(source, fmt, f"(SELECT {_picks(present)}, {line} AS _line FROM {src})")


def _columns(con: duckdb.DuckDBPyConnection, path: str, fmt: str, src: str) -> dict[str, str]:
    """A file's columns (lower-cased name -> name); IngestError when it cannot be read or has no timestamp."""
    try:
        present = _present(_source_columns(con, src))
    except duckdb.Error as exc:
        raise IngestError(f"cannot read {path} as {fmt}: {_first_line(exc)}") from exc
    if "timestamp" not in present:
        raise IngestError(f"{path} has no 'timestamp' column; canonical usage rows carry timestamp, provider, model, input_tokens and output_tokens (docs/usage.md)")
    return present


# Delimiters a canonical CSV header is split by, when it is plain enough to read without sniffing.
_CSV_DELIMITERS = (",", ";", "\t", "|")


def csv_header(path: str) -> tuple[str, tuple[str, ...]] | None:
    """The delimiter and column names of a CSV file's header line, when it is plainly one (UTF-8,
    a known delimiter, distinct names, `timestamp` among them) and the rows after it escape no
    quote with a backslash (read with RFC 4180 quoting); None leaves the file to DuckDB's dialect
    sniffer."""
    low = path.lower()
    if low.endswith(".zst"):
        return None
    opener = gzip.open if low.endswith((".gz", ".gzip")) else open
    try:
        with opener(path, "rt", encoding="utf-8", newline="") as fh:
            line, sample = fh.readline(_TEXT_CHECK_BYTES), fh.read(_TEXT_CHECK_BYTES)
    except (OSError, EOFError, UnicodeDecodeError):
        return None
    if '\\"' in sample:
        return None
    line = line.removeprefix("\ufeff").rstrip("\r\n")  # a byte order mark is not part of the first name
    delim = max(_CSV_DELIMITERS, key=line.count)
    if not line.count(delim) or not line.isprintable() and "\t" not in line:
        return None
    names = tuple(next(csv.reader([line], delimiter=delim)))
    lowered = [n.lower() for n in names]
    if "timestamp" not in lowered or len(set(lowered)) != len(names) or any(not n or n != n.strip() for n in names):
        return None
    return delim, names


def _csv_reader(files: str, header: tuple[str, tuple[str, ...]], *options: str) -> str:
    """read_csv of `files` with a known header (every column as text), without sniffing."""
    delim, names = header
    cols = "{" + ", ".join(f"{_lit(n)}: 'VARCHAR'" for n in names) + "}"
    args = [files, "header = true", f"delim = {_lit(delim)}", "quote = '\"'", "escape = '\"'",
            "auto_detect = false", f"columns = {cols}", *options]
    return f"read_csv({', '.join(args)})"


def _sniffed_csv_reader(files: str, *options: str) -> str:
    """read_csv of `files` with a header whose dialect DuckDB sniffs (every column as text)."""
    return f"read_csv({', '.join((files, 'header = true', 'all_varchar = true', *options))})"


def _present(names: Sequence[str]) -> dict[str, str]:
    """A source's columns by lower-cased name."""
    return {n.lower(): n for n in names}


def _picks(present: dict[str, str]) -> str:
    """The canonical columns from a source's columns (lower-cased name -> name), NULL where absent."""
    return ", ".join(f"{_q(present[c])} AS {_q(c)}" if c in present else f"NULL AS {_q(c)}" for c in CANONICAL_NAMES)


def _json_reader(files: str, *options: str) -> str:
    """The typed, parallel JSONL reader of `files` (an SQL string or list literal)."""
    cols = "{" + ", ".join(f"{_lit(c)}: {_lit(t)}" for c, t in _JSON_TYPES.items()) + "}"
    args = [files, "format = 'newline_delimited'", f"columns = {cols}", *options]
    return f"read_json({', '.join(args)})"


def line_reader(path: str) -> str:
    """Each line of a text file as one VARCHAR `_text` (JSONL read as a CSV of one column)."""
    return (
        f"read_csv({_lit(path)}, columns = {{'_text': 'VARCHAR'}}, header = false, "
        "delim = chr(31), quote = '', escape = '', auto_detect = false, strict_mode = false)"
    )


# The reason of a JSONL line that is valid JSON but not an object (an array, a number, a string).
NOT_AN_OBJECT = "not a JSON object (one event per line)"


def jsonl_lines_relation(path: str, numbered: bool = True) -> str:
    """A slower, line-exact JSONL reader that keeps malformed lines (to quarantine them).

    `_line_text` is each line as written: a quarantined line is kept verbatim, not re-serialised.
    With `numbered=False` `_line` is NULL and the read runs in parallel (numbering lines takes a
    window over the whole file, single-threaded and holding every line).
    """
    # every field in one parse of the line (one `->>` per field parses it 16 times: ~8x slower)
    paths = "[" + ", ".join(_lit('$."' + c + '"') for c in CANONICAL_NAMES) + "]"
    fields = ", ".join(f"_v[{i}] AS {_q(c)}" for i, c in enumerate(CANONICAL_NAMES, start=1))
    line = "row_number() OVER ()" if numbered else "NULL::BIGINT"
    return (
        f"(SELECT {fields}, _line, CASE WHEN NOT _ok THEN 'malformed JSON line' "
        f"WHEN NOT starts_with(ltrim(_text), '{{') THEN {_lit(NOT_AN_OBJECT)} END AS _malformed, "
        f"_text AS _line_text FROM ("
        f"SELECT _text, _line, _ok, CASE WHEN _ok THEN json_extract_string(_text, {paths}) END AS _v FROM ("
        f"SELECT _text, {line} AS _line, coalesce(json_valid(_text), false) AS _ok "
        f"FROM {line_reader(path)})) WHERE trim(_text) <> '')"
    )


def jsonl_line_hashes(path: str) -> str:
    """`_line` and `_h` = hash of the line's text for every line of a file: the window holds 16 bytes
    a line, not the text, so numbering a large file stays cheap."""
    return f"(SELECT row_number() OVER () AS _line, hash(_text) AS _h FROM {line_reader(path)})"


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def relation_types(con: duckdb.DuckDBPyConnection, relation_sql: str) -> dict[str, str]:
    """Column name -> DuckDB type of a relation (for `validated_select`)."""
    return {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {relation_sql}").fetchall()}


def validated_select(
    raw: str,
    now_sql: str = "now()",
    malformed: bool = False,
    types: dict[str, str] | None = None,
    keep: tuple[str, ...] = (),
) -> str:
    """Typed canonical columns, `event_id`, `_line`, `_bad`, `_reason` and `_raw` JSON.

    `_bad` is true for a row that cannot be trusted; `_reason` (NULL when trusted) and `_raw` say
    why and what it held. Select the columns you need: the reason text is only computed when read.
    The typed columns of an untrusted row hold what could be read (NULL where a value does not fit).
    `event_id` is a content hash for rows without a `request_id` and NULL otherwise (the request
    id is then the key; see `EVENT_KEY_SQL`). `types` (from `relation_types`) drops the checks a
    column's type already rules out: a BIGINT column is numeric and whole, a TIMESTAMPTZ parsed.
    `keep` names columns of `raw` passed through as they are (a batch's `_file`).
    """
    types = types or {}
    numeric = {c for c, t in types.items() if t in _INTEGER_TYPES or t in ("DOUBLE", "FLOAT") or t.startswith("DECIMAL")}
    whole = {c for c, t in types.items() if t in _INTEGER_TYPES}
    d = {c: f"{_q(c)}::DOUBLE" if c in numeric else f"TRY_CAST({_q(c)} AS DOUBLE)"
         for c in (*TOKEN_COLUMNS, "requests", "cost_usd")}
    ts_typed = types.get("timestamp") in _TIMESTAMP_TYPES
    checks = [
        ('"timestamp" IS NULL', "missing timestamp"),
        *([] if ts_typed else [("_ts IS NULL AND \"timestamp\" IS NOT NULL", "unparseable timestamp")]),
        (f"_ts > {now_sql} + {FUTURE_SLACK}", "timestamp in the future"),
        ("_ts < TIMESTAMPTZ '2000-01-01 00:00:00+00'", "timestamp before 2000"),
        ("nullif(trim(model::VARCHAR), '') IS NULL", "missing model"),
    ]
    for c in (*TOKEN_COLUMNS, "requests"):
        checks += [
            *([] if c in numeric else [(f"{_q(c)} IS NOT NULL AND _d_{c} IS NULL", f"non-numeric {c}")]),
            (f"_d_{c} < 0", f"negative {c}"),
            *([] if c in whole else [(f"_d_{c} <> trunc(_d_{c})", f"non-integer {c}")]),
            (f"_d_{c} >= 1e15", f"implausible {c}"),
        ]
    checks += [
        ("_d_requests = 0", "requests must be at least 1"),
        (  # parts against totals only when none is negative (that is its own reason)
            "coalesce(_d_cache_read_tokens, 0) + coalesce(_d_cache_write_tokens, 0) > coalesce(_d_input_tokens, 0)"
            " AND least(_d_input_tokens, _d_cache_read_tokens, _d_cache_write_tokens) >= 0",
            "cache tokens exceed input_tokens",
        ),
        ("coalesce(_d_reasoning_tokens, 0) > coalesce(_d_output_tokens, 0) AND least(_d_output_tokens, "
         "_d_reasoning_tokens) >= 0", "reasoning_tokens exceed output_tokens"),
        ("_status IS NULL", "unknown status"),
        ("cost_usd IS NOT NULL AND (_d_cost_usd IS NULL OR _d_cost_usd < 0 OR isinf(_d_cost_usd) "
         "OR isnan(_d_cost_usd))", "invalid cost_usd"),
    ]
    reason = "nullif(concat_ws('; ', " + ", ".join(f"CASE WHEN {c} THEN {_lit(r)} END" for c, r in checks) + "), '')"
    bad = "coalesce(" + " OR ".join(f"({c})" for c, _ in checks) + ", false)"
    if malformed:
        reason = f"CASE WHEN _malformed IS NOT NULL THEN _malformed ELSE {reason} END"
        bad = f"(_malformed IS NOT NULL OR {bad})"
    status_sql = (  # the canonical values first: most rows stop there
        "CASE WHEN status::VARCHAR = 'ok' THEN 'ok' WHEN status::VARCHAR = 'error' THEN 'error' "
        "WHEN status IS NULL OR trim(status::VARCHAR) = '' THEN 'ok' "
        f"WHEN lower(trim(status::VARCHAR)) IN ({', '.join(map(_lit, _STATUS_OK))}) THEN 'ok' "
        f"WHEN lower(trim(status::VARCHAR)) IN ({', '.join(map(_lit, _STATUS_ERROR))}) THEN 'error' END"
    )
    text = {c: f"nullif(trim({_q(c)}::VARCHAR), '')" for c in CANONICAL_NAMES}
    typed = [
        '_ts AS "timestamp"',
        *(f"{text[c]} AS {c}" for c in ("agent", "api_key_id", "service_name")),
        # one provider whatever the case a source writes it in (`Anthropic`, `anthropic`); the
        # content hash below keeps the text as given, so event ids of stored rows do not change
        f"lower({text['provider']}) AS provider",
        f"{text['model']} AS model",
        *(f"TRY_CAST(coalesce(_d_{c}, 0) AS BIGINT) AS {c}" for c in TOKEN_COLUMNS),
        "TRY_CAST(coalesce(_d_requests, 1) AS BIGINT) AS requests",
        f"{text['run_id']} AS run_id",
        f"{text['request_id']} AS request_id",
        "_status AS status",
        "_d_cost_usd AS cost_usd",
    ]
    hashed = "concat_ws('|', " + ", ".join(
        ["strftime(_ts, '%Y-%m-%dT%H:%M:%S.%f')"]
        + [f"coalesce({text[c]}, '')" for c in ("agent", "api_key_id", "service_name", "provider", "model")]
        + [f"coalesce(_d_{c}, 0)::BIGINT::VARCHAR" for c in TOKEN_COLUMNS]
        + ["coalesce(_d_requests, 1)::BIGINT::VARCHAR", f"coalesce({text['run_id']}, '')", "_status",
           "coalesce(_d_cost_usd::VARCHAR, '')"]
    ) + ")"
    raw_json = "to_json({" + ", ".join(f"{_lit(c)}: {_q(c)}" for c in CANONICAL_NAMES) + "})::VARCHAR"
    if malformed:
        raw_json = "_line_text"
    casts = ", ".join(f"{d[c]} AS _d_{c}" for c in d)
    ts = '"timestamp"::TIMESTAMPTZ' if ts_typed else 'TRY_CAST("timestamp" AS TIMESTAMPTZ)'
    return f"""
    SELECT {", ".join(typed)},
      CASE WHEN NOT _bad AND {text['request_id']} IS NULL THEN 'h:' || md5({hashed}) END AS event_id,
      _line, _bad, _reason, CASE WHEN _reason IS NOT NULL THEN {raw_json} END AS _raw{"".join(", " + _q(k) for k in keep)}
    FROM (
      SELECT *, {bad} AS _bad, {reason} AS _reason FROM (
        SELECT *, {ts} AS _ts, {casts}, {status_sql} AS _status
        FROM {raw}
      )
    )"""


@dataclass(frozen=True)
class Source:
    """One source of an ingest: `raw` is SQL for its raw canonical columns plus `_line`.

    `lines` is SQL for the same rows with line numbers (default: `raw`); text files are read
    without them, as numbering lines makes the read single-threaded. `jsonl` is the path of a
    JSONL file: its line-exact reader is the fallback, and its quarantine is found by line text.
    A batch (`batches.batch`) reads the files of its `parts` (one-file sources) in one statement; its
    rows carry their file in `_file`.
    """

    source: str
    format: str
    raw: str
    malformed: bool = False  # `raw` is the line-exact JSONL reader (with `_malformed`)
    bucketed: bool = False
    lines: str | None = None  # for JSONL, its line-exact reader
    jsonl: str | None = None
    parts: tuple[Source, ...] = ()
    rejects: str | None = None  # a tolerant CSV read: the prefix of its temp tables (`tolerant_csv`)
    header: tuple[str, tuple[str, ...]] | None = None  # a CSV file's plain header (`csv_header`)

    @property
    def singles(self) -> tuple[Source, ...]:
        """The one-file sources this source reads: its parts, or itself."""
        return self.parts or (self,)

    @property
    def files(self) -> tuple[str, ...]:
        """The source names of the files this source reads (its own name, or its parts')."""
        return tuple(p.source for p in self.singles)

    def numbered(self) -> str:
        """`validated_select` of the rows with their line numbers."""
        if self.lines is None:
            return validated_select(self.raw, malformed=self.malformed)
        return validated_select(self.lines, malformed=self.jsonl is not None)

    def line_by_line(self) -> Source | None:
        """This JSONL source read with its (parallel) line-exact reader, when not read so already."""
        if self.jsonl is None or self.malformed:
            return None
        return dataclasses.replace(self, raw=jsonl_lines_relation(self.jsonl, numbered=False), malformed=True)

    def tolerant(self, con: duckdb.DuckDBPyConnection) -> Source | None:
        """This source read past what its reader could not parse, when it was not already: JSONL
        line by line, a CSV file skipping its broken rows (`tolerant_csv`); else None."""
        if self.jsonl is not None:
            return self.line_by_line()
        if self.format == "csv" and self.rejects is None and not self.parts and Path(self.source).is_absolute():
            return tolerant_csv(con, self)
        return None


_TOLERANT_READS = itertools.count(1)


def tolerant_csv(con: duckdb.DuckDBPyConnection, s: Source) -> Source | None:
    """A CSV file read past its broken rows (wrong number of fields, an unterminated quote, bad
    UTF-8): DuckDB skips them into the temp tables `<rejects>_e`/`_s`, which the ingest quarantines
    (`quarantine.record_rejected_csv`). Its line-numbered read does not count the skipped lines:
    the quarantine adds them back (`<rejects>_shift`) to the few rows it records."""
    t = f"_csv_rejects_{next(_TOLERANT_READS)}"
    lit, header = _lit(s.source), s.header
    store = ("store_rejects = true", f"rejects_table = '{t}_e'", f"rejects_scan = '{t}_s'")

    def read(*options: str) -> str:
        if header is not None:
            return _csv_reader(lit, header, "ignore_errors = true", *options)
        return _sniffed_csv_reader(lit, "ignore_errors = true", *options)

    try:
        present = _present(header[1] if header else _source_columns(con, read()))
    except duckdb.Error:
        return None
    if "timestamp" not in present:
        return None
    picks = _picks(present)
    numbered = f"(SELECT {picks}, row_number() OVER () + 1 AS _line FROM {read()})"  # skipped lines not counted
    raw = f"(SELECT {picks}, NULL::BIGINT AS _line FROM {read(*store)})"
    return dataclasses.replace(s, raw=raw, lines=numbered, rejects=t)
