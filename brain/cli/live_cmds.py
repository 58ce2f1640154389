"""The long-running commands: `brain serve` (the MCP server over stdio or streamable HTTP, options
from mcp_server.options) and `brain collect` (the OTLP/HTTP receiver)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from brain.cli.common import add_common, settings_from
from mcp_server.options import add_serve_args, serve_options


def register(sub: argparse._SubParsersAction) -> None:
    """Register serve and collect."""
    p = sub.add_parser(
        "serve",
        help="serve the brain to AI clients over MCP (stdio; --http for streamable HTTP)",
        description="Serve the company graph and its costs over MCP. With --http, requests must carry "
        "'Authorization: Bearer $BRAIN_MCP_TOKEN' when that variable is set.",
    )
    add_serve_args(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "collect",
        help="receive OpenTelemetry GenAI spans over OTLP/HTTP (/v1/traces) and ingest them as usage",
    )
    add_common(p, json_flag=False, store=True)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, loopback only)")
    p.add_argument("--port", type=int, default=4318, help="port to listen on (default: 4318, OTLP/HTTP)")
    p.add_argument("--batch-rows", type=int, default=5000, help="ingest once this many events are queued")
    p.add_argument("--flush-interval", type=float, default=1.0, help="seconds between ingests of a partial batch")
    p.add_argument("--lake", metavar="LAKE",
                   help="write the batches to this event lake (`brain lake write`) instead of the store")
    p.set_defaults(func=cmd_collect)


def cmd_serve(args) -> int:
    """Run the MCP server until the client disconnects or the process is stopped."""
    settings, options = serve_options(args)
    from mcp_server.transports import serve  # the MCP SDK loads only for this command

    return serve(settings, **options)


def cmd_collect(args) -> int:
    """Run the OTLP/HTTP receiver until interrupted (Ctrl-C or SIGTERM), then flush and exit; its
    batches go into the store (running alert passes when its vault asks), or into --lake."""
    from brain.live.server import Collecting

    settings = settings_from(args, vault=False)
    brain = None
    if args.lake is None and settings.vault_problem(explicit=bool(args.vault or os.environ.get("BRAIN_VAULT"))) is None:
        from brain.facade import Brain

        brain = Brain.open(settings)  # the vault's settings note may ask for alert passes (every_minutes)
    run = Collecting(None if args.lake else settings.store_path, host=args.host, port=args.port,
                     batch_rows=args.batch_rows, flush_interval_s=args.flush_interval, lake=args.lake, brain=brain).start()
    done = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: done.set())
    where = f"lake {args.lake}" if args.lake else f"store {run.store_path}"
    print(f"brain collect: listening on {run.endpoint} ({where})", file=sys.stderr, flush=True)
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        s = run.stop()
        signal.signal(signal.SIGTERM, previous)
        if brain is not None:
            brain.close()
    print(
        f"brain collect: stopped; {s['spans_received']} spans received, {s['events_ingested']} events "
        f"{'written to the lake' if args.lake else 'ingested'}, {s['events_duplicate']} duplicates, "
        f"{s['bad_requests']} bad requests",
        file=sys.stderr,
    )
    return 0
