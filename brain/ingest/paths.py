"""Ingest by path, as `brain ingest` and a running server's hand-off take it: folders expanded to
their usage files, canonical files in one transaction, other formats through their adapters."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from brain.errors import BrainError
from brain.ingest.canonical import USAGE_EXTENSIONS, usage_files_in
from brain.ingest.detect import detect_format, ingest_source
from brain.ingest.formats import CANONICAL_FORMATS
from brain.ingest.pipeline import FileReport, ingest_files
from brain.store.database import Store

log = logging.getLogger(__name__)


def _expand_folders(paths: Sequence[str], failed: list[dict]) -> list[str]:
    """`paths` with each folder replaced by the usage files under it; an empty folder is reported.

    A file named twice (directly and inside a folder given too, or two ways) is read once, at its
    first place."""
    out: list[str] = []
    seen: set[Path] = set()

    def add(f: str) -> None:
        key = Path(f).resolve() if f != "-" else Path("-")
        if key not in seen:
            seen.add(key)
            out.append(f)

    for p in paths:
        if p == "-" or not Path(p).is_dir():
            add(p)
            continue
        found = usage_files_in(Path(p))
        if not found:
            error = f"{p} is a folder with no usage files in it ({', '.join(USAGE_EXTENSIONS)})"
            failed.append(dict(FileReport(str(Path(p).resolve()), "folder", error=error).__dict__))
        log.info("%s: %d usage file(s) in the folder", p, len(found))
        for f in found:
            add(str(f))
    return out


def ingest_paths(store: Store, paths: Sequence[str], fmt: str | None = None, progress=None) -> dict:
    """Ingest files: canonical ones in one transaction, provider exports through their adapters."""
    canonical: list[tuple[str, str | None]] = []
    other: list[tuple[str, str | None]] = []
    files: list[dict] = []
    for f in _expand_folders(paths, files):
        detected = fmt
        if detected is None and f != "-":
            try:
                detected = detect_format(f)
            except BrainError:
                detected = None
        (canonical if detected in (None, *CANONICAL_FORMATS) else other).append((f, detected))
    if canonical:
        forced = fmt if fmt in CANONICAL_FORMATS else None
        report = ingest_files(store, [f for f, _ in canonical], format=forced, progress=progress)
        files += [dict(fr.__dict__) for fr in report.files]
    for f, f_fmt in other:
        f = str(Path(f).resolve())  # the name its rows and quarantine lines keep, as canonical files do
        try:
            rep = ingest_source(store, f, f_fmt or "")
        except BrainError as exc:
            files.append(dict(FileReport(f, f_fmt or "", error=str(exc)).__dict__))
            continue
        d = rep.to_dict() if hasattr(rep, "to_dict") else dict(rep.__dict__)
        files.append({"source": f, "format": f_fmt, **{k: v for k, v in d.items() if isinstance(v, (int, float, str)) or v is None}})
    totals = {k: sum(int(x.get(k) or 0) for x in files) for k in ("accepted", "replaced", "duplicates", "quarantined")}
    return {**totals, "files": files}
