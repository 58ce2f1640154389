"""`brain serve`: the MCP server over stdio (default) or streamable HTTP."""

from __future__ import annotations

import argparse

from brain.cli.common import add_common, settings_from

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def add_serve_args(p: argparse.ArgumentParser) -> None:
    """The serve options, shared by `brain serve` and `python -m mcp_server`."""
    add_common(p, json_flag=False, store=True)
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


def register(sub: argparse._SubParsersAction) -> None:
    """Register serve."""
    p = sub.add_parser(
        "serve",
        help="serve the brain to AI clients over MCP (stdio; --http for streamable HTTP)",
        description="Serve the company graph and its costs over MCP. With --http, requests must carry "
        "'Authorization: Bearer $BRAIN_MCP_TOKEN' when that variable is set.",
    )
    add_serve_args(p)
    p.set_defaults(func=cmd_serve)


def cmd_serve(args) -> int:
    """Run the MCP server until the client disconnects or the process is stopped."""
    from mcp_server.transports import serve  # the MCP SDK loads only for this command

    return serve(
        settings_from(args),
        http=args.http,
        host=args.host,
        port=args.port,
        allow_writes=args.allow_writes,
        watch=not args.no_watch,
        publish_folder=args.publish_folder if args.publish else None,
        otlp=(args.host, args.otlp_port) if args.otlp else None,
    )
