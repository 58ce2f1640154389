"""Usage into the event lake: each batch validated, priced and deduplicated by the ingest pipeline
itself (in a scratch store: the same readers, quarantine rules, dedupe and prices as `brain
ingest`), then its kept events written as one Parquet file per UTC day under `date=YYYY-MM-DD/`.

A batch's files are named by the hash of its content, so writing the same batch again (a retry,
the same file given twice) finds them in place and changes nothing; a new file appears only whole
(a local file is renamed into place, an object store's PUT is atomic). Rows the ingest does not
trust go to `_quarantine/` with their reason and line.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from brain.errors import IngestError
from brain.lake.layout import (
    BATCH_PREFIX,
    LAKE_COLUMNS,
    PARTITION,
    QUARANTINE,
    LakeError,
    exists,
    filesystem,
)
from brain.store.database import KEPT_EVENT_SQL, Store, one_row

log = logging.getLogger(__name__)

_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class LakeWriteReport:
    """What one batch did to the lake: rows kept, duplicates within it, rows quarantined, the day
    files written and those already there (the batch was written before), and each source's line."""

    lake: str
    batch: str | None
    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    replaced: int = 0
    written: tuple[str, ...] = ()
    present: tuple[str, ...] = ()
    files: tuple[dict, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        """A JSON-able view of the report."""
        return {"lake": self.lake, "batch": self.batch, "accepted": self.accepted, "duplicates": self.duplicates,
                "quarantined": self.quarantined, "replaced": self.replaced, "written": list(self.written),
                "already_present": list(self.present), "files": list(self.files)}


def _file_hash(path: Path, h) -> None:
    with open(path, "rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            h.update(chunk)


def _expand(paths: Sequence[str]) -> list[str]:
    """Files as given, folders replaced by their usage files (as `brain ingest` reads them)."""
    from brain.ingest.canonical import usage_files_in

    out: list[str] = []
    for p in paths:
        if p == "-":
            raise IngestError("brain lake write reads files, not stdin: save the JSONL to a file and pass that")
        path = Path(p)
        if path.is_dir():
            found = usage_files_in(path)
            if not found:
                raise IngestError(f"{p} is a folder with no usage files in it")
            out += [str(f) for f in found]
        elif not path.exists():
            raise IngestError(f"no such file: {p}")
        else:
            out.append(str(path))
    return list(dict.fromkeys(out))


class LakeWriter:
    """Writes batches to one lake through a scratch store kept between batches (its price table too).

    `write_files` for files and folders, `ingest_table` for an Arrow table of canonical columns (what
    `brain collect --lake` hands over); `close()` removes the scratch store."""

    def __init__(self, lake: str):
        self.lake = lake
        self.fs, self.root = filesystem(lake)
        if not exists(self.fs, self.root):
            from pyarrow import fs as pafs

            if isinstance(self.fs, pafs.LocalFileSystem) and not Path(self.root).parent.is_dir():
                raise LakeError(f"cannot make the event lake {lake}: its parent folder does not exist")
            self.fs.create_dir(self.root, recursive=True)
        self._tmp = Path(tempfile.mkdtemp(prefix="brain-lake-"))
        self._store: Store | None = None

    def _scratch(self) -> Store:
        """The scratch store, emptied of the previous batch (its price table stays)."""
        if self._store is None:
            self._store = Store(self._tmp / "scratch.duckdb")
        con = self._store.con
        for table in ("events", "quarantine", "ingests", "rollup_hourly", "rollup_daily"):
            con.execute(f"DELETE FROM {table}")
        return self._store

    def write_files(self, paths: Sequence[str], fmt: str | None = None, progress=None) -> LakeWriteReport:
        """Write usage files (and folders of them) as one batch; its id is the hash of their bytes."""
        from brain.ingest.paths import ingest_paths

        files = _expand(paths)
        h = hashlib.sha256(f"lake-batch-1|{fmt or ''}".encode())
        for f in files:
            _file_hash(Path(f), h)
        batch = h.hexdigest()[:24]
        store = self._scratch()
        result = ingest_paths(store, files, fmt, progress=progress)
        return self._publish(store, batch, result)

    def ingest_table(self, table: pa.Table, source: str) -> LakeWriteReport:
        """Write an Arrow table of canonical columns as one batch (id: the hash of its Arrow bytes)."""
        from brain.ingest import ingest_table

        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as w:
            w.write_table(table)
        batch = hashlib.sha256(b"lake-batch-1|" + sink.getvalue().to_pybytes()).hexdigest()[:24]
        store = self._scratch()
        report = ingest_table(store, table, source=source)
        return self._publish(store, batch, {**report.to_dict(), "files": [dict(f.__dict__) for f in report.files]})

    def _publish(self, store: Store, batch: str, result: dict) -> LakeWriteReport:
        """Copy the scratch store's kept events (one file per day) and quarantine into the lake."""
        con = store.con
        out = self._tmp / f"out-{batch}"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        picks = ", ".join(f'"{c}"' for c, _ in LAKE_COLUMNS if c not in ("batch", "written_at"))
        kept = one_row(con.execute(f"SELECT count(*) FROM events e WHERE {KEPT_EVENT_SQL.format(e='e')}"))[0]
        if kept:
            con.execute(
                f"""COPY (SELECT {picks}, $batch AS batch, now() AS written_at,
                        strftime("timestamp", '%Y-%m-%d') AS {PARTITION}
                    FROM events e WHERE {KEPT_EVENT_SQL.format(e='e')})
                TO '{out / "events"}' (FORMAT parquet, PARTITION_BY ({PARTITION}), COMPRESSION zstd)""",
                {"batch": batch},
            )
        quarantined = one_row(con.execute("SELECT count(*) FROM quarantine"))[0]
        if quarantined:
            (out / QUARANTINE).mkdir(parents=True, exist_ok=True)
            con.execute(
                f"""COPY (SELECT source_file, source_line, reason, raw, quarantined_at, $batch AS batch FROM quarantine)
                TO '{out / QUARANTINE / "q.parquet"}' (FORMAT parquet, COMPRESSION zstd)""",
                {"batch": batch},
            )
        written: list[str] = []
        present: list[str] = []
        name = f"{BATCH_PREFIX}{batch}.parquet"
        for local in sorted((out / "events").glob(f"{PARTITION}=*/*.parquet")) if kept else []:
            self._put(local, f"{local.parent.name}/{name}", written, present)
        if quarantined:
            self._put(out / QUARANTINE / "q.parquet", f"{QUARANTINE}/{name}", written, present)
        shutil.rmtree(out, ignore_errors=True)
        report = LakeWriteReport(
            self.lake, batch if kept or quarantined else None,
            **{k: int(result.get(k) or 0) for k in ("accepted", "duplicates", "quarantined", "replaced")},
            written=tuple(written), present=tuple(present), files=tuple(result.get("files") or ()),
        )
        log.info("lake batch %s: %d events, %d day files written, %d already present", batch, report.accepted,
                 len(written), len(present))
        return report

    def _put(self, local: Path, rel: str, written: list[str], present: list[str]) -> None:
        """Put one file at `rel` in the lake unless a file of that name (the same batch) is there."""
        from pyarrow import fs as pafs

        dest = f"{self.root}/{rel}"
        if self.fs.get_file_info(dest).type == pafs.FileType.File:
            present.append(dest)
            return
        parent = dest.rsplit("/", 1)[0]
        self.fs.create_dir(parent, recursive=True)
        if isinstance(self.fs, pafs.LocalFileSystem):  # whole or not at all: a temp name, then a rename
            tmp = f"{parent}/.{local.name}.{batch_tmp_suffix()}"
            shutil.copyfile(local, tmp)
            Path(tmp).replace(dest)
        else:  # an object store's PUT is atomic
            with open(local, "rb") as src, self.fs.open_output_stream(dest) as sink:
                shutil.copyfileobj(src, sink, _HASH_CHUNK)
        written.append(dest)

    def close(self) -> None:
        """Close and remove the scratch store."""
        if self._store is not None:
            self._store.close()
            self._store = None
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> LakeWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def batch_tmp_suffix() -> str:
    """A name part no other writer of the same file uses at the same time."""
    import os
    import uuid

    return f"{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp"


def write_files(lake: str, paths: Sequence[str], fmt: str | None = None, progress=None) -> LakeWriteReport:
    """Write usage files (and folders) to the lake as one batch."""
    with LakeWriter(lake) as w:
        return w.write_files(paths, fmt, progress=progress)
