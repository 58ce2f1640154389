"""`python -m mcp_server --vault X`: the same server as `brain serve`, through the same code path."""

from __future__ import annotations

import argparse
import logging
import sys

from brain.errors import BrainError
from mcp_server.options import add_serve_args, serve_options


def main(argv: list[str] | None = None) -> int:
    """Parse the serve options and run the server as `brain serve` does; errors are one line on stderr."""
    parser = argparse.ArgumentParser(prog="python -m mcp_server", description="Company Brain MCP server.")
    add_serve_args(parser)
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug output to stderr")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, stream=sys.stderr)
    try:
        settings, options = serve_options(args)  # as `brain serve` reads them: nothing is dropped
        from mcp_server.transports import serve

        return serve(settings, **options)
    except BrainError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
