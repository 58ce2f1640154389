"""Where things live in an event lake and in a rollups folder, shared by the writer, both rollup
engines and the catalog that reads rollups (docs/lake.md, "Layout").

```
LAKE/date=YYYY-MM-DD/batch-<id>.parquet     validated events of one batch on one UTC day
LAKE/_quarantine/batch-<id>.parquet          the rows of that batch that were not trusted, with the reason
ROLLUPS/hourly/date=YYYY-MM-DD/*.parquet     rollup_hourly rows of that day
ROLLUPS/daily/date=YYYY-MM-DD/*.parquet      rollup_daily rows of that day
ROLLUPS/_prices/price_table/*.parquet        the price table the rollups were priced with (append-only)
ROLLUPS/_prices/price_models/*.parquet       how each (provider, model) is priced (price notes read it)
ROLLUPS/_manifest.json                       per day: the fingerprint of the lake files rolled up
```

A batch's id is a hash of its content, so writing a batch again finds its files in place and
writes nothing. Paths are local folders or object-store URLs (`s3://`, `gs://`, ...), reached
through pyarrow's filesystem layer.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from brain.errors import BrainError
from brain.store.database import CANONICAL_COLUMNS

# The lake's event columns: the canonical ones as validated, then what ingest adds (the content
# hash of a row without a request id, the provider-bucket flag, the estimate at write time, where
# the row came from) and the batch it was written in, with the time of that write (dedupe keeps
# the earliest written copy of an id: the store's "first wins").
LAKE_COLUMNS: tuple[tuple[str, str], ...] = (
    *CANONICAL_COLUMNS,
    ("event_id", "VARCHAR"),
    ("bucketed", "BOOLEAN"),
    ("cost_est_usd", "DOUBLE"),
    ("source_file", "VARCHAR"),
    ("source_line", "BIGINT"),
    ("batch", "VARCHAR"),
    ("written_at", "TIMESTAMPTZ"),
)
PARTITION = "date"
BATCH_PREFIX = "batch-"
QUARANTINE = "_quarantine"
ROLLUP_FOLDERS = {"rollup_hourly": "hourly", "rollup_daily": "daily"}
PRICES = "_prices"
PRICE_TABLES = ("price_table", "price_models")
MANIFEST = "_manifest.json"
_DAY_FOLDER = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")


class LakeError(BrainError):
    """An event lake or rollups folder that cannot be used: missing, unreadable, or not one."""


@dataclass(frozen=True)
class LakeFile:
    """One Parquet file of a lake day: its path (as the filesystem names it) and size in bytes."""

    path: str
    size: int


def is_url(location: str) -> bool:
    """Whether a location is an object-store URL (`s3://bucket/x`) rather than a local folder."""
    return "://" in location and not location.startswith("file://")


def filesystem(location: str):
    """The pyarrow filesystem of a location and the path on it (local folders made absolute)."""
    from pyarrow import fs as pafs

    if is_url(location):
        try:
            return pafs.FileSystem.from_uri(location)
        except Exception as exc:  # pyarrow raises ArrowInvalid/OSError with its own text
            raise LakeError(f"cannot open {location}: {str(exc).strip().splitlines()[0]}") from exc
    local = location.removeprefix("file://")
    return pafs.LocalFileSystem(), str(Path(local).expanduser().resolve())


def exists(fs, path: str) -> bool:
    """Whether `path` is a folder on `fs` (an object store's prefix with objects under it counts)."""
    from pyarrow import fs as pafs

    info = fs.get_file_info(path)
    if info.type == pafs.FileType.Directory:
        return True
    if info.type == pafs.FileType.NotFound and not isinstance(fs, pafs.LocalFileSystem):
        return bool(fs.get_file_info(pafs.FileSelector(path, allow_not_found=True)))
    return False


def lake_days(location: str) -> dict[str, list[LakeFile]]:
    """The lake's Parquet files by UTC day (`date=YYYY-MM-DD/`), sorted; LakeError when the lake
    does not exist. Hidden (`.`) and underscore files and folders are not events."""
    from pyarrow import fs as pafs

    fs, root = filesystem(location)
    if not exists(fs, root):
        raise LakeError(f"event lake {location} does not exist; write events to it first (`brain lake write {location} FILES...`)")
    days: dict[str, list[LakeFile]] = {}
    for info in fs.get_file_info(pafs.FileSelector(root, recursive=True)):
        if info.type != pafs.FileType.File:
            continue
        rel = info.path[len(root):].lstrip("/").split("/")
        if len(rel) != 2 or not rel[1].endswith(".parquet") or rel[1].startswith((".", "_")):
            continue
        day = _DAY_FOLDER.match(rel[0])
        if day:
            days.setdefault(day.group(1), []).append(LakeFile(info.path, int(info.size or 0)))
    return {d: sorted(fs_, key=lambda f: f.path) for d, fs_ in sorted(days.items())}


def fingerprint(files: list[LakeFile]) -> str:
    """What a day's rollups were built from: its files' names and sizes (a batch's name is the hash
    of its content, so a name and size stand for the bytes), the same for either engine."""
    lines = sorted(f"{f.path.rsplit('/', 1)[-1]}\t{f.size}" for f in files)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:32]


def read_manifest(fs, root: str) -> dict[str, str]:
    """Day -> fingerprint of the lake files its rollups were built from (empty before the first run)."""
    from pyarrow import fs as pafs

    path = f"{root}/{MANIFEST}"
    if fs.get_file_info(path).type != pafs.FileType.File:
        return {}
    with fs.open_input_stream(path) as f:
        doc = json.loads(f.read().decode("utf-8"))
    return dict(doc.get("days", {}))


def manifest_text(days: dict[str, str], engine: str) -> str:
    """The manifest's JSON (both engines write it the same way)."""
    return json.dumps({"version": 1, "engine": engine, "days": dict(sorted(days.items()))}, indent=1)


def changed_days(files: dict[str, list[LakeFile]], done: dict[str, str], full: bool = False) -> tuple[list[str], list[str]]:
    """(days to rebuild: new or with other files than when last rolled up; days rolled up before
    whose files are all gone: their rollups are removed)."""
    rebuild = [d for d, fs_ in files.items() if full or done.get(d) != fingerprint(fs_)]
    gone = sorted(d for d in done if d not in files)
    return rebuild, gone


@cache
def rollup_columns(table: str) -> tuple[tuple[str, str], ...]:
    """The columns and DuckDB types of a rollup table, as the store's migrations make it: the
    contract both engines write and the catalog reads."""
    import duckdb

    from brain.store.database import MIGRATIONS, session

    con = duckdb.connect()
    try:
        session(con)
        for _, migration in MIGRATIONS:
            migration(con)
        return tuple((r[0], r[1]) for r in con.execute(f"DESCRIBE {table}").fetchall())
    finally:
        con.close()


@dataclass(frozen=True)
class RollupReport:
    """What one rollup run did: the days rebuilt and removed, how many were already current, the
    events rolled up, the lake files skipped (path and why), rows written, new priced pairs."""

    engine: str
    lake: str
    out: str
    rebuilt: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: int = 0
    events: int = 0
    skipped: tuple[dict, ...] = ()
    hourly_rows: int = 0
    daily_rows: int = 0
    new_price_pairs: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict:
        """A JSON-able view of the report."""
        d = dict(self.__dict__)
        return {**d, "rebuilt": list(self.rebuilt), "removed": list(self.removed), "skipped": list(self.skipped),
                "seconds": round(self.seconds, 2)}
