"""Where a write goes: to the running `brain serve` or `brain collect` that holds the store when
there is one (it writes while its clients keep reading), else straight into the store file."""

from __future__ import annotations

from collections.abc import Sequence

from brain.errors import StoreError
from brain.live.control import remote_call, remote_ingest, running_server, stdin_to_file
from brain.settings import Settings


def ingest_anywhere(settings: Settings, paths: Sequence[str], fmt: str | None = None, progress=None,
                    announce=None) -> dict:
    """Ingest files (and '-' for stdin) through the running server, or into the store directly.
    `announce(server_info, n_paths)` is called before a hand-off, so a CLI can say where its files went."""
    from pathlib import Path

    from brain.errors import IngestError
    from brain.ingest.paths import ingest_paths
    from brain.store.shared import open_store

    missing = [p for p in paths if p != "-" and not Path(p).exists()]
    if paths and len(missing) == len(paths):  # nothing to read: say so before any store is made
        raise IngestError(f"no such file: {', '.join(missing)}")
    server = running_server(settings.store_path, slow_is_gone=True)
    if server is None:
        store = open_store(settings.store_path)
        try:
            return ingest_paths(store, paths, fmt, progress=progress)
        finally:
            store.close()
    paths = list(paths)
    tmp = None
    if "-" in paths:
        tmp = stdin_to_file(settings.store_path.parent / "incoming")
        paths = [str(tmp) if p == "-" else p for p in paths]
    try:
        if announce is not None:
            announce(server, len(paths))
        return remote_ingest(server, paths, fmt)
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def ack_anywhere(settings: Settings, anomaly_id: str, note: str = "", planned: bool = False, now=None) -> dict:
    """Acknowledge an anomaly through the running server, or in the store directly (`now` set: always
    directly, since a server scans at its own clock); returns the anomaly as a dict."""
    server = running_server(settings.store_path, slow_is_gone=True)
    if server is not None and now is None:  # the server owns the store: ask it
        return remote_call(server, "/ack", {"id": anomaly_id, "note": note, "planned": planned})
    if not settings.store_path.exists():  # an ack is kept in the store; never make an empty one for it
        raise StoreError(f"usage store {settings.store_path} does not exist; ingest usage first")
    from brain.facade import Brain

    brain = Brain.open(settings)
    try:
        return brain.acknowledge(anomaly_id, note=note, planned=planned, now=now).to_dict()
    finally:
        brain.close()


def alerts_anywhere(settings: Settings, now=None, dry_run: bool = False) -> dict:
    """One alert pass (brain.facade.Brain.alert_pass) by the running server, which owns the store
    and the delivery records, or on the store directly (`now` set: always directly, since a server
    scans at its own clock); returns the pass report as a dict."""
    server = running_server(settings.store_path, slow_is_gone=True)
    if server is not None and now is None and server.get("command", "serve") == "serve":  # a `brain collect` reads no vault: run here
        return remote_call(server, "/alerts", {"dry_run": dry_run})
    if not settings.store_path.exists():  # delivery records are kept in the store; never make an empty one
        raise StoreError(f"usage store {settings.store_path} does not exist; ingest usage first")
    from brain.facade import Brain

    brain = Brain.open(settings, read_only=dry_run)  # a dry run records nothing
    try:
        return brain.alert_pass(now=now, dry_run=dry_run)
    finally:
        brain.close()
