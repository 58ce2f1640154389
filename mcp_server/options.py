"""The serve options, defined once for `brain serve` and `python -m mcp_server`, and what they ask
of `mcp_server.transports.serve`. Light to import (argparse only): the MCP SDK loads when a server
starts, in the caller."""

from __future__ import annotations

import argparse
import os

from brain.errors import VaultError
from brain.settings import Settings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def add_serve_args(p: argparse.ArgumentParser) -> None:
    """The serve options: vault and store, transport, live work, and writes."""
    p.add_argument("--vault", help="vault folder (default: $BRAIN_VAULT or the current folder)")
    p.add_argument("--store", help="usage store file (default: $BRAIN_STORE or <vault>/.brain/usage.duckdb)")
    p.add_argument("--rollups", metavar="ROLLUPS",
                   help="read usage from this rollups folder (`brain rollup --out`) instead of the store (default: $BRAIN_ROLLUPS)")
    p.add_argument("--http", action="store_true", help="serve streamable HTTP at /mcp instead of stdio")
    p.add_argument("--host", default=DEFAULT_HOST, help="HTTP bind address (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"HTTP port (default: {DEFAULT_PORT})")
    p.add_argument("--no-watch", action="store_true", help="do not watch the vault for edits (read it once)")
    p.add_argument("--publish", action="store_true", help="keep the generated cost notes in Brain/ current (brain publish on every change)")
    p.add_argument("--publish-folder", default="Brain", help="folder the brain may write into with --publish (default: Brain)")
    p.add_argument("--otlp", action="store_true", help="also receive OpenTelemetry spans (OTLP/HTTP /v1/traces)")
    p.add_argument("--otlp-port", type=int, default=4318, help="OTLP/HTTP port with --otlp (default: 4318, on --host)")
    p.add_argument(
        "--allow-writes",
        action="store_true",
        help="add the write tools record_change and set_owner (off by default: read-only)",
    )


def serve_options(args: argparse.Namespace) -> tuple[Settings, dict]:
    """The settings and the keyword arguments of `mcp_server.transports.serve` the parsed options
    describe; a vault folder that does not exist is an error here, before the MCP SDK loads."""
    settings = Settings.from_env(args.vault, args.store, getattr(args, "rollups", None))
    if not settings.vault.is_dir():
        raise VaultError(f"vault folder {str(settings.vault)!r} does not exist or is not a folder")
    problem = settings.vault_problem(explicit=bool(args.vault or os.environ.get("BRAIN_VAULT")))
    if problem:
        raise VaultError(problem)
    if settings.rollups is not None:  # the brain reads that folder's rollups (docs/lake.md)
        from brain.lake.catalog import attach_rollups

        attach_rollups(settings)
    return settings, {
        "http": args.http,
        "host": args.host,
        "port": args.port,
        "allow_writes": args.allow_writes,
        "watch": not args.no_watch,
        "publish_folder": args.publish_folder if args.publish else None,
        "otlp": (args.host, args.otlp_port) if args.otlp else None,
    }
